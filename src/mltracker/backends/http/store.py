"""The HTTP backend: the store of a tracking server, reached over its REST API.

``connect("http://host:8765", token=...)`` (or ``$MLTRACKER_URI`` and ``$MLTRACKER_TOKEN``)
gives the whole API over HTTP. Each method is one request (``mltracker.wire`` is the format);
errors come back as the same classes of ``mltracker.errors``. Metric points go through the
session's buffered writer like any store's, in batches whose id makes a retry harmless.

Connections are kept alive in a pool (urllib3). A request that fails on the way (the server
cannot be reached, drops the connection, or answers 502/503/504) is retried with backoff for
the retry budget of ``mltracker.deadlines`` (``$MLTRACKER_RETRY_SECONDS``), each attempt's
timeouts cut to what is left of it; after that it raises
:class:`~mltracker.errors.BackendUnavailableError`, and the writer keeps the points (memory,
then the spool) until the server is back. A request that may have reached the server is
repeated only when repeating it cannot do anything twice (reads, deletes, updates, batches
with an id).
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

import orjson
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError

from mltracker import columnar, deadlines, wire
from mltracker.collector import collector_paused
from mltracker.entities import Metric, Module
from mltracker.errors import (
    BackendUnavailableError,
    MLTrackerError,
    NotFoundError,
    RemoteError,
    error_from_dict,
)
from mltracker.ports.metrics import NO_PHASE
from mltracker.ports.store import (
    ExperimentRecord,
    ExperimentRow,
    IterationRow,
    MetricColumns,
    MetricFilter,
    ModelField,
    ModelRow,
    ModuleOwner,
    Point,
    RestoreReport,
    Store,
)

if TYPE_CHECKING:
    import pyarrow

TOKEN_VARIABLE = "MLTRACKER_TOKEN"
#: The longest one attempt may wait for a connection, and for an answer.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
_RETRY_STATUSES = frozenset({502, 503, 504})
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 2.0


class HttpStore(Store):
    """The store behind a tracking server at ``uri`` (``http://`` or ``https://``)."""

    def __init__(self, uri: str, token: str | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._base = self.uri + wire.API_PREFIX
        token = token if token is not None else os.environ.get(TOKEN_VARIABLE) or None
        headers = {"content-type": "application/json", "accept": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        self._headers = headers
        self._http = urllib3.PoolManager(num_pools=2, maxsize=8, retries=False)

    # The one way out

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        repeatable: bool | None = None,
        encoded: bytes | None = None,
    ) -> Any:
        """Send one request, retrying what can be retried; the answer's JSON, or ``None``.

        Raises:
            MLTrackerError: The server's error, as its class.
            BackendUnavailableError: No answer within the retry budget.
        """
        url = self._base + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        data = encoded if encoded is not None else None if body is None else orjson.dumps(body)
        if repeatable is None:
            repeatable = method != "POST"
        budget = deadlines.retry_seconds()
        deadline = time.monotonic() + budget
        backoff = _FIRST_BACKOFF
        while True:
            left = max(0.1, deadline - time.monotonic())
            timeout = urllib3.Timeout(
                connect=min(CONNECT_TIMEOUT, left), read=min(READ_TIMEOUT, left)
            )
            try:
                response = self._http.request(
                    method,
                    url,
                    body=data,
                    headers=self._headers,
                    timeout=timeout,
                    redirect=False,
                )
            except HTTPError as error:
                reached = not _never_sent(error)
                problem: str = _describe(error)
                if reached and not repeatable:
                    raise BackendUnavailableError(
                        f"{self.uri} did not answer ({problem}); the request may have been "
                        "done: look before you repeat it"
                    ) from None
            else:
                if response.status < 300:
                    return orjson.loads(response.data) if response.data else None
                if response.status not in _RETRY_STATUSES:
                    raise self._error(response)
                problem = f"HTTP {response.status}"
                if response.status != 503 and not repeatable:
                    raise self._error(response)
            if time.monotonic() + backoff > deadline:
                raise BackendUnavailableError(
                    f"cannot reach the tracking server {self.uri} ({problem}); "
                    f"tried for {budget:g} s"
                )
            time.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _error(self, response: urllib3.BaseHTTPResponse) -> MLTrackerError:
        try:
            document = orjson.loads(response.data)
            return error_from_dict(document["error"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            if response.status >= 500:
                return BackendUnavailableError(f"{self.uri} answered HTTP {response.status}")
            return RemoteError(f"{self.uri} answered HTTP {response.status}")

    def _found(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The answer to a GET, or ``None`` when the server says it is not found."""
        try:
            return self._call("GET", path, params=params)
        except NotFoundError:
            return None

    # Identity

    def store_id(self) -> str:
        """The id of the store the server at this URL serves now, asked every time (a
        different server, with another store, may answer at the same URL after an outage):
        one ``GET /health``. A server too old to tell answers its URL.

        Raises:
            BackendUnavailableError: No server answers, or its store cannot be read.
        """
        return self.identity()[0]

    def identity(self) -> tuple[str, int | None]:
        answer = self._call("GET", "/health")
        found = answer.get("store_id") if isinstance(answer, dict) else None
        version = answer.get("schema_version") if isinstance(answer, dict) else None
        return (
            found if isinstance(found, str) and found else self.uri,
            version if isinstance(version, int) else None,
        )

    # Experiments

    def create_experiment(self, name: str) -> ExperimentRow:
        return wire.experiment_row(self._call("POST", "/experiments", {"name": name}))

    def get_or_create_experiment(self, name: str) -> ExperimentRow:
        body = {"name": name, "get_or_create": True}
        return wire.experiment_row(self._call("POST", "/experiments", body, repeatable=True))

    def read_experiment(self, name: str) -> ExperimentRow | None:
        found = self._found("/experiments/by-name", {"name": name})
        return None if found is None else wire.experiment_row(found)

    def update_experiment(self, experiment_id: UUID, name: str) -> None:
        self._call("PATCH", f"/experiments/{experiment_id}", {"name": name})

    def delete_experiment(self, experiment_id: UUID) -> None:
        self._call("DELETE", f"/experiments/{experiment_id}")

    def list_experiments(self) -> builtins.list[ExperimentRow]:
        return [wire.experiment_row(row) for row in self._call("GET", "/experiments")]

    # Models

    def create_model(
        self, experiment_id: UUID, hash: str, name: str | None, description: str | None
    ) -> ModelRow:
        body = {"hash": hash, "name": name, "description": description}
        return wire.model_row(self._call("POST", f"/experiments/{experiment_id}/models", body))

    def get_or_create_model(
        self, experiment_id: UUID, hash: str, name: str | None, description: str | None
    ) -> ModelRow:
        body = {"hash": hash, "name": name, "description": description, "get_or_create": True}
        path = f"/experiments/{experiment_id}/models"
        return wire.model_row(self._call("POST", path, body, repeatable=True))

    def read_model(self, experiment_id: UUID, hash: str) -> ModelRow | None:
        found = self._found(f"/experiments/{experiment_id}/models/by-hash", {"hash": hash})
        return None if found is None else wire.model_row(found)

    def update_model(
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        clear: frozenset[ModelField] = frozenset(),
    ) -> None:
        body = {"name": name, "description": description, "clear": sorted(clear)}
        path = f"/experiments/{experiment_id}/models/by-hash"
        self._call("PATCH", path, body, params={"hash": hash})

    def delete_model(self, experiment_id: UUID, model_id: UUID) -> None:
        self._call("DELETE", f"/experiments/{experiment_id}/models/{model_id}")

    def list_models(self, experiment_id: UUID) -> builtins.list[ModelRow]:
        rows = self._call("GET", f"/experiments/{experiment_id}/models")
        return [wire.model_row(row) for row in rows]

    def clear_models(self, experiment_id: UUID) -> None:
        self._call("DELETE", f"/experiments/{experiment_id}/models")

    def read_step(self, model_id: UUID) -> int:
        step: int = self._call("GET", f"/models/{model_id}/step")["step"]
        return step

    def write_step(self, model_id: UUID, step: int) -> None:
        self._call("PUT", f"/models/{model_id}/step", {"step": step})

    def add_step(self, model_id: UUID, delta: int) -> int:
        step: int = self._call("POST", f"/models/{model_id}/step/add", {"delta": delta})["step"]
        return step

    # Metrics

    def write_points(self, points: Sequence[Point], batch_id: UUID | None = None) -> None:
        encoded = orjson.dumps(wire.points_document(points, batch_id))
        self._call("POST", "/points", encoded=encoded, repeatable=batch_id is not None)

    def _metrics(self, path: str, params: dict[str, Any] | None = None) -> list[Metric]:
        document = self._call("GET", path, params=params)
        with collector_paused:  # a Metric per point, none in a cycle
            return wire.metrics_from_document(document)

    def list_metrics(self, model_id: UUID, where: MetricFilter) -> builtins.list[Metric]:
        return self._metrics(f"/models/{model_id}/metrics", _params(where))

    def metric_columns(self, model_id: UUID, where: MetricFilter) -> MetricColumns:
        metrics = self.list_metrics(model_id, where)
        return MetricColumns(
            [metric.name for metric in metrics],
            [metric.phase for metric in metrics],
            [metric.step for metric in metrics],
            [metric.value for metric in metrics],
            [metric.timestamp for metric in metrics],
        )

    def metric_table(self, model_id: UUID, where: MetricFilter) -> pyarrow.Table:
        """Through the JSON columns of the server's answer, decoded point by point."""
        columnar.pyarrow_module()
        return columnar.from_metrics(self.list_metrics(model_id, where))

    def reads_arrow(self) -> bool:
        return importlib.util.find_spec("pyarrow") is not None

    def metric_buckets(
        self, model_id: UUID, where: MetricFilter, budget: int
    ) -> builtins.list[Metric]:
        params = _params(
            MetricFilter(where.name, where.phase, where.start_step, where.stop_step, where.after)
        )
        params["budget"] = budget
        return self._metrics(f"/models/{model_id}/metrics", params)

    def latest_metrics(self, model_id: UUID) -> builtins.list[Metric]:
        return self._metrics(f"/models/{model_id}/metrics/latest")

    def latest_metrics_of_models(
        self, model_ids: Sequence[UUID]
    ) -> dict[UUID, builtins.list[Metric]]:
        body = {"model_ids": [str(model_id) for model_id in model_ids]}
        found = self._call("POST", "/metrics/latest", body, repeatable=True)
        return {UUID(key): wire.metrics_from_document(document) for key, document in found.items()}

    def remove_metric(self, model_id: UUID, metric_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/metrics/{metric_id}")

    def clear_metrics(self, model_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/metrics")

    # Modules

    def log_module(self, owner: ModuleOwner, name: str, attributes_json: str) -> Module:
        body = {"name": name, "attributes_json": attributes_json}
        return wire.module_entity(self._call("POST", f"{_owner(owner)}/modules", body))

    def list_modules(self, owner: ModuleOwner) -> builtins.list[Module]:
        return [
            wire.module_entity(found) for found in self._call("GET", f"{_owner(owner)}/modules")
        ]

    def remove_module(self, owner: ModuleOwner, module_id: UUID) -> None:
        self._call("DELETE", f"{_owner(owner)}/modules/{module_id}")

    def clear_modules(self, owner: ModuleOwner) -> None:
        self._call("DELETE", f"{_owner(owner)}/modules")

    # Iterations

    def create_iteration(self, model_id: UUID, step: int) -> IterationRow:
        path = f"/models/{model_id}/iterations"
        return wire.iteration_row(self._call("POST", path, {"step": step}))

    def get_iteration(self, model_id: UUID, step: int) -> IterationRow | None:
        found = self._found(f"/models/{model_id}/iterations/by-step/{step}")
        return None if found is None else wire.iteration_row(found)

    def list_iterations(self, model_id: UUID) -> builtins.list[IterationRow]:
        rows = self._call("GET", f"/models/{model_id}/iterations")
        return [wire.iteration_row(row) for row in rows]

    def remove_iteration(self, model_id: UUID, iteration_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/iterations/{iteration_id}")

    def clear_iterations(self, model_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/iterations")

    # Bulk

    def restore(self, experiments: Sequence[ExperimentRecord]) -> RestoreReport:
        body = wire.records_document(experiments)
        return wire.report_from_document(self._call("POST", "/restore", body, repeatable=True))

    # Lifecycle

    def close(self) -> None:
        self._http.clear()


def _owner(owner: ModuleOwner) -> str:
    return f"/{'models' if owner.kind == 'model' else 'iterations'}/{owner.id}"


def _params(where: MetricFilter) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": where.name,
        "start_step": where.start_step,
        "stop_step": where.stop_step,
        "after": where.after,
        "limit": where.limit,
    }
    if where.phase is NO_PHASE:
        params["no_phase"] = "true"
    elif where.phase is not None:
        params["phase"] = where.phase
    return params


def _never_sent(error: HTTPError) -> bool:
    """Whether the request surely did not reach the server (no connection was made)."""
    reason = getattr(error, "reason", None)
    return isinstance(error, NewConnectionError) or isinstance(reason, NewConnectionError)


def _describe(error: HTTPError) -> str:
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):
        error = reason  # type: ignore[assignment]
    if isinstance(error, ProtocolError):
        return "the connection was dropped"
    return str(error).split(": ", 1)[-1] or type(error).__name__
