"""The ``mltracker`` command: browse, manage, export and check a store, and run the demo.

Each command lives in a module of this package and is listed in :data:`COMMANDS` below; a
new command module adds its line there. A command's module (and what it needs: SQLAlchemy,
rich tables, the importers) is imported only when that command runs, so ``mltracker --help``
and ``mltracker --version`` answer at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import NamedTuple

import click

from mltracker import __version__
from mltracker.cli.context import State
from mltracker.cli.output import JSON_HELP
from mltracker.cli.pipes import CommandGroup
from mltracker.cli.uri import check_postgres_driver

__all__ = ["COMMANDS", "cli", "main"]


class Where(NamedTuple):
    """Where a command is defined, and the first paragraph of its help (for the command list
    of ``mltracker --help``, which must not import the command)."""

    module: str
    attribute: str
    summary: str


#: Command registration: name, module and object, and the help's first paragraph.
#: (``tests/cli/test_startup.py`` checks each summary against the command's own help.)
COMMANDS: dict[str, Where] = {
    "experiments": Where(
        "mltracker.cli.experiments", "experiments", "List, show, rename and delete experiments."
    ),
    "models": Where(
        "mltracker.cli.models",
        "models",
        "List, show, rename and delete the models of an experiment.",
    ),
    "modules": Where(
        "mltracker.cli.parts", "modules", "The modules of a model (or of one of its iterations)."
    ),
    "iterations": Where(
        "mltracker.cli.parts",
        "iterations",
        "The iterations of a model (e.g. epochs) and their modules.",
    ),
    "metrics": Where("mltracker.cli.parts", "metrics", "The metric points of a model."),
    "runs": Where(
        "mltracker.cli.runs",
        "runs",
        "The runs of the models of an experiment (each training process is one).",
    ),
    "export": Where(
        "mltracker.cli.export", "export", "Export metric points as CSV, JSON Lines or Parquet."
    ),
    "import": Where(
        "mltracker.cli.importing",
        "import_command",
        "Import SOURCE: a db.json of the original mltracker 0.4.0, an MLflow store or "
        "TensorBoard logs.",
    ),
    "db": Where(
        "mltracker.cli.db", "db", "Upgrade, vacuum or check the store (SQLite or PostgreSQL)."
    ),
    "server": Where(
        "mltracker.cli.serving",
        "server_command",
        "Serve the store over HTTP: the REST API that training jobs log to.",
    ),
    "ui": Where(
        "mltracker.cli.ui",
        "ui_command",
        "Serve the dashboard of the store (read-only) and print its URL.",
    ),
    "token": Where(
        "mltracker.cli.token",
        "token",
        "Make tokens for a tracking server (mltracker server --token / --tokens).",
    ),
    "sync": Where(
        "mltracker.cli.serving",
        "sync_command",
        "Write the metric points and other writes that ended processes left in spool files.",
    ),
    "demo": Where(
        "mltracker.cli.demo_command",
        "demo",
        'Train three small models into the experiment "spirals".',
    ),
}


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands, each imported from its module on first use."""

    def __init__(self, where: dict[str, Where]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def summary(self, name: str) -> str | None:
        """The first paragraph of the help of a command not imported yet, else ``None``."""
        where = self._where.get(name)
        return None if where is None or name in self._loaded else where.summary

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            where = self._where[name]  # KeyError for an unknown name, as a dict
            command = getattr(importlib.import_module(where.module), where.attribute)
            assert isinstance(command, click.Command), where
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._where.pop(name, None)
        self._loaded.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._where), **dict.fromkeys(self._loaded)})

    def __len__(self) -> int:
        return len(self._where.keys() | self._loaded.keys())


class LazyGroup(CommandGroup):
    """The root group, whose command list in ``--help`` imports no command."""

    commands: LazyCommands

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = self.commands.summary(name)
            if summary is not None:
                # shortened exactly as the command itself would shorten its help
                rows.append((name, click.Command(name, help=summary).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    commands=LazyCommands(COMMANDS),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--uri",
    metavar="URI",
    help="The store: a SQLite path, sqlite:///file.db, postgresql://user@host/db, or a "
    "tracking server's http(s)://host:port (token: $MLTRACKER_TOKEN). "
    "Default: $MLTRACKER_URI, else ./mltracker.db.",
)
@click.option("--json", "json_output", is_flag=True, help=JSON_HELP)
@click.version_option(__version__, "--version", prog_name="mltracker")
@click.pass_context
def cli(ctx: click.Context, uri: str | None, json_output: bool) -> None:
    """Browse and manage MLTracker experiments, models and metrics.

    Exit codes: 0 ok (also when the reader of the output, e.g. head, closes it early),
    1 error (one line on stderr), 2 wrong usage.
    """
    ctx.obj = State(uri, json_output)
    check_postgres_driver(uri)


def main() -> None:
    """The console script (``mltracker``) and ``python -m mltracker``."""
    cli.main(prog_name="mltracker")
