"""The tracking server's ASGI application: the REST API of one store, its errors, its guards.

:func:`create_app` builds a FastAPI application over a :class:`~mltracker.ports.store.Store`.
The routes (``mltracker.server.routes``) mirror the store's port under ``/api/v1``; the wire
format is ``mltracker.wire``'s. Every error answers with one envelope,
``{"error": {"code": ..., "message": ...}}``, where ``code`` is the code of
``mltracker.errors`` that the client rebuilds into the same class, and the status comes from
:data:`STATUS_OF_ERROR`. No answer carries a stack trace or SQL.

Guards, outermost first: a body larger than ``max_body_bytes`` is refused (413); with a
token, every route but ``/api/v1/health`` and the dashboard's ``/login`` needs
``Authorization: Bearer <token>`` (401, compared in constant time); a read-only server
refuses writes (403). The dashboard's login sets a cookie
(:func:`mltracker.server.dashboard.session_cookie`) that stands for the token on ``GET`` and
``HEAD`` requests only, so that a page can read but never write; a browser asking for a page
without it is sent to the login form.

The dashboard (``mltracker.server.dashboard``: its pages and files) and its API routes
(``mltracker.server.overview``) are part of every application.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mltracker import errors
from mltracker.ports.store import Store
from mltracker.server import dashboard, overview, routes
from mltracker.wire import API_PREFIX

logger = logging.getLogger(__name__)

#: The HTTP status of each error class (a class not listed takes its nearest parent's).
STATUS_OF_ERROR: dict[type[errors.MLTrackerError], int] = {
    errors.NotFoundError: 404,
    errors.AlreadyExistsError: 409,
    errors.InvalidArgumentError: 422,
    errors.ReadOnlyStoreError: 403,
    errors.AccessDeniedError: 401,
    errors.BackendUnavailableError: 503,
    errors.BackendError: 500,
    errors.MLTrackerError: 500,
}

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
HEALTH_PATH = f"{API_PREFIX}/health"
#: The paths that answer without the token.
OPEN_PATHS = frozenset({HEALTH_PATH, dashboard.LOGIN_PATH})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def status_of(error: errors.MLTrackerError) -> int:
    """The HTTP status that answers ``error``."""
    for cls in type(error).__mro__:
        status = STATUS_OF_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def envelope(code: str, message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": {"code": code, "message": message}})


def error_response(error: errors.MLTrackerError) -> Response:
    return Response(
        envelope(error.code, str(error)), status_code=status_of(error), media_type=_JSON
    )


_JSON = "application/json"
_CRASHED = envelope(errors.BackendError.code, "internal error of the server (see its log)")


def create_app(
    store: Store,
    *,
    token: str | None = None,
    read_only: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The REST API of ``store`` as an ASGI application (the caller closes the store)."""
    from mltracker import __version__

    app = FastAPI(
        title="MLTracker",
        version=__version__,
        summary="Experiments, models, metrics, modules and iterations of one store.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.store = store
    app.state.read_only = read_only
    app.state.token = token
    app.state.series = routes.SeriesCache()
    app.include_router(routes.router, prefix=API_PREFIX)
    app.include_router(overview.router, prefix=API_PREFIX)
    dashboard.install(app)

    @app.exception_handler(errors.MLTrackerError)
    async def on_error(request: Request, error: errors.MLTrackerError) -> Response:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg')}"
            for problem in error.errors()
        )
        return Response(
            envelope(errors.InvalidArgumentError.code, problems or "invalid request"),
            status_code=422,
            media_type=_JSON,
        )

    @app.exception_handler(_TooLarge)
    async def on_too_large(request: Request, error: _TooLarge) -> Response:
        return Response(error.body, status_code=413, media_type=_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> Response:
        code = "backend.remote.route" if error.status_code in (404, 405) else "backend.remote"
        return Response(
            envelope(code, str(error.detail)),
            status_code=error.status_code,
            media_type=_JSON,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> Response:
        logger.exception("%s %s failed", request.method, request.url.path)
        return Response(_CRASHED, status_code=500, media_type=_JSON)

    guarded: ASGIApp = _Contained(app)
    if token is not None:
        guarded = _TokenGuard(guarded, token)
    guarded = _BodyLimit(guarded, max_body_bytes)
    app.state.guarded = guarded
    return app


def guarded_app(app: FastAPI) -> ASGIApp:
    """The application with its guards, as the server serves it."""
    guarded: ASGIApp = app.state.guarded
    return guarded


class _Contained:
    """Keep a crash that the application answered already from reaching the server.

    Starlette answers an unexpected exception with the crash handler's 500, then raises it
    again for the server to log; uvicorn then closes the connection, and with a request body
    it did not read to the end the client may see the connection reset instead of the answer
    (and retry a request that failed for good). The crash was logged by the handler.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, sending)
        except _TooLarge:
            raise  # the body limit's own answer
        except Exception:
            if started:
                return
            logger.exception("%s %s failed", scope.get("method"), scope.get("path"))
            await _answer(send, 500, _CRASHED)


class _TokenGuard:
    """Refuse every request but the open paths that does not bear the token (or, to read,
    the dashboard's cookie)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._cookie = dashboard.session_cookie(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        given = cookies = accept = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
            elif name == b"cookie":
                cookies = value
            elif name == b"accept":
                accept = value
        reading = scope["method"] in ("GET", "HEAD")
        if hmac.compare_digest(given, self._expected) or (
            reading and not given and hmac.compare_digest(_cookie(cookies), self._cookie)
        ):
            await self._app(scope, receive, send)
            return
        if reading and not given and b"text/html" in accept and _is_page(scope["path"]):
            await _answer_redirect(send, dashboard.login_location(scope))
            return
        message = "a token is required" if not given else "wrong token"
        await _answer(
            send,
            401,
            envelope(errors.AccessDeniedError.code, message),
            [(b"www-authenticate", b"Bearer")],
        )


def _cookie(header: bytes) -> bytes:
    """The value of the dashboard's cookie in a ``Cookie`` header (empty when absent)."""
    wanted = dashboard.COOKIE_NAME.encode() + b"="
    for part in header.split(b";"):
        part = part.strip()
        if part.startswith(wanted):
            return part[len(wanted) :]
    return b""


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", dashboard.STATIC_PATH + "/"))


async def _answer_redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class _BodyLimit:
    """Refuse a request body larger than the limit, before reading it whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self._limit:
                await _answer(send, 413, _TooLarge(self._limit).body)
                return
        received = 0
        limit = self._limit
        started = False

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counting, sending)
        except _TooLarge as error:
            if not started:
                await _answer(send, 413, error.body)


class _TooLarge(StarletteHTTPException):
    """A body without a content-length outgrew the limit while the application read it.

    An HTTP exception, so that the application answers it with its handler (413) wherever
    the body is read: FastAPI turns any other exception met while parsing a body into a 400.
    """

    def __init__(self, limit: int) -> None:
        message = f"the request body is larger than {limit} bytes; send smaller batches"
        super().__init__(413, message)
        self.body = envelope(errors.PayloadTooLargeError.code, message)


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", _JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
