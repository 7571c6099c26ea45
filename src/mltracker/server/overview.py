"""The dashboard's own API routes, under ``/api/v1/overview``: what a page shows, in one call.

The REST API of ``mltracker.server.routes`` mirrors the store's port; a page needs some of it
gathered: the experiments with their model counts, points and last activity; an experiment's
models with the latest point of each series, and its runs; a model's series with their
lengths, its runs, its modules, its iterations with their modules, a page of its points, its
export; what the model page polls (its step, the latest point of each series of each run,
its runs' statuses) in one call; the latest points and steps of several models (what the
compare page polls). Every route only reads, with a constant number of store calls but for
three loops: the models of each experiment, the modules of each iteration, the step of each
model compared.

Runs are those of ``mltracker.server.run_documents``: each with the status shown at the
server's clock, and ``now`` (that clock) beside them, for durations.

Names and hashes travel in the query, never in the path (they may hold ``/``). Metric points
travel in the wire format of ``mltracker.wire`` (columns); module attributes
as strict JSON, NaN and the infinities written as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
(``mltracker.codec.json_safe``). Times are seconds since the epoch.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from typing import IO, Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from mltracker import values, wire
from mltracker.codec import json_safe
from mltracker.entities import Metric, Module
from mltracker.errors import InvalidArgumentError, MLTrackerError, NotFoundError
from mltracker.export import PAGE_SIZE as EXPORT_PAGE
from mltracker.export import PARQUET_INSTALL, Row, export_lines, require_pyarrow, write_rows
from mltracker.ports.metrics import NO_PHASE, NoPhase
from mltracker.ports.store import ExperimentRow, MetricFilter, ModelRow, ModuleOwner, Store
from mltracker.server import counts as counting
from mltracker.server.run_documents import run_document

__all__ = ["router"]

router = APIRouter(prefix="/overview", tags=["dashboard"])
_JSON = "application/json"
#: The most points one page of :func:`points` holds.
MAX_PAGE = 1000
_COUNTS = "Count the points (a read of the index entry of every point)."


def _json(document: Any) -> Response:
    return Response(orjson.dumps(document), media_type=_JSON)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDependency = Annotated[Store, Depends(_store)]


def _last_activity(created_at: float, latest: list[Metric]) -> float:
    return max([created_at, *(point.timestamp for point in latest)])


@router.get("/experiments")
def experiments(
    store: StoreDependency,
    counts: bool = Query(True, description=_COUNTS),
) -> Response:
    """Every experiment with ``models`` (how many), ``points`` (how many; ``null`` when not
    counted or where the store cannot count them) and ``last_activity`` (the latest creation
    of the experiment or a model, or point logged)."""
    rows = store.list_experiments()
    models_of = {row.id: store.list_models(row.id) for row in rows}
    latest = store.latest_metrics_of_models([m.id for found in models_of.values() for m in found])
    points = counting.points_per_experiment(store) if rows and counts else None
    documents = []
    for row in rows:
        activity = row.created_at
        for model in models_of[row.id]:
            activity = max(activity, _last_activity(model.created_at, latest[model.id]))
        documents.append(
            {
                **wire.experiment_document(row),
                "models": len(models_of[row.id]),
                "points": None if points is None else points.get(row.id, 0),
                "last_activity": activity,
            }
        )
    return _json(documents)


def _experiment(store: Store, name: str) -> ExperimentRow:
    row = store.read_experiment(values.check_name(name, "experiment name"))
    if row is None:
        raise NotFoundError(f"no experiment named {name!r}")
    return row


@router.get("/experiment")
def experiment(
    name: str,
    store: StoreDependency,
    counts: bool = Query(True, description=_COUNTS),
) -> Response:
    """An experiment and its models, each with ``points`` (``null`` when not counted) and
    ``last_activity``; ``latest``: the last point of every series of every model, as
    columns (``series`` names each one's model); ``runs``: every run of its models, oldest
    first (a model's latest run is its last)."""
    row = _experiment(store, name)
    models = store.list_models(row.id)
    runs = store.list_experiment_runs(row.id)
    now = time.time()
    latest = store.latest_metrics_of_models([model.id for model in models])
    ids = [model.id for model in models]
    points = counting.points_per_series(store, ids) if counts and models else None
    totals: dict[UUID, int] = {}
    for (model_id, _name, _phase), number in (points or {}).items():
        totals[model_id] = totals.get(model_id, 0) + number
    return _json(
        {
            "experiment": wire.experiment_document(row),
            "models": [
                {
                    **wire.model_document(model),
                    "points": None if points is None else totals.get(model.id, 0),
                    "last_activity": _last_activity(model.created_at, latest[model.id]),
                }
                for model in models
            ],
            "latest": wire.metrics_document(
                point for model in models for point in latest[model.id]
            ),
            "runs": [run_document(run, now) for run in runs],
            "now": now,
        }
    )


@router.get("/model")
def model(experiment: str, hash: str, store: StoreDependency) -> Response:
    """The model of hash ``hash`` of the experiment named ``experiment``, with its series:
    for each, its ``points`` (or ``null``), its NaN points (``nan``: by run, ``""`` for the
    points of no run, only the runs that logged any; ``null`` where the store cannot count
    them) and its last point (``latest``, as columns in the same order); its ``runs``,
    oldest first; ``exports``: the formats :func:`export` writes on this server."""
    row = _experiment(store, experiment)
    found = _model(store, row, hash)
    latest = store.latest_metrics(found.id)
    runs = store.list_runs(found.id)
    now = time.time()
    points = counting.points_per_series(store, [found.id])
    nans = counting.nans_per_series(store, found.id)
    nan_of: dict[tuple[str, str | None], dict[str, int]] = {}
    for (name, phase, run_id), number in (nans or {}).items():
        nan_of.setdefault((name, phase), {})["" if run_id is None else str(run_id)] = number
    return _json(
        {
            "experiment": wire.experiment_document(row),
            "model": {
                **wire.model_document(found),
                "last_activity": _last_activity(found.created_at, latest),
            },
            "series": [
                {
                    "name": point.name,
                    "phase": point.phase,
                    "points": None if points is None else points.get(_key(point), 0),
                    "nan": None if nans is None else nan_of.get((point.name, point.phase), {}),
                }
                for point in latest
            ],
            "latest": wire.metrics_document(latest),
            "runs": [run_document(run, now) for run in runs],
            "now": now,
            "exports": ["csv", "parquet"] if parquet_available() else ["csv"],
        }
    )


@router.get("/models/{model_id}/live")
def live(model_id: UUID, store: StoreDependency) -> Response:
    """What the model page polls, in one call: the model's ``step``; ``latest``, the last
    point of each series of each run (and of the points of no run), as columns (``runs``
    names each series' run); its ``runs`` with their statuses now."""
    step = store.read_step(model_id)
    latest = store.latest_metrics(model_id, by_run=True)
    runs = store.list_runs(model_id)
    now = time.time()
    return _json(
        {
            "step": step,
            "latest": wire.metrics_document(latest),
            "runs": [run_document(run, now) for run in runs],
            "now": now,
        }
    )


def _key(point: Metric) -> tuple[UUID, str, str | None]:
    return (point.model_id, point.name, point.phase)


def _model(store: Store, experiment: ExperimentRow, hash: str) -> ModelRow:
    found = store.read_model(experiment.id, values.check_name(hash, "model hash"))
    if found is None:
        raise NotFoundError(f"no model with hash {hash!r} in experiment {experiment.name!r}")
    return found


def _module(module: Module) -> dict[str, Any]:
    return {
        "id": str(module.id),
        "name": module.name,
        "attributes": json_safe(module.attributes),
        "created_at": module.created_at,
    }


@router.get("/models/{model_id}/modules")
def modules(model_id: UUID, store: StoreDependency) -> Response:
    """A model's modules in logged order, their attributes as strict JSON."""
    return _json([_module(each) for each in store.list_modules(ModuleOwner("model", model_id))])


@router.get("/models/{model_id}/iterations")
def iterations(model_id: UUID, store: StoreDependency) -> Response:
    """A model's iterations in step order, each with its modules (one read per
    iteration)."""
    return _json(
        [
            {
                **wire.iteration_document(row),
                "modules": [
                    _module(each) for each in store.list_modules(ModuleOwner("iteration", row.id))
                ],
            }
            for row in store.list_iterations(model_id)
        ]
    )


def _phase(phase: str | None, no_phase: bool) -> str | NoPhase | None:
    if no_phase:
        if phase is not None:
            raise InvalidArgumentError("give phase or no_phase, not both")
        return NO_PHASE
    return None if phase is None else values.check_name(phase, "metric phase")


@router.get("/models/{model_id}/points")
def points(
    model_id: UUID,
    store: StoreDependency,
    name: str,
    phase: str | None = None,
    no_phase: bool = False,
    after: int | None = Query(
        None,
        description="A cursor: only the points logged after the point of this ordinal (the "
        "``next`` of the previous page).",
    ),
    start_step: int | None = Query(
        None, description="Only the points at this step or later (a jump to a step)."
    ),
    offset: int = Query(
        0,
        ge=0,
        le=values.INT64_MAX - MAX_PAGE - 1,  # the read's limit, offset + limit + 1, is an int64
        description="Skip this many points (read, then left out).",
    ),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
) -> Response:
    """A page of one metric's points in logged order, read with the store's cursor (never
    the whole series): ``points`` (the wire columns of at most ``limit`` points), ``next``
    (the ``after`` of the next page, ``null`` on the last one) and ``total`` (the series'
    points, of every step; ``null`` where the store cannot count them)."""
    series = MetricFilter(values.check_name(name, "metric name"), _phase(phase, no_phase))
    where = MetricFilter(
        series.name,
        series.phase,
        start_step=None if start_step is None else values.check_int(start_step, "start_step"),
        after=None if after is None else values.check_int(after, "after"),
        limit=offset + limit + 1,
    )
    found = store.list_metrics(model_id, where)
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    counts = counting.points_per_series(store, [model_id])
    total = None
    if counts is not None:
        total = sum(
            number
            for (_model, one, phase_of), number in counts.items()
            if one == series.name
            and (phase_of is None if series.phase is NO_PHASE else phase_of == series.phase)
        )
    return _json(
        {
            "total": total,
            "offset": offset,
            "next": page[-1].ordinal if more and page else None,
            "points": wire.metrics_document(page),
        }
    )


#: The most models :func:`latest` answers for (a page compares a few).
MAX_LATEST = 100


@router.get("/latest")
def latest(
    store: StoreDependency,
    model: Annotated[list[UUID], Query()],
    by_run: bool = Query(False, description="The last point of each run's series apart."),
) -> Response:
    """For each model asked for (at most 100): its ``step`` and the last point of each of its
    series (as columns). A model that is not there has neither."""
    if len(model) > MAX_LATEST:
        raise InvalidArgumentError(f"ask for at most {MAX_LATEST} models at once")
    found = store.latest_metrics_of_models(model, by_run=by_run)
    documents: dict[str, Any] = {}
    for model_id in dict.fromkeys(model):
        try:
            step: int | None = store.read_step(model_id)
        except NotFoundError:
            continue
        documents[str(model_id)] = {
            "step": step,
            "latest": wire.metrics_document(found.get(model_id, [])),
        }
    return _json(documents)


ExportFormat = Literal["csv", "parquet"]
#: How many bytes of CSV one chunk of an export's answer holds.
_CHUNK = 1 << 16


def parquet_available() -> bool:
    """Whether this server can write Parquet (pyarrow is installed)."""
    try:
        require_pyarrow()
    except MLTrackerError:
        return False
    return True


def _export_rows(store: Store, experiment: ExperimentRow, model: ModelRow) -> Iterator[Row]:
    """A model's points as export rows, read a page at a time with the store's cursor."""
    after: int | None = None
    while True:
        page = store.list_metrics(model.id, MetricFilter(after=after, limit=EXPORT_PAGE))
        for p in page:
            yield Row(
                experiment.name,
                model.hash,
                model.name,
                p.name,
                p.phase,
                p.step,
                p.value,
                p.timestamp,
                p.run_id,
            )
        if len(page) < EXPORT_PAGE:
            return
        after = page[-1].ordinal


def _chunks(lines: Iterator[str]) -> Iterator[bytes]:
    """Lines gathered into chunks of about :data:`_CHUNK` bytes (one write each)."""
    gathered: list[str] = []
    size = 0
    for line in lines:
        gathered.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield "".join(gathered).encode()
            gathered, size = [], 0
    if gathered:
        yield "".join(gathered).encode()


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    """The bytes of a file from its start, a chunk at a time; the file is closed at the end."""
    with file:
        file.seek(0)
        while chunk := file.read(_CHUNK):
            yield chunk


@router.get(
    "/export",
    responses={
        422: {"description": "Parquet asked of a server without pyarrow (the message says so)"}
    },
)
async def export(
    experiment: str, hash: str, request: Request, format: ExportFormat = "csv"
) -> Response:
    """The points of a model (of hash ``hash`` of the experiment named ``experiment``) as a
    file to download, in the format of ``mltracker export``, read a page at a time and sent
    as it is written (CSV) or once written to a temporary file (Parquet): in constant memory.
    Parquet needs pyarrow on the server (``/overview/model`` says whether it has it)."""
    store: Store = request.app.state.store
    if format == "parquet" and not parquet_available():
        raise InvalidArgumentError(
            "this server cannot write Parquet: pyarrow is not installed on it "
            f"({PARQUET_INSTALL}); export as CSV instead"
        )
    row = await run_in_threadpool(_experiment, store, experiment)
    found = await run_in_threadpool(_model, store, row, hash)
    stem = f"{row.name}-{found.hash}".replace("/", "_").replace('"', "_")
    rows = _export_rows(store, row, found)
    if format == "parquet":
        file = tempfile.TemporaryFile()
        try:
            await run_in_threadpool(write_rows, rows, "parquet", file)
        except BaseException:
            file.close()
            raise
        return StreamingResponse(
            _file_chunks(file),
            media_type="application/vnd.apache.parquet",
            headers=_attachment(f"{stem}.parquet"),
        )
    return StreamingResponse(
        _chunks(export_lines(rows, "csv")),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(f"{stem}.csv"),
    )


def _attachment(filename: str) -> dict[str, str]:
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {
        "content-disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
        )
    }
