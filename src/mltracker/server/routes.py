"""The routes of ``/api/v1``: one per method of the store's port, in the wire format.

Experiments by id and by name, models by id and by hash, a model's step, metrics (batch
writes keyed by batch id, reads by name, phase, step range, cursor and limit, or thinned to a
point budget by the store, latest values of many models), modules of a model or of an
iteration, iterations. A module, an iteration and a step increment may carry an id made by
the client, which makes the request safe to repeat (see ``mltracker.wire``). Small bodies
are pydantic models (so the OpenAPI description shows them); the batch write is parsed with
orjson in one pass, not as an object per point.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from mltracker import values, wire
from mltracker.collector import collector_paused
from mltracker.errors import (
    InvalidArgumentError,
    MLTrackerError,
    NotFoundError,
    ReadOnlyStoreError,
)
from mltracker.ports.metrics import NO_PHASE, NoPhase
from mltracker.ports.store import MIN_BUDGET, MetricFilter, ModelField, ModuleOwner, Store
from mltracker.server.bodies import loads_object, read_body
from mltracker.server.monitoring import Monitor
from mltracker.server.turns import Turns
from mltracker.tokens import WRITER_KEY
from mltracker.wire import SeriesCache

__all__ = ["SeriesCache", "router"]

router = APIRouter()
_JSON = "application/json"


def json_response(document: Any, status: int = 200) -> Response:
    """``document`` as a JSON response."""
    return Response(orjson.dumps(document), status_code=status, media_type=_JSON)


_json = json_response


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _writable(request: Request) -> None:
    if request.app.state.read_only:
        raise ReadOnlyStoreError("this server is read-only (started with --read-only)")


StoreDependency = Annotated[Store, Depends(_store)]
writes = [Depends(_writable)]


# Bodies


class ExperimentBody(BaseModel):
    name: str
    get_or_create: bool = Field(False, description="Return the experiment if it exists.")
    id: UUID | None = Field(
        None,
        description="The experiment's id, made by the client, to create it with. An "
        "experiment found by its name (get_or_create) keeps its own id. Without it the "
        "server makes one.",
    )


class RenameBody(BaseModel):
    name: str


class ModelBody(BaseModel):
    hash: str
    name: str | None = None
    description: str | None = None
    get_or_create: bool = Field(False, description="Return the model if it exists.")
    id: UUID | None = Field(
        None,
        description="The model's id, made by the client, to create it with. A model found "
        "by its hash (get_or_create) keeps its own id. Without it the server makes one.",
    )


class ModelUpdateBody(BaseModel):
    name: str | None = None
    description: str | None = None
    clear: list[Literal["name", "description"]] = Field(
        default_factory=list, description="Fields set to null."
    )


# Integers are strict, as the library's: "1" and true are not steps.


class StepBody(BaseModel):
    step: StrictInt
    op_id: UUID | None = Field(
        None,
        description="The write's id, made by the client: a repeat of an id applied already "
        "changes nothing (a replay never undoes later increments).",
    )


class StepDeltaBody(BaseModel):
    delta: StrictInt
    op_id: UUID | None = Field(
        None,
        description="The increment's id, made by the client: a repeat of an id applied "
        "already adds nothing and answers the step the first one made.",
    )


class ModuleBody(BaseModel):
    name: str
    attributes_json: str = Field("{}", description="The attributes as a JSON object's text.")
    id: UUID | None = Field(
        None,
        description="The module's id, made by the client: a repeat of a module stored "
        "already stores nothing and answers it as stored. Without it the server makes one.",
    )


class IterationBody(BaseModel):
    step: StrictInt
    run_id: UUID | None = Field(None, description="The run it belongs to, if any.")
    id: UUID | None = Field(
        None,
        description="The iteration's id, made by the client: a repeat of an iteration stored "
        "already stores nothing and answers it as stored. Without it the server makes one.",
    )


class ModelIds(BaseModel):
    model_ids: list[UUID]
    by_run: bool = Field(False, description="The latest point of each run's series apart.")


# Health


@router.get("/health", tags=["server"])
def health(store: StoreDependency) -> Response:
    """Whether the server answers and can read its store (no token needed), and which store
    it is: ``{"status": "ok", "store_id": ..., "schema_version": ..., "server_version":
    ...}``. The store id tells a client that the server at this URL still serves the store
    its spooled points belong to. A store that cannot be read answers 503 with the error."""
    from mltracker import __version__

    try:
        store_id, version = store.identity()
    except MLTrackerError as error:
        document = {"code": error.code, "message": str(error)}
        return _json({"status": "unavailable", "error": document}, 503)
    return _json(
        {
            "status": "ok",
            "store_id": store_id,
            "schema_version": version,
            "server_version": __version__,
        }
    )


# Experiments


@router.get("/experiments", tags=["experiments"])
def list_experiments(store: StoreDependency) -> Response:
    return _json([wire.experiment_document(row) for row in store.list_experiments()])


@router.post("/experiments", tags=["experiments"], status_code=201, dependencies=writes)
def create_experiment(body: ExperimentBody, store: StoreDependency) -> Response:
    name = values.check_name(body.name, "experiment name")
    if body.get_or_create:
        return _json(wire.experiment_document(store.get_or_create_experiment(name, id=body.id)))
    return _json(wire.experiment_document(store.create_experiment(name, id=body.id)), 201)


# Names and hashes travel in the query: a path cannot carry every character a name may hold.


@router.get("/experiments/by-name", tags=["experiments"])
def read_experiment(name: str, store: StoreDependency) -> Response:
    row = store.read_experiment(values.check_name(name, "experiment name"))
    if row is None:
        raise NotFoundError(f"no experiment named {name!r}")
    return _json(wire.experiment_document(row))


@router.patch("/experiments/{experiment_id}", tags=["experiments"], dependencies=writes)
def rename_experiment(experiment_id: UUID, body: RenameBody, store: StoreDependency) -> Response:
    store.update_experiment(experiment_id, values.check_name(body.name, "experiment name"))
    return Response(status_code=204)


@router.delete("/experiments/{experiment_id}", tags=["experiments"], dependencies=writes)
def delete_experiment(experiment_id: UUID, store: StoreDependency) -> Response:
    store.delete_experiment(experiment_id)
    return Response(status_code=204)


# Models


@router.get("/experiments/{experiment_id}/models", tags=["models"])
def list_models(experiment_id: UUID, store: StoreDependency) -> Response:
    return _json([wire.model_document(row) for row in store.list_models(experiment_id)])


@router.post(
    "/experiments/{experiment_id}/models", tags=["models"], status_code=201, dependencies=writes
)
def create_model(experiment_id: UUID, body: ModelBody, store: StoreDependency) -> Response:
    hash = values.check_name(body.hash, "model hash")
    name = values.check_optional_name(body.name, "model name")
    description = values.check_text(body.description, "model description")
    if body.get_or_create:
        row = store.get_or_create_model(experiment_id, hash, name, description, id=body.id)
        return _json(wire.model_document(row))
    row = store.create_model(experiment_id, hash, name, description, id=body.id)
    return _json(wire.model_document(row), 201)


@router.delete("/experiments/{experiment_id}/models", tags=["models"], dependencies=writes)
def clear_models(experiment_id: UUID, store: StoreDependency) -> Response:
    store.clear_models(experiment_id)
    return Response(status_code=204)


@router.get("/experiments/{experiment_id}/models/by-hash", tags=["models"])
def read_model(experiment_id: UUID, hash: str, store: StoreDependency) -> Response:
    row = store.read_model(experiment_id, values.check_name(hash, "model hash"))
    if row is None:
        raise NotFoundError(f"no model with hash {hash!r} in this experiment")
    return _json(wire.model_document(row))


@router.patch("/experiments/{experiment_id}/models/by-hash", tags=["models"], dependencies=writes)
def update_model(
    experiment_id: UUID, hash: str, body: ModelUpdateBody, store: StoreDependency
) -> Response:
    clear: frozenset[ModelField] = frozenset(body.clear)
    store.update_model(
        experiment_id,
        values.check_name(hash, "model hash"),
        values.check_optional_name(body.name, "model name"),
        values.check_text(body.description, "model description"),
        clear,
    )
    return Response(status_code=204)


@router.delete(
    "/experiments/{experiment_id}/models/{model_id}", tags=["models"], dependencies=writes
)
def delete_model(experiment_id: UUID, model_id: UUID, store: StoreDependency) -> Response:
    store.delete_model(experiment_id, model_id)
    return Response(status_code=204)


@router.get("/models/{model_id}/step", tags=["models"])
def read_step(model_id: UUID, store: StoreDependency) -> Response:
    return _json({"step": store.read_step(model_id)})


@router.put("/models/{model_id}/step", tags=["models"], dependencies=writes)
def write_step(model_id: UUID, body: StepBody, store: StoreDependency) -> Response:
    step = values.check_int(body.step, "model step")
    store.write_step(model_id, step, op_id=body.op_id)
    return _json({"step": step})


@router.post("/models/{model_id}/step/add", tags=["models"], dependencies=writes)
def add_step(model_id: UUID, body: StepDeltaBody, store: StoreDependency) -> Response:
    delta = values.check_int(body.delta, "model step increment")
    return _json({"step": store.add_step(model_id, delta, op_id=body.op_id)})


# Metrics


@router.post(
    "/points",
    tags=["metrics"],
    dependencies=writes,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["series", "s", "step", "value", "timestamp"],
                        "properties": {
                            "batch_id": {"type": ["string", "null"], "format": "uuid"},
                            "series": {"type": "array", "items": {"type": "array"}},
                            "s": {"type": "array", "items": {"type": "integer"}},
                            "step": {"type": "array", "items": {"type": ["integer", "null"]}},
                            "value": {"type": "array"},
                            "timestamp": {"type": "array", "items": {"type": "number"}},
                            "exact": {"type": "object"},
                            "part_of": {
                                "type": "array",
                                "items": {"type": "string", "format": "uuid"},
                                "description": "The batches this one was split from.",
                            },
                        },
                    }
                }
            },
        }
    },
)
async def write_points(request: Request) -> Response:
    """Store a batch of points in one transaction (see ``mltracker.wire``). A batch whose
    ``batch_id`` was stored already is skipped: retrying never duplicates (so is a batch
    split from one that was: ``part_of`` names those). The name of the
    request's token is kept with the batch (see ``GET /batches``)."""
    body = await read_body(request)
    store: Store = request.app.state.store
    cache: SeriesCache = request.app.state.series
    writer = request.scope.get(WRITER_KEY)
    monitor: Monitor = request.app.state.monitor
    count = await run_in_threadpool(_write_points, store, cache, body, writer, monitor)
    return _json({"written": count})


