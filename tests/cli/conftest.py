"""Fixtures of the CLI tests: the CLI bound to a fresh store, and stores with known contents."""

from __future__ import annotations

import pytest
from click.testing import Result

from .helpers import Contents, Run, fill, invoke


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
