"""The guards of the tracking server: ASGI middleware that answers a request before the
routes when it must not reach them.

:func:`mltracker.server.app.create_app` adds them to its application, outermost first:

- :class:`HostGuard`: a ``Host`` the server does not answer to (DNS rebinding) gets 400;
- :class:`BodyLimit`: a body larger than the limit gets 413, before it is read whole;
- :class:`TokenGuard`: with tokens, a request without one gets 401, a write with a ``read``
  token 403;
- :class:`RequestShape`: a write whose ``Origin`` is another site gets 403, and a body that
  is not JSON gets 415 (what a web page can send without the browser asking first);
- :class:`Contained`: an unexpected exception gets 500, its traceback in the log.

Each refusal carries the error envelope of ``mltracker.server.app``. The paths they look at
are paths within the server, without the root path of a reverse proxy
(``mltracker.server.rootpath``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException

from mltracker import errors
from mltracker.credentials import is_token_text
from mltracker.server import dashboard
from mltracker.server.rootpath import route_path
from mltracker.tokens import WRITER_KEY, TokenSource
from mltracker.wire import API_PREFIX

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON = "application/json"
HEALTH_PATH = f"{API_PREFIX}/health"
#: The paths that answer without the token.
OPEN_PATHS = frozenset({HEALTH_PATH, dashboard.LOGIN_PATH})
#: The paths whose POST only reads (its body is a question too long for a URL): a read token
#: and the dashboard's cookie may ask them, as a GET.
READING_POSTS = frozenset({f"{API_PREFIX}/runs/summaries"})
#: The methods that change something: a request of another site with one of them is refused.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The methods whose requests carry a body (JSON on the API).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: The flag of ``mltracker server`` that adds host names.
ALLOWED_HOST_FLAG = "--allowed-host"


def envelope(code: str, message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": {"code": code, "message": message}})


CRASHED = envelope(errors.BackendError.code, "internal error of the server (see its log)")


async def answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with ``status`` and the JSON ``body``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


# Host names -----------------------------------------------------------------------------


def split_host(host: str) -> tuple[str, int | None]:
    """The name (lower case, IPv6 without brackets, no final dot) and port of a ``Host``
    header or of the authority of a URL; ``("", None)`` when it is malformed."""
    host = host.strip().lower()
    port_text = ""
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return "", None
        port_text = rest[1:]
    elif host.count(":") == 1:
        name, _, port_text = host.partition(":")
    elif ":" in host:
        name = host  # an IPv6 address without brackets (not a valid Host, but unambiguous)
    else:
        name = host
    if port_text and not port_text.isdigit():
        return "", None
    return name.rstrip("."), int(port_text) if port_text else None


def is_loopback_name(name: str) -> bool:
    """Whether the host name ``name`` (as :func:`split_host` gives it) is this machine's
    loopback: ``localhost``, 127.0.0.0/8, ``::1``."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    """The host names a server answers to.

    ``names`` ``None``: any host with a token (the token is the guard), else the loopback
    names only. Otherwise the loopback names and ``names``: a name, ``*.domain`` (the
    domain's subdomains), or ``*`` (any host).
    """

    def __init__(self, names: Iterable[str] | None, *, token: bool) -> None:
        given = None if names is None else [split_host(name)[0] or name for name in names]
        self.any = (given is None and token) or (given is not None and "*" in given)
        self._names = frozenset(name for name in given or () if not name.startswith("*."))
        self._domains = tuple(name[1:] for name in given or () if name.startswith("*."))

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        name, _port = split_host(host)
        return bool(name) and (
            is_loopback_name(name) or name in self._names or name.endswith(self._domains)
        )


class HostGuard:
    """Answer only requests whose ``Host`` is allowed (see :class:`AllowedHosts`): a page of
    another site whose name resolves to this server (DNS rebinding) is refused."""

    def __init__(self, app: ASGIApp, allowed: AllowedHosts) -> None:
        self._app = app
        self._allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed.any:
            await self._app(scope, receive, send)
            return
        given = _header(scope, b"host")
        host = "" if given is None else given.decode("latin-1")
        if given is None or self._allowed.allows(host):  # no Host: not a browser
            await self._app(scope, receive, send)
            return
        name = split_host(host)[0] or host
        message = (
            f"this server does not answer to the host {host!r} (a guard against DNS "
            f"rebinding): start it with {ALLOWED_HOST_FLAG} {name} to allow it "
            f"({ALLOWED_HOST_FLAG} '*' allows any host)"
        )
        await answer(send, 400, envelope(errors.InvalidArgumentError.code, message))


# What a web page may send -----------------------------------------------------------------


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_of(scope: Scope) -> tuple[str, str, int | None]:
    """The scheme, host name and port of the server as this request reached it."""
    scheme = str(scope.get("scheme", "http"))
    given = _header(scope, b"host")
    if given is not None:
        name, port = split_host(given.decode("latin-1"))
    else:
        server = scope.get("server") or ("", None)
        name, port = str(server[0]).lower(), server[1]
    return scheme, name, port if port is not None else _DEFAULT_PORTS.get(scheme)


def _parse_origin(origin: str) -> tuple[str, str, int | None] | None:
    scheme, separator, authority = origin.strip().lower().partition("://")
    if not separator or not authority or "/" in authority:
        return None
    name, port = split_host(authority)
    if not name:
        return None
    return scheme, name, port if port is not None else _DEFAULT_PORTS.get(scheme)


def is_json(content_type: bytes | None) -> bool:
    """Whether a ``Content-Type`` names JSON (``application/json``, or a ``+json`` type)."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == JSON.encode() or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return _header(scope, b"transfer-encoding") is not None


class RequestShape:
    """Refuse what a page of another site could make a browser send.

    A write (``POST``, ``PUT``, ``PATCH``, ``DELETE``) whose ``Origin`` is not this server's
    own gets 403; a request without ``Origin`` (not a browser, or a page of this server on
    an old browser) goes on. A request of the API with a body (every ``POST``, ``PUT`` and
    ``PATCH`` of it) must be ``application/json``, else 415: a browser sends JSON to
    another site only after asking it (CORS), which this server never allows.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        if method in WRITE_METHODS:
            origin = _header(scope, b"origin")
            if origin is not None and _parse_origin(origin.decode("latin-1")) != _origin_of(scope):
                shown = origin.decode("latin-1")
                message = f"a write from a page of another site ({shown}) is refused"
                await answer(send, 403, envelope(errors.AccessDeniedError.code, message))
                return
        if (
            route_path(scope).startswith(API_PREFIX + "/")
            and (method in BODY_METHODS or _has_body(scope))
            and not is_json(_header(scope, b"content-type"))
        ):
            given = _header(scope, b"content-type")
            shown = "none" if given is None else given.decode("latin-1")
            message = f"the body must be {JSON} (Content-Type: {shown})"
            await answer(send, 415, envelope(errors.InvalidArgumentError.code, message))
            return
        await self._app(scope, receive, send)


# The token --------------------------------------------------------------------------------


class TokenGuard:
    """Refuse every request but the open paths that does not bear a token of the server
    (or, to read, the dashboard's cookie of one), and every write of a ``read`` token.

    The token's name is left in the scope under :data:`mltracker.tokens.WRITER_KEY`, for
    the routes that keep who wrote.
    """

    def __init__(self, app: ASGIApp, tokens: TokenSource) -> None:
        self._app = app
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = route_path(scope)
        if path in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        given: bytes | None = None
        cookies = accept = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
            elif name == b"cookie":
                cookies = value
            elif name == b"accept":
                accept = value
        reading = scope["method"] in ("GET", "HEAD") or (
            scope["method"] == "POST" and path in READING_POSTS
        )
        known = self._tokens.current()
        token = None
        problem = "a token is required"
        if given is not None and given.strip():
            secret, problem = bearer_secret(given)
            token = None if secret is None else known.by_secret(secret)
        elif reading:
            key = _cookie_key(_cookie(cookies))
            token = None if key is None else known.by_key(key)
        if token is not None:
            if not reading and not token.writes:
                message = (
                    f"the token {token.name!r} may only read (scope read): writes need a "
                    "token of scope write"
                )
                await answer(send, 403, envelope(errors.AccessDeniedError.code, message))
                return
            scope[WRITER_KEY] = token.name
            await self._app(scope, receive, send)
            return
        if reading and not given and b"text/html" in accept and _is_page(path):
            await _answer_redirect(send, dashboard.login_location(scope))
            return
        await answer(
            send,
            401,
            envelope(errors.AccessDeniedError.code, problem),
            [(b"www-authenticate", b"Bearer")],
        )


def bearer_secret(header: bytes) -> tuple[bytes | None, str]:
    """The token of an ``Authorization`` header, ``Bearer <token>`` (the scheme in any case,
    one space), or ``None`` and why it is refused."""
    scheme, space, secret = header.partition(b" ")
    if not space or scheme.lower() != b"bearer":
        return None, "wrong token: the Authorization header must be 'Bearer <token>'"
    if not is_token_text(secret):
        return None, (
            "wrong token: a token is printable ASCII without spaces (`mltracker token new` "
            "prints one)"
        )
    return secret, "wrong token"


def _cookie_key(value: bytes) -> bytes | None:
    """The token key a login cookie holds (64 hex digits), or ``None``."""
    if len(value) != 64:
        return None
    try:
        return bytes.fromhex(value.decode("ascii"))
    except ValueError:
        return None


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


# The body limit ---------------------------------------------------------------------------


class BodyLimit:
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
                await answer(send, 413, TooLarge(self._limit).body)
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
                    raise TooLarge(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counting, sending)
        except TooLarge as error:
            if not started:
                await answer(send, 413, error.body)


class Refusal(StarletteHTTPException):
    """A request refused while the application reads its body (too large, too slow).

    An HTTP exception, so that the application answers it with its handler wherever the body
    is read (``status_code``, the error envelope ``body``, ``headers``): FastAPI turns any
    other exception met while parsing a body into a 400. The guard that raised it answers it
    too when it reaches the guard before an answer started.
    """

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, message, headers)
        self.body = envelope(code, message)

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers`` as ASGI gives them."""
        return [(name.encode(), value.encode()) for name, value in (self.headers or {}).items()]


class TooLarge(Refusal):
    """A body without a content-length outgrew the limit while the application read it."""

    def __init__(self, limit: int) -> None:
        message = (
            f"the request body is larger than {limit} bytes (the server's --max-body-mb); "
            "send smaller batches"
        )
        super().__init__(413, message, errors.PayloadTooLargeError.code)


# Crashes ----------------------------------------------------------------------------------


class Contained:
    """Answer an unexpected exception of a route with 500 and log its traceback, without
    letting it reach the server.

    Starlette would answer it with the crash handler's 500, then raise it again for the
    server; uvicorn then closes the connection, and with a request body it did not read to
    the end the client may see the connection reset instead of the answer (and retry a
    request that failed for good).
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
        except Refusal:
            raise  # the answer of the guard that refused it
        except Exception:
            logger.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if not started:
                await answer(send, 500, CRASHED)