@router.get("/batches", tags=["metrics"])
def list_batches(
    store: StoreDependency,
    writer: str | None = Query(None, description="Only the batches of this token's name."),
    limit: int = Query(100, ge=1, le=10_000, description="At most this many, newest first."),
) -> Response:
    """The metric batches written lately (kept a week, for idempotent writes), newest first:
    ``[{"id", "written_at", "writer"}]``, ``writer`` being the name of the token that wrote
    the batch (``null`` without one)."""
    rows = store.list_batches(writer=writer, limit=limit)
    return _json([wire.batch_document(row) for row in rows])


#: Batches are written one at a time by a server process, in the order they came (see
#: ``mltracker.server.turns``). One that waited ``_TURN_SECONDS`` (SQLite's busy timeout) is
#: written without its turn: the store arbitrates then, as it would without turns.
_batch_turns = Turns()
_TURN_SECONDS = 10.0


def _write_points(
    store: Store, cache: SeriesCache, body: bytearray, writer: str | None, monitor: Monitor
) -> int:
    """Parse and write a batch; ``body`` is emptied once parsed, and the parsed document
    let go once it is points, so that at most two of the three are held at once. The batch
    is counted by ``monitor``."""
    # A tuple per point, freed when the batch is written: no work for the cyclic collector.
    with collector_paused:
        try:
            document = loads_object(body, wire.POINTS_KEYS)
        except orjson.JSONDecodeError as error:
            raise InvalidArgumentError(f"the body is not JSON: {error}") from None
        finally:
            body.clear()
        points, batch_id = wire.points_from_document(document, cache)
        part_of = wire.part_of_from_document(document)
        del document
        again = monitor.was_written(batch_id)
        waiting = time.perf_counter()
        with _batch_turns.turn(_TURN_SECONDS):
            monitor.turn_wait.observe(time.perf_counter() - waiting)
            store.write_points(points, batch_id, writer=writer, part_of=part_of)
        monitor.batch_written(batch_id, len(points), again=again)
        return len(points)


