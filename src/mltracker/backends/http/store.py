"""The HTTP backend: the store of a tracking server, reached over its REST API.

``connect("http://host:8765", token=...)`` (or ``$MLTRACKER_URI`` and ``$MLTRACKER_TOKEN``)
gives the whole API over HTTP. Each method is one request (``mltracker.wire`` is the format);
errors come back as the same classes of ``mltracker.errors``. Metric points go through the
session's buffered writer like any store's, in batches whose id makes a retry harmless.

Connections are kept alive in a pool (urllib3). A request that fails on the way (the server
cannot be reached, drops the connection, or answers 408/502/503/504) is retried with backoff for
the retry budget of ``mltracker.deadlines`` (``$MLTRACKER_RETRY_SECONDS``), each attempt's
timeouts cut to what is left of it, and stderr says so once per outage; after that it raises
:class:`~mltracker.errors.BackendUnavailableError`, and the writer keeps the points (memory,
then the spool) until the server is back. A 500 for an unexpected failure of the server is
asked again a few times only, then raised as the server's error. A request that may have
reached the server is repeated only when repeating it cannot do anything twice (reads,
deletes, updates, batches with an id, modules and iterations with the id the caller
chose, step increments with an operation id, ``get_or_create`` of experiments and models).

A URL that cannot be a tracking server's raises at once, saying what is wrong
(``mltracker.backends.http.faults``): a host name that does not resolve, ``https://`` to a
server of plain HTTP, a port that does not speak HTTP, answers that are not MLTracker's. The
message of every error a request raises starts with its method and URL.

An ``https://`` server's certificate is verified against the system's authorities, or those
of ``$MLTRACKER_CA_BUNDLE`` (``mltracker.backends.http.tls``); one that does not verify
raises :class:`~mltracker.errors.CertificateError` at once, never retried.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

import orjson
import urllib3
from urllib3.exceptions import HTTPError

from mltracker import columnar, deadlines, search, wire
from mltracker.backends.http import faults, tls
from mltracker.collector import collector_paused
from mltracker.credentials import check_token_text
from mltracker.entities import Metric, Module, Summary
from mltracker.errors import (
    BackendError,
    BackendUnavailableError,
    MLTrackerError,
    NotFoundError,
    PayloadTooLargeError,
    error_from_code,
)
from mltracker.ports.metrics import NO_PHASE
from mltracker.ports.store import (
    BatchRow,
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
    Rewind,
    RunRow,
    RunStart,
    RunStatus,
    Store,
)

if TYPE_CHECKING:
    import pyarrow

TOKEN_VARIABLE = "MLTRACKER_TOKEN"
#: The longest one attempt may wait for a connection, and for an answer.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
_RETRY_STATUSES = frozenset({502, 503, 504})
#: The answers of a server that did nothing with the request: sent again, whatever it was
#: (503: the store is busy or away; 408: the request came too slowly and was not read).
_NOTHING_DONE = frozenset({408, 503})
#: The codes of a 500 that a retry may get past: the server failed in a way it did not
#: foresee (a crash of a route, a store error of no specific class).
_UNEXPECTED_CODES = frozenset({BackendError.code, MLTrackerError.code})
#: How many times a 500 of those codes is asked again (with backoff, about 0.75 s in all, and
#: within the retry budget) before its error is raised: enough for a failure of a moment, not
#: so many that a bug of the server holds the caller for the whole budget.
_CRASH_RETRIES = 4
_HEALTH = "/health"
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 2.0


class HttpStore(Store):
    """The store behind a tracking server at ``uri`` (``http://`` or ``https://``).

    Raises (when made):
        InvalidArgumentError: A token (given, or of ``$MLTRACKER_TOKEN``) that is not
            printable ASCII without spaces (see ``mltracker.credentials``); for an
            ``https://`` URI, a ``$MLTRACKER_CA_BUNDLE`` that is not a readable PEM file of
            certificates (see ``mltracker.backends.http.tls``).
    """

    def __init__(self, uri: str, token: str | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._base = self.uri + wire.API_PREFIX
        if token is not None:
            check_token_text(token, "the token given")
        else:
            token = os.environ.get(TOKEN_VARIABLE) or None
            if token is not None:
                check_token_text(token, f"${TOKEN_VARIABLE}")
        headers = {"content-type": "application/json", "accept": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        self._headers = headers
        #: The PEM file of the certificates that an https:// server's must verify against
        #: (``$MLTRACKER_CA_BUNDLE``); ``None``: the system's.
        self.ca_bundle = tls.ca_bundle(self.uri)
        self._http = _pool(self.ca_bundle)
        _open_stores.add(self)
        #: The server answered this store once: a failure is then an outage, not a wrong URL.
        self._spoken = False
        #: The retry notice was printed, and no answer came since.
        self._outage = False

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
            MLTrackerError: The server's error, as its class, its message led by the method
                and URL of the request.
            BackendUnavailableError: No answer within the retry budget, or at once when the
                URL cannot be a tracking server's (see ``mltracker.backends.http.faults``).
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
        crashes = 0  # answers of 500 so far
        while True:
            crashed: urllib3.BaseHTTPResponse | None = None  # this attempt's 500
            try:
                response = self._request(method, url, data, deadline)
            except HTTPError as error:
                fault = faults.classify(
                    error, self.uri, spoken=self._spoken, ca_bundle=self.ca_bundle
                )
                if fault.fatal is not None:
                    raise fault.fatal_class(fault.fatal) from None
                if fault.dropped and not self._spoken:
                    self._check_speaks_http(deadline)
                if fault.reached and not repeatable:
                    raise BackendUnavailableError(
                        f"{method} {url}: {self.uri} did not answer ({fault.problem}); the "
                        "request may have been done: look before you repeat it"
                    ) from None
                problem = fault.problem
            else:
                self._spoken = True
                if response.status < 300:
                    self._outage = False
                    return self._document(method, url, response)
                crashes += response.status == 500
                if not _retried(response, repeatable) or crashes > _CRASH_RETRIES:
                    self._outage = False
                    raise self._error(method, url, response)
                problem = f"HTTP {response.status}"
                crashed = response if response.status == 500 else None
            if time.monotonic() + backoff > deadline:
                if crashed is not None:
                    raise self._error(method, url, crashed)
                raise BackendUnavailableError(
                    f"cannot reach the tracking server {self.uri} ({problem}); "
                    f"tried {method} {url} for {budget:.3g} s"
                )
            if crashed is None and not self._outage:  # a few tries of a 500 are no outage
                self._outage = True
                faults.say(f"retrying {self.uri} ({problem}) for up to {budget:.3g} s")
            time.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _request(
        self, method: str, url: str, data: bytes | None, deadline: float
    ) -> urllib3.BaseHTTPResponse:
        """One attempt, its timeouts cut to what is left of the retry budget."""
        left = max(0.1, deadline - time.monotonic())
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, left), read=min(READ_TIMEOUT, left))
        return self._http.request(
            method, url, body=data, headers=self._headers, timeout=timeout, redirect=False
        )

    def _check_speaks_http(self, deadline: float) -> None:
        """After a connection that a server never heard from closed without an answer: ask
        again (the health route, which changes nothing) to tell a port that does not speak
        HTTP from a server that went away.

        Raises:
            BackendUnavailableError: The second connection closed without an answer too.
        """
        try:
            self._request("GET", self._base + _HEALTH, None, min(deadline, time.monotonic() + 5))
        except HTTPError as error:
            if faults.classify(error, self.uri, spoken=False, ca_bundle=self.ca_bundle).dropped:
                raise BackendUnavailableError(faults.not_speaking_http(self.uri, error)) from None
            return  # refused, or slow: the server is away, which is an outage
        self._spoken = True

    def _document(self, method: str, url: str, response: urllib3.BaseHTTPResponse) -> Any:
        """The JSON of a successful answer.

        Raises:
            BackendUnavailableError: The answer is not JSON: not an answer of MLTracker.
        """
        if not response.data:
            return None
        try:
            return orjson.loads(response.data)
        except orjson.JSONDecodeError:
            raise BackendUnavailableError(
                f"{method} {url}: HTTP {response.status} with "
                f"{_content_type(response)} instead of JSON, which is not an answer of "
                f"MLTracker: is {self.uri} a tracking server? {faults.CHECK_URL}"
            ) from None

    def _error(self, method: str, url: str, response: urllib3.BaseHTTPResponse) -> MLTrackerError:
        """The error that an error answer stands for, its message led by the request."""
        where = f"{method} {url}"
        found = _envelope(response)
        if response.status == 413:  # whatever the code a server of any version gave it
            message = found[1] if found is not None else "the request body is too large"
            return PayloadTooLargeError(f"{where}: {message}")
        if found is not None:
            code, message = found
            return error_from_code(code, f"{where}: {message}")
        status = f"HTTP {response.status} {response.reason or ''}".rstrip()
        if response.status in _RETRY_STATUSES or response.status in _NOTHING_DONE:
            return BackendUnavailableError(f"{where}: the tracking server answered {status}")
        location = response.headers.get("location")
        moved = f", to {location}" if location and 300 <= response.status < 400 else ""
        return BackendUnavailableError(
            f"{where}: {status}{moved} with {_content_type(response)}, which is not an "
            f"answer of MLTracker: is {self.uri} a tracking server? {faults.CHECK_URL}"
        )

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

    def create_experiment(self, name: str, *, id: UUID | None = None) -> ExperimentRow:
        body = wire.experiment_request(name, id, get_or_create=False)
        return wire.experiment_row(self._call("POST", "/experiments", body))

    def get_or_create_experiment(self, name: str, *, id: UUID | None = None) -> ExperimentRow:
        body = wire.experiment_request(name, id, get_or_create=True)
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
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        id: UUID | None = None,
    ) -> ModelRow:
        body = wire.model_request(hash, name, description, id, get_or_create=False)
        return wire.model_row(self._call("POST", f"/experiments/{experiment_id}/models", body))

    def get_or_create_model(
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        id: UUID | None = None,
    ) -> ModelRow:
        body = wire.model_request(hash, name, description, id, get_or_create=True)
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

    def write_step(self, model_id: UUID, step: int, *, op_id: UUID | None = None) -> None:
        self._call("PUT", f"/models/{model_id}/step", wire.step_request(step, op_id))

    def add_step(self, model_id: UUID, delta: int, *, op_id: UUID | None = None) -> int:
        body = wire.step_delta_request(delta, op_id)
        path = f"/models/{model_id}/step/add"
        step: int = self._call("POST", path, body, repeatable=op_id is not None)["step"]
        return step

    # Metrics

    def write_points(
        self,
        points: Sequence[Point],
        batch_id: UUID | None = None,
        *,
        writer: str | None = None,
        part_of: Sequence[UUID] = (),
    ) -> None:
        """The server keeps the name of this store's token as the batch's writer; ``writer``
        is not sent."""
        encoded = orjson.dumps(wire.points_document(points, batch_id, part_of))
        self._call("POST", "/points", encoded=encoded, repeatable=batch_id is not None)

    def list_batches(
        self, *, writer: str | None = None, limit: int = 100
    ) -> builtins.list[BatchRow]:
        document = self._call("GET", "/batches", params={"writer": writer, "limit": limit})
        return wire.batches_from_document(document)

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
            MetricFilter(
                where.name,
                where.phase,
                where.start_step,
                where.stop_step,
                where.after,
                None,
                where.run,
            )
        )
        params["budget"] = budget
        return self._metrics(f"/models/{model_id}/metrics", params)

    def latest_metrics(
        self, model_id: UUID, *, run_id: UUID | None = None, by_run: bool = False
    ) -> builtins.list[Metric]:
        params: dict[str, Any] = {}
        if run_id is not None:
            params["run"] = str(run_id)
        if by_run:
            params["by_run"] = "true"
        return self._metrics(f"/models/{model_id}/metrics/latest", params or None)

    def latest_metrics_of_models(
        self, model_ids: Sequence[UUID], *, by_run: bool = False
    ) -> dict[UUID, builtins.list[Metric]]:
        body: dict[str, Any] = {"model_ids": [str(model_id) for model_id in model_ids]}
        if by_run:
            body["by_run"] = True
        found = self._call("POST", "/metrics/latest", body, repeatable=True)
        return {UUID(key): wire.metrics_from_document(document) for key, document in found.items()}

    def remove_metric(self, model_id: UUID, metric_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/metrics/{metric_id}")

    def clear_metrics(self, model_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/metrics")

    # Modules

    def log_module(
        self, owner: ModuleOwner, name: str, attributes_json: str, *, id: UUID | None = None
    ) -> Module:
        body = wire.module_request(name, attributes_json, id)
        found = self._call("POST", f"{_owner(owner)}/modules", body, repeatable=id is not None)
        return wire.module_entity(found)

    def list_modules(self, owner: ModuleOwner) -> builtins.list[Module]:
        return [
            wire.module_entity(found) for found in self._call("GET", f"{_owner(owner)}/modules")
        ]

    def remove_module(self, owner: ModuleOwner, module_id: UUID) -> None:
        self._call("DELETE", f"{_owner(owner)}/modules/{module_id}")

    def clear_modules(self, owner: ModuleOwner) -> None:
        self._call("DELETE", f"{_owner(owner)}/modules")

    # Iterations

    def create_iteration(
        self, model_id: UUID, step: int, *, id: UUID | None = None, run_id: UUID | None = None
    ) -> IterationRow:
        path = f"/models/{model_id}/iterations"
        body = wire.iteration_request(step, id, run_id)
        return wire.iteration_row(self._call("POST", path, body, repeatable=id is not None))

    def get_iteration(self, model_id: UUID, step: int) -> IterationRow | None:
        found = self._found(f"/models/{model_id}/iterations/by-step/{step}")
        return None if found is None else wire.iteration_row(found)

    def list_iterations(
        self, model_id: UUID, *, run_id: UUID | None = None
    ) -> builtins.list[IterationRow]:
        params = None if run_id is None else {"run": str(run_id)}
        rows = self._call("GET", f"/models/{model_id}/iterations", params=params)
        return [wire.iteration_row(row) for row in rows]

    def remove_iteration(self, model_id: UUID, iteration_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/iterations/{iteration_id}")

    def clear_iterations(self, model_id: UUID) -> None:
        self._call("DELETE", f"/models/{model_id}/iterations")

    # Runs

    def start_run(self, start: RunStart) -> RunRow:
        body = wire.run_start_request(start)
        found = self._call("POST", f"/runs/{start.id}/start", body, repeatable=True)
        return wire.run_row(found)

    def resume_run(
        self, run_id: UUID, at: float, timeout: float | None, rewind: Rewind | None = None
    ) -> RunRow:
        body: dict[str, Any] = {"at": at, "timeout": timeout}
        if rewind is not None:
            body["rewind"] = {"id": str(rewind.id), "step": rewind.step, "since": rewind.since}
        return wire.run_row(self._call("POST", f"/runs/{run_id}/resume", body, repeatable=True))

    def heartbeat_run(self, run_id: UUID, at: float) -> None:
        self._call("POST", f"/runs/{run_id}/heartbeat", {"at": at}, repeatable=True)

    def end_run(self, run_id: UUID, status: RunStatus, exit: str | None, at: float) -> None:
        body = {"status": status, "exit": exit, "at": at}
        self._call("POST", f"/runs/{run_id}/end", body, repeatable=True)

    def read_run(self, run_id: UUID) -> RunRow | None:
        found = self._found(f"/runs/{run_id}")
        return None if found is None else wire.run_row(found)

    def list_runs(self, model_id: UUID) -> builtins.list[RunRow]:
        return [wire.run_row(row) for row in self._call("GET", f"/models/{model_id}/runs")]

    def list_experiment_runs(self, experiment_id: UUID) -> builtins.list[RunRow]:
        rows = self._call("GET", f"/experiments/{experiment_id}/runs")
        return [wire.run_row(row) for row in rows]

    def search_runs(
        self,
        experiment_id: UUID | None,
        where: str | None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunRow]:
        search.parse_where(where)  # a bad search fails here, with its position
        search.parse_order(order_by)
        search.check_limit(limit)
        params: dict[str, Any] = {}
        if where is not None:
            params["where"] = where
        if order_by is not None:
            params["order_by"] = order_by
        if limit is not None:
            params["limit"] = limit
        path = "/runs" if experiment_id is None else f"/experiments/{experiment_id}/runs"
        return [wire.run_row(row) for row in self._call("GET", path, params=params)]

    def read_summaries(self, run_ids: Sequence[UUID]) -> builtins.list[Summary]:
        body = {"run_ids": [str(run_id) for run_id in run_ids]}
        found = self._call("POST", "/runs/summaries", body, repeatable=True)
        return [wire.summary_from_document(document) for document in found]

    # Bulk

    def restore(self, experiments: Sequence[ExperimentRecord]) -> RestoreReport:
        body = wire.records_document(experiments)
        return wire.report_from_document(self._call("POST", "/restore", body, repeatable=True))

    # Lifecycle

    def close(self) -> None:
        self._http.clear()


_OWNER_PATHS = {"model": "models", "iteration": "iterations", "run": "runs"}


def _owner(owner: ModuleOwner) -> str:
    return f"/{_OWNER_PATHS[owner.kind]}/{owner.id}"


def _params(where: MetricFilter) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": where.name,
        "start_step": where.start_step,
        "stop_step": where.stop_step,
        "after": where.after,
        "limit": where.limit,
    }
    if where.run is not None:
        params["run"] = str(where.run)
    if where.superseded:
        params["superseded"] = "true"
    if where.phase is NO_PHASE:
        params["no_phase"] = "true"
    elif where.phase is not None:
        params["phase"] = where.phase
    return params


def _retried(response: urllib3.BaseHTTPResponse, repeatable: bool) -> bool:
    """Whether an error answer asks for the request again: 503 and 408 (the server did
    nothing), and for a repeatable request 502/504 and a 500 that is an unexpected failure
    of the server (the generic code of its error envelope: a retry may get past it;
    ``_CRASH_RETRIES`` times at most), never a 500 of a specific class (a store of a newer
    schema, or of another application)."""
    if response.status in _NOTHING_DONE:
        return True
    if not repeatable:
        return False
    if response.status in _RETRY_STATUSES:
        return True
    if response.status != 500:
        return False
    found = _envelope(response)
    return found is not None and found[0] in _UNEXPECTED_CODES


def _envelope(response: urllib3.BaseHTTPResponse) -> tuple[str, str] | None:
    """The code and message of MLTracker's error envelope, if the answer is one."""
    try:
        error = orjson.loads(response.data)["error"]
        code, message = error["code"], error["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(code, str) or not isinstance(message, str):
        return None
    return code, message


def _content_type(response: urllib3.BaseHTTPResponse) -> str:
    kind = (response.headers.get("content-type") or "").partition(";")[0].strip()
    if not response.data:
        return "an empty body"
    return kind or "a body without a type"


def _pool(ca_bundle: str | None = None) -> urllib3.PoolManager:
    """Connections kept alive; an https:// server's certificate verified against
    ``ca_bundle`` (a PEM file), or the system's authorities."""
    return urllib3.PoolManager(num_pools=2, maxsize=8, retries=False, ca_certs=ca_bundle)


_open_stores: weakref.WeakSet[HttpStore] = weakref.WeakSet()


def _new_connections_after_fork() -> None:
    # A forked child must not read answers from its parent's kept-alive sockets (both would
    # read the same stream): it lets them go unclosed and connects anew.
    for store in list(_open_stores):
        store._http = _pool(store.ca_bundle)


os.register_at_fork(after_in_child=_new_connections_after_fork)
