"""``mltracker import``: bring a ``db.json`` of the original mltracker 0.4.0, the runs of an
MLflow tracking store or TensorBoard event files into the store."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mltracker.cli.context import CliError, State, json_option, pass_state
from mltracker.cli.output import display_uri, shows_progress, table

ENTITIES = ("experiments", "models", "runs", "metrics", "modules", "iterations")
SOURCES = ("original", "mlflow", "tensorboard")


@click.command("import")
@click.argument("source")
@click.option(
    "--from",
    "kind",
    type=click.Choice(SOURCES),
    default="original",
    show_default=True,
    help="What SOURCE is: a db.json of the original mltracker, an MLflow tracking store "
    "(a URI such as sqlite:///mlflow.db, postgresql://..., http://host:5000, or an mlruns "
    "folder), or a TensorBoard log folder.",
)
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME",
    help="mlflow: import only this experiment (repeatable; default all). tensorboard: the "
    "experiment to import into (default: the log folder's name).",
)
@click.option(
    "--group-by-param",
    "group_by",
    multiple=True,
    metavar="PARAM",
    help="mlflow, tensorboard: runs with the same values of these params (repeatable) are "
    "runs of one model; default a model per run.",
)
@json_option
@pass_state
def import_command(
    state: State, source: str, kind: str, experiments: tuple[str, ...], group_by: tuple[str, ...]
) -> None:
    """Import SOURCE: a db.json of the original mltracker 0.4.0, an MLflow store or
    TensorBoard logs.

    --from mlflow: every run of the store's experiments (or of --experiment), with its
    name, status, start, end, params, tags (as params tags.KEY) and the full history of
    each metric, steps and timestamps; each run a model of its own unless
    --group-by-param names the params that identify a model. --from tensorboard: each
    folder of the log folder (searched recursively) that holds event files is a run, with
    its scalars (steps and wall times) and its hparams as params. Both stream (constant
    memory) and are idempotent: importing again adds only the new runs and points, and
    an import that stopped (an error, Ctrl-C) is finished by running it again.

    Without --from, SOURCE is a db.json: every experiment, model (with its step), metric
    point (NaN and infinities included), module and iteration arrives with its id, in one
    transaction, and the store is made to match the file for those ids: importing the file
    again after the original logged more adds the new entities, updates a model's step,
    name and description, and keeps the file's order of points. Nothing that is not in the
    file is deleted. Each model's data belongs to one run named "imported" (the original
    had none).

    A document MLTracker cannot keep (an empty experiment name or hash, a step of 0.5, ...)
    is left out and listed, everything else is imported, and the exit code is 1. An
    experiment whose name is taken by another one in the store stops the import, and
    nothing is imported.
    """
    if kind != "original":
        _import_runs(state, source, kind, experiments, group_by)
        return
    if experiments or group_by:
        raise click.UsageError(
            "--experiment and --group-by-param go with --from mlflow or --from tensorboard"
        )
    path = Path(source)
    if path.is_dir():
        raise CliError(
            f"{source} is a folder, not a db.json (--from mlflow or --from tensorboard for those)"
        )
    from mltracker.importers.original import import_original

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


def _import_runs(
    state: State, source: str, kind: str, experiments: tuple[str, ...], group_by: tuple[str, ...]
) -> None:
    """``--from mlflow`` and ``--from tensorboard``: runs, streamed, with a progress line."""
    connection = state.connection(create=True)
    started = time.monotonic()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} runs, {task.fields[points]:,} points"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=state.err_console,
        disable=state.json or not shows_progress(state.err_console),
        transient=True,
    ) as progress:
        task = progress.add_task(f"importing from {kind}", total=None, points=0, rate="")
        points = 0

        def advance(run: str | None, written: int) -> None:
            nonlocal points
            points += written
            elapsed = max(time.monotonic() - started, 1e-9)
            rate = f"{points / elapsed:,.0f} points/s"
            if run is not None:
                progress.update(task, advance=1, description=run[:40], points=points, rate=rate)
            else:
                progress.update(task, points=points, rate=rate)

        if kind == "mlflow":
            from mltracker.importers.mlflow import import_mlflow

            imported = import_mlflow(
                connection,
                source,
                experiments=experiments,
                group_by_params=group_by,
                progress=advance,
            )
            shown = imported.uri
            counts = imported.counts
        else:
            if len(experiments) > 1:
                raise click.UsageError("--from tensorboard imports into one --experiment")
            from mltracker.importers.tensorboard import import_tensorboard

            counts = import_tensorboard(
                connection,
                source,
                experiment=experiments[0] if experiments else None,
                group_by_params=group_by,
                progress=advance,
            ).counts
            shown = source
    found = counts.as_dict()
    seconds = time.monotonic() - started
    document = {
        "source": shown,
        "from": kind,
        "store": display_uri(connection.uri),
        **found,
        "seconds": round(seconds, 3),
    }
    columns = ("experiments", "models", "runs", "runs added", "points", "points there")
    summary = table(*columns, right=columns)
    summary.add_row(
        *(
            str(found[key])
            for key in ("experiments", "models", "runs", "runs_added", "points", "points_skipped")
        )
    )
    state.emit(
        document,
        f"Imported {shown} ({kind}) into {display_uri(connection.uri)} in {seconds:.1f} s",
        summary,
    )
