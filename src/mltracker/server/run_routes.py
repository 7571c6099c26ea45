"""The routes of ``/api/v1`` about runs: their start, resumption, heartbeats and end (each
safe to repeat: a run's id is made by its client), and their reads."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from mltracker import values, wire
from mltracker.errors import InvalidArgumentError, NotFoundError
from mltracker.ports.store import Rewind, RunStart
from mltracker.server.routes import StoreDependency, json_response, writes

router = APIRouter()

#: A time in seconds since the epoch, as the library takes one.
Seconds = StrictFloat | StrictInt


class RunStartBody(BaseModel):
    model_id: UUID
    name: str | None = None
    params_json: str = Field("{}", description="The run's parameters, a JSON object's text.")
    context_json: str = Field(
        "{}", description="Where it runs (host, pid, command, git, environment), as JSON text."
    )
    started_at: Seconds
    timeout: Seconds | None = Field(
        None, description="Seconds without a heartbeat after which the run reads as crashed."
    )


class RewindBody(BaseModel):
    id: UUID = Field(description="The resumption's operation id: a rewind is applied once.")
    step: StrictInt = Field(
        ge=0, le=values.INT64_MAX, description="The points from this step on are superseded."
    )
    since: Seconds | None = Field(
        None, description="Only the points logged (their timestamps) after this time."
    )


class RunResumeBody(BaseModel):
    at: Seconds
    timeout: Seconds | None = None
    rewind: RewindBody | None = Field(
        None, description="Supersede the run's points from a step on (a checkpoint's)."
    )


class HeartbeatBody(BaseModel):
    at: Seconds


class RunEndBody(BaseModel):
    status: Literal["finished", "failed", "killed"]
    exit: str | None = None
    at: Seconds


def _object_text(text: str, what: str) -> str:
    try:
        document = values.loads_json(text)
    except (ValueError, RecursionError):
        raise InvalidArgumentError(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidArgumentError(f"{what} must be a JSON object")
    return values.encode_attributes(document)


@router.post("/runs/{run_id}/start", tags=["runs"], dependencies=writes)
def start_run(run_id: UUID, body: RunStartBody, store: StoreDependency) -> Response:
    """Start a run of a model (again: a repeat changes nothing)."""
    start = RunStart(
        run_id,
        body.model_id,
        values.check_optional_name(body.name, "run name"),
        _object_text(body.params_json, "params_json"),
        _object_text(body.context_json, "context_json"),
        values.check_timestamp(body.started_at),
        None if body.timeout is None else values.check_timestamp(body.timeout),
    )
    return json_response(wire.run_document(store.start_run(start)))


@router.post("/runs/{run_id}/resume", tags=["runs"], dependencies=writes)
def resume_run(run_id: UUID, body: RunResumeBody, store: StoreDependency) -> Response:
    at = values.check_timestamp(body.at)
    timeout = None if body.timeout is None else values.check_timestamp(body.timeout)
    rewind = None
    if body.rewind is not None:
        since = body.rewind.since
        rewind = Rewind(
            body.rewind.id,
            body.rewind.step,
            None if since is None else values.check_timestamp(since),
        )
    return json_response(wire.run_document(store.resume_run(run_id, at, timeout, rewind)))


@router.post("/runs/{run_id}/heartbeat", tags=["runs"], dependencies=writes)
def heartbeat_run(run_id: UUID, body: HeartbeatBody, store: StoreDependency) -> Response:
    store.heartbeat_run(run_id, values.check_timestamp(body.at))
    return Response(status_code=204)


@router.post("/runs/{run_id}/end", tags=["runs"], dependencies=writes)
def end_run(run_id: UUID, body: RunEndBody, store: StoreDependency) -> Response:
    exit = values.check_text(body.exit, "run exit")
    store.end_run(run_id, body.status, exit, values.check_timestamp(body.at))
    return Response(status_code=204)


@router.get("/runs/{run_id}", tags=["runs"])
def read_run(run_id: UUID, store: StoreDependency) -> Response:
    row = store.read_run(run_id)
    if row is None:
        raise NotFoundError(f"run {run_id} not found")
    return json_response(wire.run_document(row))


@router.get("/models/{model_id}/runs", tags=["runs"])
def list_runs(model_id: UUID, store: StoreDependency) -> Response:
    """A model's runs, oldest first."""
    return json_response([wire.run_document(row) for row in store.list_runs(model_id)])


_WHERE = Query(
    description="A condition in the grammar of run searches (README, Sweeps), e.g. "
    '"params.lr < 0.01 AND metrics.loss@validation.min < 0.3".',
)
_ORDER_BY = Query(description='Fields, each ASC or DESC, e.g. "metrics.loss.min DESC".')
_LIMIT = Query(ge=0, description="The most runs to answer.")


@router.get("/experiments/{experiment_id}/runs", tags=["runs"])
def list_experiment_runs(
    experiment_id: UUID,
    store: StoreDependency,
    where: Annotated[str | None, _WHERE] = None,
    order_by: Annotated[str | None, _ORDER_BY] = None,
    limit: Annotated[int | None, _LIMIT] = None,
) -> Response:
    """Every run of an experiment's models, oldest first; with ``where``, ``order_by`` or
    ``limit``, those a search selects, in its order."""
    if where is None and order_by is None and limit is None:
        rows = store.list_experiment_runs(experiment_id)
    else:
        rows = store.search_runs(experiment_id, where, order_by, limit)
    return json_response([wire.run_document(row) for row in rows])


@router.get("/runs", tags=["runs"])
def search_runs(
    store: StoreDependency,
    where: Annotated[str | None, _WHERE] = None,
    order_by: Annotated[str | None, _ORDER_BY] = None,
    limit: Annotated[int | None, _LIMIT] = None,
) -> Response:
    """The runs of every experiment that a search selects (``experiment.name`` is a field),
    in its order."""
    rows = store.search_runs(None, where, order_by, limit)
    return json_response([wire.run_document(row) for row in rows])


class RunIds(BaseModel):
    run_ids: list[UUID] = Field(max_length=100_000)


@router.post("/runs/summaries", tags=["runs"])
def read_summaries(body: RunIds, store: StoreDependency) -> Response:
    """The summary of each series of these runs (count, nan_count, first, last, min, max,
    argmin, argmax, first_step, last_step); a value JSON cannot hold exactly comes as
    ``{"exact": [kind, text]}``."""
    found = store.read_summaries(body.run_ids)
    return json_response([wire.summary_document(summary) for summary in found])