def _filter(
    name: str | None,
    phase: str | None,
    no_phase: bool,
    start_step: int | None,
    stop_step: int | None,
    after: int | None = None,
    limit: int | None = None,
    run: UUID | None = None,
    superseded: bool = False,
) -> MetricFilter:
    chosen: str | NoPhase | None = NO_PHASE if no_phase else None
    if phase is not None:
        if no_phase:
            raise InvalidArgumentError("give phase or no_phase, not both")
        chosen = values.check_name(phase, "metric phase")
    return MetricFilter(
        None if name is None else values.check_name(name, "metric name"),
        chosen,
        None if start_step is None else values.check_int(start_step, "start_step"),
        None if stop_step is None else values.check_int(stop_step, "stop_step"),
        None if after is None else values.check_int(after, "after"),
        limit,
        run,
        superseded,
    )


@router.get("/models/{model_id}/metrics", tags=["metrics"])
def list_metrics(
    model_id: UUID,
    store: StoreDependency,
    name: str | None = None,
    phase: str | None = None,
    no_phase: bool = Query(False, description="Only the points logged without a phase."),
    start_step: int | None = None,
    stop_step: int | None = None,
    after: int | None = Query(
        None,
        description="Only the points logged after the point of this ordinal (a cursor: "
        "the last ordinal of the previous page, or of the last read).",
    ),
    limit: int | None = Query(
        None,
        ge=0,
        le=values.INT64_MAX,
        description="At most this many points, the first in logged order.",
    ),
    budget: int | None = Query(
        None,
        ge=MIN_BUDGET,
        le=values.INT64_MAX,
        description="At most this many points per series, chosen by the database: buckets "
        "over the step range keeping each one's first, last, lowest and highest point (and "
        "first NaN). Series within the budget come back whole. Not with limit.",
    ),
    run: Annotated[UUID | None, Query(description="Only the points of this run.")] = None,
    superseded: bool = Query(
        False,
        description="Also the points that rewinds of resumed runs superseded, each listed in "
        '"superseded". Not with budget.',
    ),
) -> Response:
    """A model's points in logged order, as columns (see ``mltracker.wire``)."""
    where = _filter(name, phase, no_phase, start_step, stop_step, after, limit, run, superseded)
    if budget is not None and limit is not None:
        raise InvalidArgumentError("give budget or limit, not both")
    if budget is not None and superseded:
        raise InvalidArgumentError("give budget or superseded, not both")
    with collector_paused:  # a Metric per point, freed once the answer is encoded
        if budget is None:
            return _json(wire.metrics_document(store.list_metrics(model_id, where)))
        return _json(wire.metrics_document(store.metric_buckets(model_id, where, budget)))


