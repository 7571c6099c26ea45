"""The ``mltracker`` command: browse, manage, export and check a store, and run the demo.

Each command lives in a module of this package and is registered on :data:`cli` below; a
new command module adds its ``add_command`` line there.
"""

from __future__ import annotations

import click

from mltracker import __version__
from mltracker.cli import db, demo_command, experiments, export, importing, models, parts
from mltracker.cli.context import State
from mltracker.cli.output import JSON_HELP
from mltracker.cli.pipes import CommandGroup
from mltracker.cli.uri import check_postgres_driver

__all__ = ["cli", "main"]


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--uri",
    metavar="URI",
    help="The store: a SQLite path, sqlite:///file.db or postgresql://user@host/db. "
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


# Command registration. A new command module (e.g. importing.py for ``mltracker import``)
# is imported at the top of this file and added here, in one line.
cli.add_command(experiments.experiments)
cli.add_command(models.models)
cli.add_command(parts.modules)
cli.add_command(parts.iterations)
cli.add_command(parts.metrics)
cli.add_command(export.export)
cli.add_command(importing.import_command)
cli.add_command(db.db)
cli.add_command(demo_command.demo)


def main() -> None:
    """The console script (``mltracker``) and ``python -m mltracker``."""
    cli.main(prog_name="mltracker")
