"""Fixtures of the CLI tests: the CLI bound to a fresh store, and stores with known contents;
:data:`COMMAND_PATHS`, every command of the ``mltracker`` group."""

from __future__ import annotations

import click
import pytest
from click.testing import Result

from mltracker.cli import cli

from .helpers import Contents, Run, fill, invoke


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The name paths of every command under ``command`` that runs (not a group), sorted:
    ``("db", "check")``, ``("demo",)``, ..."""
    if isinstance(command, click.Group):
        return [
            each
            for name, sub in sorted(command.commands.items())
            for each in command_paths(sub, (*path, name))
        ]
    return [path]


#: Every command of the ``mltracker`` group, walked recursively: what the CLI offers.
COMMAND_PATHS = command_paths(cli)


@pytest.fixture
def run(uri: str) -> Run:
    """The CLI with ``--uri`` set to a fresh store of each backend."""

    def run(*args: str, input: str | None = None) -> Result:
        return invoke("--uri", uri, *args, input=input)

    return run


@pytest.fixture
def run_sqlite(sqlite_uri: str) -> Run:
    """The CLI with ``--uri`` set to a fresh SQLite file."""

    def run(*args: str, input: str | None = None) -> Result:
        return invoke("--uri", sqlite_uri, *args, input=input)

    return run


@pytest.fixture
def filled(uri: str) -> Contents:
    """A store of each backend with the contents of :func:`fill`."""
    return fill(uri)


@pytest.fixture
def filled_sqlite(sqlite_uri: str) -> Contents:
    """A SQLite store with the contents of :func:`fill`."""
    return fill(sqlite_uri)