@router.get("/models/{model_id}/metrics/latest", tags=["metrics"])
def latest_metrics(
    model_id: UUID,
    store: StoreDependency,
    run: Annotated[UUID | None, Query(description="The latest of this run's series.")] = None,
    by_run: Annotated[
        bool, Query(description="The latest point of each run's series apart.")
    ] = False,
) -> Response:
    latest = store.latest_metrics(model_id, run_id=run, by_run=by_run)
    return _json(wire.metrics_document(latest))


@router.post("/metrics/latest", tags=["metrics"])
def latest_metrics_of_models(body: ModelIds, store: StoreDependency) -> Response:
    """The latest point of each series of many models: ``{model_id: columns}``."""
    latest = store.latest_metrics_of_models(body.model_ids, by_run=body.by_run)
    return _json({str(key): wire.metrics_document(found) for key, found in latest.items()})


@router.delete("/models/{model_id}/metrics/{metric_id}", tags=["metrics"], dependencies=writes)
def remove_metric(model_id: UUID, metric_id: UUID, store: StoreDependency) -> Response:
    store.remove_metric(model_id, metric_id)
    return Response(status_code=204)


@router.delete("/models/{model_id}/metrics", tags=["metrics"], dependencies=writes)
def clear_metrics(model_id: UUID, store: StoreDependency) -> Response:
    store.clear_metrics(model_id)
    return Response(status_code=204)


# Modules (of a model, of an iteration, or of a model in one of its runs)

