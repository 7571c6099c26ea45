"""What a server did, for Prometheus: ``GET /metrics`` in its text format.

Each application counts in a registry of its own (several in one process, as in tests, do
not mix their counts):

- ``mltracker_http_requests_total{method, route, status}``: every answer, by the route's
  template (``/api/v1/models/{model_id}/metrics``, not each model's path; ``other`` for a
  path of no route, and for a method that HTTP does not name), refusals of the guards
  included;
- ``mltracker_points_written_total``: the metric points of the batches written;
- ``mltracker_batch_turn_wait_seconds``: how long each batch waited for its turn to be
  written (``mltracker.server.turns``), a histogram;
- ``mltracker_batches_replayed_total``: batches received again after this server process
  had written them: a retry after a lost answer, or a client's replay from its spool of a
  batch the server had stored. Its points are not counted again (the store skips the batch).

The wire does not say that a batch comes from a spool; a batch is known by its id, which
it keeps through retries and replays. So a spooled batch that the server never stored is a
new batch to it, and only batches this process wrote lately (the last
:data:`REMEMBERED_BATCHES`) are recognised. With ``--workers N`` each worker counts its own,
and a scrape reaches one of them.

``/metrics`` is guarded as the other routes: with tokens, a token of either scope reads it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.routing import BaseRoute, Mount, compile_path

from mltracker.server.guards import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "METRICS_PATH",
    "REMEMBERED_BATCHES",
    "Monitor",
    "RequestCounter",
    "RouteTemplates",
    "install",
]

METRICS_PATH = "/metrics"
#: How many batch ids a server process remembers to recognise a batch sent again.
REMEMBERED_BATCHES = 65_536
#: The label of a request whose path is no route's, or whose method is none of :data:`METHODS`.
OTHER_ROUTE = OTHER_METHOD = "other"
#: The methods counted by name (a client may send any word as a method: each would be a
#: series of its own).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Seconds: a batch mostly waits for the one or few ahead of it; the turn ends at 10 s.
_TURN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Monitor:
    """The counts of one application, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mltracker_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.points = Counter(
            "mltracker_points_written",
            "Metric points of the batches written.",
            registry=self.registry,
        )
        self.turn_wait = Histogram(
            "mltracker_batch_turn_wait_seconds",
            "Seconds each batch of points waited for its turn to be written.",
            buckets=_TURN_BUCKETS,
            registry=self.registry,
        )
        self.replays = Counter(
            "mltracker_batches_replayed",
            "Batches received again after this server process wrote them (a retry after a "
            "lost answer, or a replay from a client's spool).",
            registry=self.registry,
        )
        self._written: OrderedDict[UUID, None] = OrderedDict()
        self._lock = threading.Lock()

    def was_written(self, batch_id: UUID | None) -> bool:
        """Whether this process wrote the batch of this id lately."""
        if batch_id is None:
            return False
        with self._lock:
            return batch_id in self._written

    def batch_written(self, batch_id: UUID | None, points: int, *, again: bool) -> None:
        """Count a batch the store took: ``again`` if :meth:`was_written` said so."""
        if again:
            self.replays.inc()
            return
        self.points.inc(points)
        if batch_id is None:
            return
        with self._lock:
            self._written[batch_id] = None
            if len(self._written) > REMEMBERED_BATCHES:
                self._written.popitem(last=False)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The counts, and their content type: Prometheus's text format, or OpenMetrics
        when ``accept`` (a request's ``Accept``) asks for it."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


def install(app: FastAPI, monitor: Monitor) -> None:
    """Add ``GET /metrics`` of ``monitor`` to ``app``."""

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:
        body, content_type = monitor.exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)


class RouteTemplates:
    """The path template of each route of an application, to label its requests by.

    ``routes``: each route with the prefix it is served under (the prefix of the router
    that holds it). A request the router gave a route (``scope["route"]``) takes that
    route's template; another (refused by a guard before routing, or of no route) the first
    template its path matches, or ``other``.
    """

    def __init__(self, routes: Iterable[tuple[str, BaseRoute]]) -> None:
        self._by_route: dict[int, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        for prefix, route in routes:
            path = getattr(route, "path", None)
            if not isinstance(path, str):
                continue  # a router included in the application: its routes are given too
            template = prefix + path
            if isinstance(route, Mount):
                template += "/{path}"
                pattern = compile_path(template.removesuffix("{path}") + "{path:path}")[0]
            else:
                pattern = compile_path(template)[0]
            self._by_route[id(route)] = template
            self._patterns.append((pattern, template))

    def of(self, route: object, path: str) -> str:
        """The template of a request given ``route`` (or ``None``) and its ``path``."""
        if route is not None:
            found = self._by_route.get(id(route))
            if found is not None:
                return found
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return OTHER_ROUTE


class RequestCounter:
    """Count every answer by method, route template and status (ASGI middleware, outermost,
    so that the guards' refusals count too)."""

    def __init__(self, app: ASGIApp, monitor: Monitor, templates: RouteTemplates) -> None:
        self._app = app
        self._monitor = monitor
        self._templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = scope["path"]  # as it came: routing may change the scope's
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            if status:  # no answer: the client went away, or the server failed to answer
                route = self._templates.of(scope.get("route"), path)
                method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
                self._monitor.requests.labels(method, route, str(status)).inc()
