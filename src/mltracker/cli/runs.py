"""``mltracker runs``: the runs of an experiment or of one of its models, and one run in full.

``runs list`` shows the start of each run's id (:data:`SHORT_ID`); ``runs show`` takes a
whole id, or a start of one that only one run has. A start is looked up among the runs of
every experiment (a read per experiment), and so is the experiment of a whole id (the store
names a run's model by id only).
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Any
from uuid import UUID

import click

import mltracker
from mltracker import search
from mltracker.cli.context import (
    CliError,
    State,
    find_experiment,
    find_model,
    json_option,
    pass_state,
)
from mltracker.cli.output import (
    format_duration,
    format_json,
    latest_metrics_table,
    table,
    table_time,
)
from mltracker.codec import metric_document, run_document
from mltracker.errors import InvalidArgumentError, NotFoundError
from mltracker.ports.store import ExperimentRow, ModelRow, RunRow

#: How many characters of a run's id ``runs list`` shows.
SHORT_ID = 8

_ID_START = re.compile(r"[0-9a-f][0-9a-f-]*")


@click.group()
def runs() -> None:
    """The runs of the models of an experiment (each training process is one)."""


@runs.command("list")
@click.argument("experiment")
@click.argument("hash", required=False)
@click.option(
    "--where",
    metavar="CONDITION",
    help="Only the runs this search selects, e.g. "
    '"params.lr < 0.01 AND metrics.loss@validation.min < 0.3" (README: Sweeps).',
)
@click.option(
    "--order-by",
    metavar="FIELDS",
    help='Order by these fields, each ASC (the default) or DESC, e.g. "metrics.loss.min".',
)
@click.option("--limit", type=click.IntRange(min=0), help="Show at most this many runs.")
@json_option
@pass_state
def list_runs(
    state: State,
    experiment: str,
    hash: str | None,
    where: str | None,
    order_by: str | None,
    limit: int | None,
) -> None:
    """List the runs of EXPERIMENT, or of its model HASH, oldest first; with --where,
    --order-by or --limit, those a search selects, in its order.

    A row per run: the start of its id (enough for `runs show`), its model's hash (without
    HASH), name, status, start (UTC), duration, host and parameters. A run that stopped
    beating without ending reads as crashed.
    """
    connection = state.connection()
    found = find_experiment(connection, experiment)
    store = connection.store
    searching = where is not None or order_by is not None or limit is not None
    if hash is None:
        hashes = {model.id: model.hash for model in store.list_models(found.id)}
    else:
        model = find_model(found, hash)
        hashes = {model.id: model.hash}
    if searching:
        search.parse_where(where)  # a bad condition is refused as written, with its position
        if hash is not None:
            of_model = "model.hash = '" + hash.replace("'", "''") + "'"
            where = of_model if where is None or not where.strip() else f"{of_model} AND ({where})"
        rows = store.search_runs(found.id, where, order_by, limit)
    elif hash is None:
        rows = store.list_experiment_runs(found.id)
    else:
        rows = store.list_runs(model.id)
    now = time.time()
    documents = [_document(row, hashes.get(row.model_id), now) for row in rows]
    titles = ["run", *(["model"] if hash is None else []), "name", "status"]
    output = table(*titles, "started (UTC)", "duration", "host", "params", right=["duration"])
    for row, document in zip(rows, documents, strict=True):
        output.add_row(
            str(document["id"])[:SHORT_ID],
            *([document["model_hash"] or ""] if hash is None else []),
            document["name"] or "",
            document["status"],
            table_time(row.started_at),
            format_duration(document["duration"]),
            document["host"] or "",
            format_params(document["params"]),
        )
    state.emit(documents, output)


@runs.command("show")
@click.argument("run_id")
@json_option
@pass_state
def show_run(state: State, run_id: str) -> None:
    """Show the run RUN_ID: its model, name, status, times, host, process, command, git,
    environment, parameters, how it ended, and the latest value of each of its series.

    RUN_ID is a run's id, or its start (as `runs list` shows it) when only one run's id
    starts so.
    """
    connection = state.connection()
    experiment, model, row = find_run(connection, run_id)
    latest = connection.store.latest_metrics(row.model_id, run_id=row.id)
    run = _document(row, model.hash, time.time())
    document = {
        "id": run["id"],
        "experiment": experiment.name,
        **run,
        "latest": [metric_document(metric) for metric in latest],
    }
    git = document["git"]
    command = document["command"]
    model_label = model.hash + (f" ({model.name})" if model.name else "")
    about = "\n".join(
        f"{label:<12} {value}".rstrip()
        for label, value in (
            ("id", str(row.id)),
            ("experiment", experiment.name),
            ("model", model_label),
            ("name", row.name or ""),
            ("status", document["status"]),
            ("started", _time(row.started_at)),
            ("ended", _time(row.ended_at)),
            ("heartbeat", _time(row.heartbeat_at)),
            ("duration", format_duration(document["duration"])),
            ("host", document["host"] or ""),
            ("pid", "" if document["pid"] is None else str(document["pid"])),
            ("command", shlex.join(command) if isinstance(command, list) else ""),
            ("git", format_git(git)),
            ("environment", format_params(document["environment"], separator=", ")),
            ("exit", row.exit or ""),
        )
    )
    param_table = table("param", "value")
    for key, value in document["params"].items():
        param_table.add_row(key, _param_value(value))
    metric_table = latest_metrics_table(latest)
    state.emit(document, about, "params", param_table, "latest metrics", metric_table)


def find_run(
    connection: mltracker.Connection, run_id: str
) -> tuple[ExperimentRow, ModelRow, RunRow]:
    """The run whose id is ``run_id``, or starts with it if only one does, with its
    experiment and model.

    Raises:
        InvalidArgumentError: ``run_id`` is not the start of a UUID.
        NotFoundError: No run matches.
        CliError: The start matches several runs.
    """
    store = connection.store
    text = run_id.strip().lower()
    try:
        whole: UUID | None = UUID(text)
    except ValueError:
        whole = None
    if whole is not None:
        row = store.read_run(whole)
        if row is None:
            raise NotFoundError(f"no run {whole}")
        for experiment in store.list_experiments():
            for model in store.list_models(experiment.id):
                if model.id == row.model_id:
                    return experiment, model, row
        raise NotFoundError(f"no run {whole}")  # its model was deleted meanwhile
    if not _ID_START.fullmatch(text):
        raise InvalidArgumentError(
            f"{run_id!r} is not a run id: give a UUID, or its start as `runs list` shows it"
        )
    start = text.replace("-", "")
    matches = [
        (experiment, row)
        for experiment in store.list_experiments()
        for row in store.list_experiment_runs(experiment.id)
        if row.id.hex.startswith(start)
    ]
    if len(matches) > 1:
        raise CliError(f"{run_id!r} is the start of {len(matches)} run ids: give more of it")
    if matches:
        experiment, row = matches[0]
        for model in store.list_models(experiment.id):
            if model.id == row.model_id:
                return experiment, model, row
    raise NotFoundError(f"no run id starts with {run_id!r}")


def _document(row: RunRow, model_hash: str | None, now: float) -> dict[str, Any]:
    """A run's document, its model's hash after its model's id."""
    document = run_document(row, now)
    return {
        "id": document.pop("id"),
        "model_id": document.pop("model_id"),
        "model_hash": model_hash,
        **document,
    }


def format_params(params: dict[str, Any], separator: str = " ") -> str:
    """Parameters (or versions) as ``key=value`` pairs: strings as they are, other values as
    JSON."""
    return separator.join(f"{key}={_param_value(value)}" for key, value in params.items())


def _param_value(value: Any) -> str:
    return value if isinstance(value, str) else format_json(value)


def format_git(git: Any) -> str:
    """``commit (branch, dirty)`` of a run's git context, or nothing outside a work tree."""
    if not isinstance(git, dict):
        return ""
    notes = [str(git["branch"])] if git.get("branch") else []
    if git.get("dirty"):
        notes.append("dirty")
    commit = str(git.get("commit") or "")
    return f"{commit} ({', '.join(notes)})" if notes else commit


def _time(timestamp: float | None) -> str:
    return "" if timestamp is None else f"{table_time(timestamp)} UTC"
