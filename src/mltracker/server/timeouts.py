"""Slow clients: how long a request's headers, and a stalled body, may take.

uvicorn closes a connection that stays idle between two requests (its keep-alive timeout),
but not one whose request trickles in: every byte restarts the wait, and a connection that
sends nothing at all is never timed. The application, for its part, waits as long as a body
takes. A client sending a byte a second held its connection, its task and its buffers as long
as it liked (1,200 such connections were held 20-30 s, and longer had they kept sending).

- :func:`http_protocol`: uvicorn's HTTP/1.1 protocol (httptools where installed, else h11,
  as uvicorn chooses) with a deadline for the request line and headers: ``header_timeout``
  seconds from the connection, or from the first byte of a request after the previous
  answer. Past it the server answers 408 and closes the connection.
- :class:`BodyTimeout`: ASGI middleware that answers 408 (and uvicorn then closes the
  connection) when the body stalls ``body_timeout`` seconds between two of its chunks, or
  trickles in slower than :data:`MIN_BODY_RATE` (16 KiB/s: a 32 MiB body may take
  ``body_timeout`` + 2,048 s, a byte a second is cut after ``body_timeout``).

A 408 carries the error envelope of code ``backend.unavailable``: the server did nothing
with the request, and the client sends it again (``mltracker.backends.http``); a client that
does not retry it keeps what it sent as it would for a server it cannot reach.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from mltracker import errors
from mltracker.server.goodbye import TlsGoodbye
from mltracker.server.guards import (
    ASGIApp,
    Message,
    Receive,
    Refusal,
    Scope,
    Send,
    answer,
    envelope,
)

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "MIN_BODY_RATE",
    "BodyTimeout",
    "TimedOut",
    "http_protocol",
]

#: Seconds for a request's line and headers (``--header-timeout``).
DEFAULT_HEADER_TIMEOUT = 10.0
#: Seconds a body may stall between two chunks (``--body-timeout``).
DEFAULT_BODY_TIMEOUT = 30.0
#: Bytes a second below which a body is too slow: it may take the body timeout, and a
#: second more per this many bytes.
MIN_BODY_RATE = 16 * 1024


class TimedOut(Refusal):
    """A request's body stalled longer than the body timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"the request body stalled for {seconds:g} s, or came slower than "
            f"{MIN_BODY_RATE // 1024} KiB/s; send it again",
            errors.BackendUnavailableError.code,
            headers={"connection": "close"},
        )


def _timed_out_answer(seconds: float) -> bytes:
    """A whole 408 answer, for a connection whose request never became one."""
    body = envelope(
        errors.BackendUnavailableError.code,
        f"the request line and headers did not come within {seconds:g} s; send it again",
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeaderDeadline(asyncio.Protocol):
    """A deadline for the line and headers of each request, mixed into one of uvicorn's
    HTTP/1.1 protocols (before it among the bases).

    It reads what every such protocol of uvicorn has: ``cycle``, the request being answered
    (a new one as soon as a request's headers are whole; ``None`` before the first), and
    ``transport``.
    """

    cycle: Any
    transport: asyncio.Transport

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._header_answer = _timed_out_answer(header_timeout)
        self._header_timer: asyncio.TimerHandle | None = None
        #: The request being answered when the deadline was set: another one means the
        #: headers came.
        self._awaited: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._start_header_timer()  # the first byte of the next request
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._awaited:
            self._stop_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._awaited = self.cycle
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(self._header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.cycle is not self._awaited:
            return  # gone, or the headers came in a way data_received did not see
        self.transport.write(self._header_answer)
        self.transport.close()


class _H11WithHeaderDeadline(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline."""


class _TlsH11WithHeaderDeadline(TlsGoodbye, _H11WithHeaderDeadline):
    """... and, for a server of TLS, connections that a shutdown cuts once sent."""


#: The protocol uvicorn would choose (httptools where installed), with the deadline; and the
#: same for a server that speaks TLS itself (``mltracker.server.goodbye``).
_PROTOCOL: type[_HeaderDeadline] = _H11WithHeaderDeadline
_TLS_PROTOCOL: type[_HeaderDeadline] = _TlsH11WithHeaderDeadline

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: uvicorn speaks HTTP/1.1 through h11
    pass
else:

    class _HttpToolsWithHeaderDeadline(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header deadline."""

    class _TlsHttpToolsWithHeaderDeadline(TlsGoodbye, _HttpToolsWithHeaderDeadline):
        """... and, for a server of TLS, connections that a shutdown cuts once sent."""

    _PROTOCOL = _HttpToolsWithHeaderDeadline
    _TLS_PROTOCOL = _TlsHttpToolsWithHeaderDeadline


def http_protocol(header_timeout: float, *, tls: bool = False) -> type[asyncio.Protocol]:
    """What to give uvicorn as its HTTP protocol (``http=``) for ``header_timeout`` seconds
    per request's headers (and, with ``tls``, the shutdown of ``mltracker.server.goodbye``).
    It can be pickled (``--workers`` sends it to each worker)."""
    made = functools.partial(_TLS_PROTOCOL if tls else _PROTOCOL, header_timeout=header_timeout)
    return made  # type: ignore[return-value]  # called like the class, which uvicorn does


class BodyTimeout:
    """Answer 408, before the application has answered, when a request's body stalls
    ``seconds`` between two chunks (or before the first), or comes slower than
    :data:`MIN_BODY_RATE` (it may take ``seconds`` plus a second per that many bytes); the
    connection is then closed."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self._app = app
        self._seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        seconds = self._seconds
        clock = asyncio.get_running_loop().time
        first: float | None = None  # when the application first asked for the body
        received = 0
        ended = False
        started = False

        async def timed() -> Message:
            nonlocal first, received, ended
            if ended:  # after the body: waiting for the client to go is no stall
                return await receive()
            now = clock()
            first = now if first is None else first
            wait = min(seconds, first + seconds + received / MIN_BODY_RATE - now)
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):
                    message = await receive()
            except TimeoutError:
                raise TimedOut(seconds) from None
            received += len(message.get("body", b""))
            ended = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, timed, sending)
        except TimedOut as error:
            if not started:
                await answer(send, error.status_code, error.body, error.raw_headers)
