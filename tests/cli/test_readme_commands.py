"""README.md's command table and the ``mltracker`` group list the same commands.

The table of "The `mltracker` command" has a row per command, starting with its name path
(``| `experiments show NAME ...` |``): every command of the group, walked recursively, has
its row, and every row names a command that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from mltracker.cli import cli

from .conftest import COMMAND_PATHS

README = Path(__file__).resolve().parents[2] / "README.md"


def command_table_rows(text: str) -> list[str]:
    """The first cell of each row of the command table (backticks removed)."""
    section = text.split("## The `mltracker` command", 1)[1].split("\n## ", 1)[0]
    table = section.split("| command | prints |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def command_named(row: str) -> tuple[str, ...] | None:
    """The path of the command a row starts with, or None where its words name none."""
    command: click.Command = cli
    path: list[str] = []
    for word in row.split():
        if not isinstance(command, click.Group):
            break
        sub = command.commands.get(word)
        if sub is None:
            return None
        command = sub
        path.append(word)
    return None if isinstance(command, click.Group) else tuple(path)


ROWS = command_table_rows(README.read_text(encoding="utf-8"))


def test_the_table_is_found() -> None:
    assert len(ROWS) >= len(COMMAND_PATHS) > 1


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_has_a_row(path: tuple[str, ...]) -> None:
    assert path in {command_named(row) for row in ROWS}, (
        f"README.md's command table has no row `{' '.join(path)} ...`"
    )


@pytest.mark.parametrize("row", ROWS)
def test_every_row_names_a_command(row: str) -> None:
    assert command_named(row) is not None, f"no command `{row}` in the mltracker group"


def test_a_row_that_names_no_command_is_found() -> None:
    assert command_named("board [--port N]") is None
    assert command_named("experiments") is None
    assert command_named("experiments show NAME") == ("experiments", "show")
