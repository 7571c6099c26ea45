"""The tracking server's ASGI application: the REST API of one store, its errors, its guards.

:func:`create_app` builds a FastAPI application over a :class:`~mltracker.ports.store.Store`.
The routes (``mltracker.server.routes``) mirror the store's port under ``/api/v1``; the wire
format is ``mltracker.wire``'s. Every error answers with one envelope,
``{"error": {"code": ..., "message": ...}}``, where ``code`` is the code of
``mltracker.errors`` that the client rebuilds into the same class, and the status comes from
:data:`STATUS_OF_ERROR`. No answer carries a stack trace or SQL; every 500 writes its
traceback to the server's log (the logger ``mltracker.server``).

The application guards itself (``mltracker.server.guards``, outermost first): a ``Host`` it
does not answer to is refused (400: DNS rebinding); a body that stalls ``body_timeout``
seconds gets 408 (``mltracker.server.timeouts``); a body larger than ``max_body_bytes`` is
refused (413); with tokens (``token``, or the tokens file ``tokens_file``: see
``mltracker.tokens``), every route but ``/api/v1/health`` and the dashboard's ``/login``
needs ``Authorization: Bearer <token>`` (401, compared in constant time), and a token of
scope ``read`` may only ``GET`` (403); a write from a page of another site (``Origin``) is
refused (403), and so is a body of the API that is not JSON (415); a read-only server refuses
writes (403). The dashboard's login sets a cookie
(:func:`mltracker.server.dashboard.session_cookie`) that stands for its token on ``GET`` and
``HEAD`` requests only, so that a page can read but never write, and only while the token is
the server's; a browser asking for a page without it is sent to the login form. The name of
the token of each metric batch is kept with it (``GET /api/v1/batches``).

The dashboard (``mltracker.server.dashboard``: its pages and files), its API routes
(``mltracker.server.overview``) and the API's documentation page (``mltracker.server.apidocs``)
are part of every application, and so is ``GET /metrics``, what it did in Prometheus's format
(``mltracker.server.monitoring``), guarded as the API. Behind a reverse proxy that serves it
under a path, the server that runs it sets the root path of each request
(``mltracker.server.rootpath``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mltracker import errors
from mltracker.ports.store import Store
from mltracker.server import apidocs, dashboard, monitoring, overview, routes, run_routes
from mltracker.server.guards import (
    CRASHED,
    HEALTH_PATH,
    JSON,
    OPEN_PATHS,
    AllowedHosts,
    BodyLimit,
    Contained,
    HostGuard,
    Refusal,
    RequestShape,
    TokenGuard,
    envelope,
)
from mltracker.server.monitoring import Monitor, RequestCounter, RouteTemplates
from mltracker.server.timeouts import DEFAULT_BODY_TIMEOUT, BodyTimeout
from mltracker.tokens import OneToken, TokensFile, TokenSource
from mltracker.wire import API_PREFIX

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "HEALTH_PATH",
    "OPEN_PATHS",
    "STATUS_OF_ERROR",
    "create_app",
    "envelope",
    "error_response",
    "status_of",
]

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

#: The largest request body taken (``--max-body-mb``): twice the size at which the client
#: cuts its batches (``mltracker.writer.batches``).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"


def status_of(error: errors.MLTrackerError) -> int:
    """The HTTP status that answers ``error``."""
    for cls in type(error).__mro__:
        status = STATUS_OF_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def error_response(error: errors.MLTrackerError) -> Response:
    return Response(envelope(error.code, str(error)), status_code=status_of(error), media_type=JSON)


def create_app(
    store: Store,
    *,
    token: str | None = None,
    tokens_file: str | os.PathLike[str] | None = None,
    read_only: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Sequence[str] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> FastAPI:
    """The REST API of ``store`` as an ASGI application, guarded (the caller closes the store).

    ``token``: the one token (scope ``write``, named ``default``); ``tokens_file``: the
    tokens file, read again when it changes; at most one of them. ``allowed_hosts``: the
    host names it answers to besides the loopback ones (``*`` for any, ``*.domain`` for a
    domain's); ``None``: any with tokens, the loopback ones only without. ``body_timeout``:
    the seconds a body may stall (see ``mltracker.server.timeouts``).

    Raises:
        InvalidArgumentError: Both ``token`` and ``tokens_file``; a token shorter than 16
            characters or not printable ASCII; a tokens file that cannot be read, has a line
            that is not a token, or holds none.
    """
    from mltracker import __version__

    tokens = token_source(token, tokens_file)

    app = FastAPI(
        title="MLTracker",
        version=__version__,
        summary="Experiments, models, metrics, modules and iterations of one store.",
        docs_url=None,  # apidocs: Swagger UI of the package, not of a CDN
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
    )
    app.state.store = store
    app.state.read_only = read_only
    app.state.tokens = tokens
    app.state.series = routes.SeriesCache()
    app.state.monitor = monitor = Monitor()
    app.include_router(routes.router, prefix=API_PREFIX)
    app.include_router(run_routes.router, prefix=API_PREFIX)
    app.include_router(overview.router, prefix=API_PREFIX)
    dashboard.install(app, tokens)
    monitoring.install(app, monitor)
    apidocs.install(app, OPENAPI_PATH)

    @app.exception_handler(errors.MLTrackerError)
    async def on_error(request: Request, error: errors.MLTrackerError) -> Response:
        response = error_response(error)
        if response.status_code == 500:
            logger.error(
                "%s %s failed: %s", request.method, request.url.path, error, exc_info=error
            )
        return response

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg')}"
            for problem in error.errors()
        )
        return Response(
            envelope(errors.InvalidArgumentError.code, problems or "invalid request"),
            status_code=422,
            media_type=JSON,
        )

    @app.exception_handler(Refusal)
    async def on_refusal(request: Request, error: Refusal) -> Response:
        return Response(
            error.body, status_code=error.status_code, media_type=JSON, headers=error.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> Response:
        code = "backend.remote.route" if error.status_code in (404, 405) else "backend.remote"
        return Response(
            envelope(code, str(error.detail)),
            status_code=error.status_code,
            media_type=JSON,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> Response:
        # Only what a guard raised comes here: the routes' crashes are ``Contained``.
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return Response(CRASHED, status_code=500, media_type=JSON)

    # Each one added wraps the ones before: the last is the outermost.
    app.add_middleware(Contained)
    app.add_middleware(RequestShape)
    if tokens is not None:
        app.add_middleware(TokenGuard, tokens=tokens)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(BodyTimeout, seconds=body_timeout)
    app.add_middleware(HostGuard, allowed=AllowedHosts(allowed_hosts, token=tokens is not None))
    templates = RouteTemplates(
        [
            *(("", route) for route in app.router.routes),
            *((API_PREFIX, route) for route in routes.router.routes),
            *((API_PREFIX, route) for route in overview.router.routes),
        ]
    )
    app.add_middleware(RequestCounter, monitor=monitor, templates=templates)
    return app


def token_source(
    token: str | None, tokens_file: str | os.PathLike[str] | None
) -> TokenSource | None:
    """The tokens of a server of ``token`` or ``tokens_file`` (``None``: no token).

    Raises:
        InvalidArgumentError: See :func:`create_app`.
    """
    if token is not None and tokens_file is not None:
        raise errors.InvalidArgumentError(
            "give either one token (--token, $MLTRACKER_TOKEN) or a tokens file (--tokens), "
            "not both: put the one token in the file (`mltracker token new --file FILE`)"
        )
    if tokens_file is not None:
        return TokensFile(tokens_file)
    return None if token is None else OneToken(token)
