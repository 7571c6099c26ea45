"""A fault-injecting HTTP proxy between MLTracker clients and a tracking server.

:class:`FaultProxy` listens on 127.0.0.1 and forwards each HTTP/1.1 request of a client to
the server (a new upstream connection per request, so that a server killed and restarted
meanwhile is never mistaken for a fault), and answers the client on its own kept-alive
connection. While faults are on, each request is, with the probabilities of
:class:`Rates` (only for the kinds enabled):

- ``500``: answered by the proxy with the server's own crash envelope, not forwarded;
- ``503``: answered by the proxy with the server's "unavailable" envelope, not forwarded;
- ``drop``: forwarded, the answer read from the server (which applied the request), then the
  client's connection is closed without an answer: a lost acknowledgement.

and, as the test switches them:

- ``413``: :meth:`FaultProxy.limit_bodies` makes the proxy answer 413, with the server's own
  envelope, every request whose body is larger than a limit (as a reverse proxy with a
  smaller limit than the server's would), without forwarding it;
- ``refuse``: :meth:`FaultProxy.refuse` closes the listening socket (connections are
  refused) and the idle kept-alive connections of clients, until :meth:`FaultProxy.accept`.

The server being down (killed) is not a fault of the proxy: a request it cannot connect
upstream for is answered 502, as a reverse proxy would, and one whose upstream connection
breaks after it was sent gets its client connection closed without an answer.

Every fault is counted (:attr:`FaultProxy.counts`) and logged with its time, method and path
(:attr:`FaultProxy.events`); an injected answer's message says that the proxy made it, so a
client's stderr that quotes it names the fault. :meth:`FaultProxy.close` ends every thread
(joined, bounded) and closes every socket.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import IO

#: Headers that belong to one hop, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)
MAX_HEADER_LINES = 200
UPSTREAM_TIMEOUT = 60.0
JOIN_SECONDS = 15.0


@dataclass(frozen=True)
class Rates:
    """The probability, per request, of each per-request fault (while faults are on)."""

    error_500: float = 0.03
    error_503: float = 0.03
    drop: float = 0.03


@dataclass(frozen=True)
class Event:
    """One fault the proxy made, for the report."""

    at: float  # time.time()
    kind: str
    method: str
    path: str
    body_bytes: int


def envelope(code: str, message: str) -> bytes:
    """The server's error body (``mltracker.server.app.envelope``)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class _Request:
    __slots__ = ("body", "close", "headers", "method", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        connection = ",".join(v for k, v in headers if k.lower() == "connection").lower()
        self.close = "close" in connection or version == "HTTP/1.0"


class _Closed(Exception):
    """The client's connection ended (cleanly or not) before a whole request came."""


def _read_request(reader: IO[bytes]) -> _Request | None:
    """The next request on a client connection, or ``None`` at its clean end."""
    line = reader.readline(65537)
    if not line:
        return None
    if not line.endswith(b"\r\n"):
        raise _Closed("truncated request line")
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3:
        raise _Closed(f"bad request line {line[:80]!r}")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    for _ in range(MAX_HEADER_LINES):
        raw = reader.readline(65537)
        if not raw.endswith(b"\r\n"):
            raise _Closed("truncated headers")
        if raw == b"\r\n":
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    else:
        raise _Closed("too many headers")
    lowered = {name.lower(): value for name, value in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        body = _read_chunked(reader)
    else:
        length = int(lowered.get("content-length", "0") or "0")
        body = reader.read(length) if length else b""
        if len(body) != length:
            raise _Closed("truncated body")
    return _Request(method, target, version, headers, body)


def _read_chunked(reader: IO[bytes]) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = reader.readline(1026)
        if not size_line.endswith(b"\r\n"):
            raise _Closed("truncated chunk size")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the blank line
                trailer = reader.readline(65537)
                if not trailer.endswith(b"\r\n"):
                    raise _Closed("truncated trailers")
                if trailer == b"\r\n":
                    return b"".join(chunks)
        chunk = reader.read(size + 2)
        if len(chunk) != size + 2:
            raise _Closed("truncated chunk")
        chunks.append(chunk[:size])


def _answer(
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    close: bool,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers if name.lower() not in HOP_BY_HOP)
    lines.append(f"content-length: {len(body)}")
    lines.append("connection: close" if close else "connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection:
    """One client connection and the thread that serves it."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.lock = threading.Lock()
        self.idle = True
        self.upstream: http.client.HTTPConnection | None = None
        self.thread = threading.Thread(target=self.serve, name="soak-proxy-connection", daemon=True)

    def shut(self) -> None:
        """Shut the client socket down (the serving thread then ends and closes it)."""
        try:
            self.client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def shut_if_idle(self) -> bool:
        with self.lock:
            if self.idle:
                self.shut()
                return True
            return False

    def shut_upstream(self) -> None:
        upstream = self.upstream
        if upstream is not None and upstream.sock is not None:
            try:
                upstream.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(self) -> None:
        reader = self.client.makefile("rb")
        try:
            while not self.proxy.stopping:
                with self.lock:
                    self.idle = True
                try:
                    request = _read_request(reader)
                except (_Closed, OSError, ValueError):
                    return
                if request is None:
                    return
                with self.lock:
                    self.idle = False
                if not self._handle(request):
                    return
        finally:
            reader.close()
            self.client.close()
            self.proxy._forget(self)

    def _send(self, data: bytes) -> bool:
        try:
            self.client.sendall(data)
            return True
        except OSError:
            return False

    def _handle(self, request: _Request) -> bool:
        """Serve one request; whether the connection goes on."""
        proxy = self.proxy
        fault = proxy._choose_fault(request)
        if fault is not None and fault != "drop":
            proxy._record(fault, request)
            status, reason, body = proxy._injected(fault)
            headers = [("content-type", "application/json")]
            return self._send(_answer(status, reason, headers, body, close=request.close)) and (
                not request.close
            )
        try:
            answer = self._forward(request)
        except ConnectionRefusedError:
            proxy._record("502-server-down", request)
            body = envelope("backend.unavailable", "soak proxy: the server is down (502)")
            headers = [("content-type", "application/json")]
            return self._send(_answer(502, "Bad Gateway", headers, body, close=request.close)) and (
                not request.close
            )
        except (OSError, http.client.HTTPException):
            # It was sent: the server may have done it. No answer, as if it had died mid-way.
            proxy._record("lost-upstream", request)
            return False
        if fault == "drop":
            proxy._record("drop", request)
            return False
        status, reason, headers, body = answer
        return self._send(_answer(status, reason, headers, body, close=request.close)) and (
            not request.close
        )

    def _forward(self, request: _Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(
            "127.0.0.1", self.proxy.upstream_port, timeout=UPSTREAM_TIMEOUT
        )
        self.upstream = upstream
        try:
            upstream.putrequest(
                request.method, request.target, skip_host=True, skip_accept_encoding=True
            )
            for name, value in request.headers:
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.putheader("content-length", str(len(request.body)))
            upstream.putheader("connection", "close")
            upstream.endheaders(request.body or None)
            response = upstream.getresponse()
            body = response.read()
            return response.status, response.reason, list(response.getheaders()), body
        finally:
            self.upstream = None
            upstream.close()


class FaultProxy:
    """The proxy; ``url`` is what clients connect to. Use it as a context manager."""

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int,
        kinds: frozenset[str],
        rates: Rates = Rates(),
        body_limit: int = 4 * 1024,
    ) -> None:
        self.upstream_port = upstream_port
        self.kinds = kinds
        self.rates = rates
        self.body_limit = body_limit
        self.counts: Counter[str] = Counter()
        self.events: list[Event] = []
        self.requests = 0
        self.stopping = False
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults_on = False
        self._limit_on = False
        self._listening = True
        self._connections: set[_Connection] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name="soak-proxy", daemon=True)
        self._acceptor.start()

    # Switches

    def faults(self, on: bool) -> None:
        """Turn the per-request faults (500, 503, drop) on or off."""
        self._faults_on = on

    def limit_bodies(self, on: bool) -> None:
        """Answer 413 to bodies larger than ``body_limit`` (or stop doing so)."""
        with self._lock:
            if on and not self._limit_on:
                self.counts["413-episodes"] += 1
            self._limit_on = on

    def refuse(self) -> None:
        """Refuse connections (the listener is closed) and close idle client connections,
        until :meth:`accept`."""
        with self._lock:
            self._listening = False
            self.counts["refuse-episodes"] += 1
            connections = list(self._connections)
        deadline = time.monotonic() + 5.0
        while self._listener is not None and time.monotonic() < deadline:
            time.sleep(0.01)  # the acceptor closes it
        shut = sum(connection.shut_if_idle() for connection in connections)
        with self._lock:
            self.counts["refuse-idle-closed"] += shut

    def accept(self) -> None:
        """Accept connections again."""
        self._listening = True

    @property
    def refusing(self) -> bool:
        return not self._listening

    # Internals

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", port))
            listener.listen(128)
            listener.settimeout(0.05)
        except OSError:
            listener.close()
            raise
        return listener

    def _accept_loop(self) -> None:
        while not self.stopping:
            if not self._listening:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                time.sleep(0.01)
                continue
            if self._listener is None:
                try:
                    self._listener = self._listen(self.port)
                except OSError:
                    time.sleep(0.05)
                    continue
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                continue
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, client)
            with self._lock:
                if self.stopping:
                    client.close()
                    break
                self._connections.add(connection)
                self._threads = [thread for thread in self._threads if thread.is_alive()]
                self._threads.append(connection.thread)
            connection.thread.start()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _choose_fault(self, request: _Request) -> str | None:
        with self._lock:
            self.requests += 1
            if "413" in self.kinds and self._limit_on and len(request.body) > self.body_limit:
                return "413"
            if not self._faults_on or not request.target.startswith("/api/v1/"):
                return None
            if request.target.startswith("/api/v1/health"):
                return None
            draw = self._rng.random()
        for kind, rate in (
            ("500", self.rates.error_500),
            ("503", self.rates.error_503),
            ("drop", self.rates.drop),
        ):
            if kind in self.kinds:
                if draw < rate:
                    return kind
                draw -= rate
        return None

    def _injected(self, fault: str) -> tuple[int, str, bytes]:
        if fault == "413":
            message = (
                f"the request body is larger than {self.body_limit} bytes; send smaller "
                "batches (soak proxy: injected 413)"
            )
            return 413, "Payload Too Large", envelope("invalid_argument", message)
        if fault == "500":
            message = "internal error of the server (soak proxy: injected 500)"
            return 500, "Internal Server Error", envelope("backend", message)
        message = "the store is unavailable (soak proxy: injected 503)"
        return 503, "Service Unavailable", envelope("backend.unavailable", message)

    def _record(self, kind: str, request: _Request) -> None:
        path = request.target.split("?", 1)[0]
        with self._lock:
            self.counts[kind] += 1
            self.events.append(Event(time.time(), kind, request.method, path, len(request.body)))

    def events_between(self, start: float, end: float) -> list[Event]:
        with self._lock:
            return [event for event in self.events if start <= event.at <= end]

    # Lifecycle

    def close(self) -> list[str]:
        """Stop: close the listener and every connection, join every thread (bounded).
        Returns the names of threads that did not end (empty when all did)."""
        with self._lock:
            self.stopping = True
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            connection.shut()
            connection.shut_upstream()
        stuck: list[str] = []
        deadline = time.monotonic() + JOIN_SECONDS
        for thread in [self._acceptor, *threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
