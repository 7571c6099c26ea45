"""``mltracker import``: bring a ``db.json`` of the original mltracker 0.4.0 into the store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mltracker.cli.context import CliError, State, json_option, pass_state
from mltracker.cli.output import display_uri, shows_progress, table
from mltracker.importers.original import import_original

ENTITIES = ("experiments", "models", "runs", "metrics", "modules", "iterations")


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_state
def import_command(state: State, path: Path) -> None:
    """Import PATH, a db.json written by the original mltracker 0.4.0.

    Every experiment, model (with its step), metric point (NaN and infinities included),
    module and iteration arrives with its id, in one transaction, and the store is made to
    match the file for those ids: importing the file again after the original logged more
    adds the new entities, updates a model's step, name and description, and keeps the
    file's order of points. Nothing that is not in the file is deleted. Each model's data
    belongs to one run named "imported" (the original had none).

    A document MLTracker cannot keep (an empty experiment name or hash, a step of 0.5, ...)
    is left out and listed, everything else is imported, and the exit code is 1. An
    experiment whose name is taken by another one in the store stops the import, and
    nothing is imported.
    """
    connection = state.connection(create=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} models, {task.fields[points]} points"),
        TimeElapsedColumn(),
        console=state.err_console,
        disable=state.json or not shows_progress(state.err_console),
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading {path.name}", total=None, points=0)
        points = 0

        def read_model(_hash: str, model_points: int) -> None:
            nonlocal points
            points += model_points
            progress.update(task, advance=1, points=points)

        result = import_original(connection, path, read_model)
    report = result.report
    counts = {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.skipped,
    }
    document = {
        "file": str(path),
        "store": display_uri(connection.uri),
        **{
            what: {entity: found.get(entity, 0) for entity in ENTITIES}
            for what, found in counts.items()
        },
        "refused": [
            {"document": refusal.document, "reason": refusal.reason} for refusal in result.refused
        ],
        "orphan_tables": result.orphan_tables,
    }
    summary = table("", *ENTITIES, right=ENTITIES)
    for what, found in counts.items():
        summary.add_row(what, *(str(found.get(entity, 0)) for entity in ENTITIES))
    state.emit(document, f"Imported {path} into {display_uri(connection.uri)}", summary)
    if result.orphan_tables:
        state.note(
            f"{len(result.orphan_tables)} tables belong to no experiment and were left out: "
            + ", ".join(result.orphan_tables)
        )
    if result.refused:
        count = len(result.refused)
        documents = "1 document" if count == 1 else f"{count} documents"
        if not state.json:  # one line each, never wrapped: easy to grep
            click.echo(f"{documents} could not be imported:", err=True)
            for refusal in result.refused:
                click.echo(f"  {refusal}", err=True)
        where = 'listed in "refused"' if state.json else "listed above"
        raise CliError(f"{documents} of {path} not imported ({where}); the rest was")
