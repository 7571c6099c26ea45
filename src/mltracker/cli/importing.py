"""``mltracker import``: bring a ``db.json`` of the original mltracker 0.4.0 into the store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mltracker.cli.context import State, json_option, pass_state
from mltracker.cli.output import display_uri, table
from mltracker.importers.original import import_original

ENTITIES = ("experiments", "models", "metrics", "modules", "iterations")


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_state
def import_command(state: State, path: Path) -> None:
    """Import PATH, a db.json written by the original mltracker 0.4.0.

    Every experiment, model (with its step), metric point (NaN and infinities included),
    module and iteration arrives with its id, in one transaction. Importing the same file
    again adds nothing: what is there already (same id) is skipped. An experiment whose
    name is taken by another one in the store stops the import, and nothing is added.
    """
    connection = state.connection(create=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} models, {task.fields[points]} points"),
        TimeElapsedColumn(),
        console=state.err_console,
        disable=state.json,
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading {path.name}", total=None, points=0)
        points = 0

        def read_model(_hash: str, model_points: int) -> None:
            nonlocal points
            points += model_points
            progress.update(task, advance=1, points=points)

        result = import_original(connection, path, read_model)
    added, skipped = result.report.added, result.report.skipped
    document = {
        "file": str(path),
        "store": display_uri(connection.uri),
        "added": {entity: added.get(entity, 0) for entity in ENTITIES},
        "skipped": {entity: skipped.get(entity, 0) for entity in ENTITIES},
        "orphan_tables": result.orphan_tables,
    }
    summary = table("", *ENTITIES, right=ENTITIES)
    summary.add_row("added", *(str(added.get(entity, 0)) for entity in ENTITIES))
    summary.add_row("already there", *(str(skipped.get(entity, 0)) for entity in ENTITIES))
    state.emit(document, f"Imported {path} into {display_uri(connection.uri)}", summary)
    if result.orphan_tables:
        state.note(
            f"{len(result.orphan_tables)} tables belong to no experiment and were left out: "
            + ", ".join(result.orphan_tables)
        )