OwnerKind = Literal["models", "iterations", "runs"]
_OWNERS: dict[str, Literal["model", "iteration", "run"]] = {
    "models": "model",
    "iterations": "iteration",
    "runs": "run",
}


def _owner(kind: OwnerKind, owner_id: UUID) -> ModuleOwner:
    return ModuleOwner(_OWNERS[kind], owner_id)


@router.get("/{kind}/{owner_id}/modules", tags=["modules"])
def list_modules(kind: OwnerKind, owner_id: UUID, store: StoreDependency) -> Response:
    modules = store.list_modules(_owner(kind, owner_id))
    return _json([wire.module_document(module) for module in modules])


@router.post("/{kind}/{owner_id}/modules", tags=["modules"], status_code=201, dependencies=writes)
def log_module(
    kind: OwnerKind, owner_id: UUID, body: ModuleBody, store: StoreDependency
) -> Response:
    name = values.check_name(body.name, "module name")
    try:
        attributes = values.loads_json(body.attributes_json)
    except ValueError as error:
        raise InvalidArgumentError(f"attributes_json is not JSON: {error}") from None
    except RecursionError:
        raise InvalidArgumentError("attributes_json is nested too deeply") from None
    attributes_json = values.encode_attributes(attributes)
    module = store.log_module(_owner(kind, owner_id), name, attributes_json, id=body.id)
    return _json(wire.module_document(module), 201)


@router.delete("/{kind}/{owner_id}/modules/{module_id}", tags=["modules"], dependencies=writes)
def remove_module(
    kind: OwnerKind, owner_id: UUID, module_id: UUID, store: StoreDependency
) -> Response:
    store.remove_module(_owner(kind, owner_id), module_id)
    return Response(status_code=204)


@router.delete("/{kind}/{owner_id}/modules", tags=["modules"], dependencies=writes)
def clear_modules(kind: OwnerKind, owner_id: UUID, store: StoreDependency) -> Response:
    store.clear_modules(_owner(kind, owner_id))
    return Response(status_code=204)


# Iterations


@router.get("/models/{model_id}/iterations", tags=["iterations"])
def list_iterations(
    model_id: UUID,
    store: StoreDependency,
    run: Annotated[UUID | None, Query(description="Only the iterations of this run.")] = None,
) -> Response:
    rows = store.list_iterations(model_id, run_id=run)
    return _json([wire.iteration_document(row) for row in rows])


@router.post(
    "/models/{model_id}/iterations", tags=["iterations"], status_code=201, dependencies=writes
)
def create_iteration(model_id: UUID, body: IterationBody, store: StoreDependency) -> Response:
    step = values.check_int(body.step, "iteration step")
    row = store.create_iteration(model_id, step, id=body.id, run_id=body.run_id)
    return _json(wire.iteration_document(row), 201)


@router.get("/models/{model_id}/iterations/by-step/{step}", tags=["iterations"])
def get_iteration(model_id: UUID, step: int, store: StoreDependency) -> Response:
    row = store.get_iteration(model_id, values.check_int(step, "iteration step"))
    if row is None:
        raise NotFoundError(f"no iteration at step {step}")
    return _json(wire.iteration_document(row))


@router.delete(
    "/models/{model_id}/iterations/{iteration_id}", tags=["iterations"], dependencies=writes
)
def remove_iteration(model_id: UUID, iteration_id: UUID, store: StoreDependency) -> Response:
    store.remove_iteration(model_id, iteration_id)
    return Response(status_code=204)


@router.delete("/models/{model_id}/iterations", tags=["iterations"], dependencies=writes)
def clear_iterations(model_id: UUID, store: StoreDependency) -> Response:
    store.clear_iterations(model_id)
    return Response(status_code=204)


# Bulk


@router.post("/restore", tags=["bulk"], dependencies=writes)
async def restore(request: Request) -> Response:
    """Make the store hold a tree of entities with their ids (what ``mltracker import``
    sends): the body is a list of experiment records (see ``mltracker.wire``)."""
    body = await read_body(request)
    store: Store = request.app.state.store
    return _json(await run_in_threadpool(_restore, store, body))


def _restore(store: Store, body: bytearray) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidArgumentError(f"the body is not JSON: {error}") from None
    finally:
        body.clear()
    return wire.report_document(store.restore(wire.records_from_document(document)))
