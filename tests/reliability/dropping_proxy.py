"""A TCP proxy in front of an HTTP server that loses answers: for every ``every``-th request
it forwards the request, reads the server's whole answer (so the server surely applied it),
and closes the client's connection without passing the answer on.

With ``outage`` seconds, every lost answer is followed by an outage of the server as the
client sees it: for that long, every connection is closed at once, before anything is
forwarded (the server applied the request, and the client cannot ask again for a while).

It listens on 127.0.0.1 only. It reads HTTP/1.1 messages framed by ``Content-Length`` (what
the MLTracker client and server send); a connection it cannot frame is closed. Use it as a
context manager: on exit every socket is closed and every thread joined.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

_POLL = 0.1  # how often a blocked thread looks whether the proxy is closing
_JOIN = 10.0


class _Closed(Exception):
    """The peer closed its side, the message could not be framed, or the proxy is closing."""


class _Reader:
    """HTTP messages read one at a time from a socket."""

    def __init__(self, connection: socket.socket, stop: threading.Event) -> None:
        self._connection = connection
        self._stop = stop
        self._buffer = b""

    def _fill(self) -> None:
        while True:
            try:
                data = self._connection.recv(65536)
            except TimeoutError:
                if self._stop.is_set():
                    raise _Closed from None
                continue
            except OSError:
                raise _Closed from None
            if not data:
                raise _Closed
            self._buffer += data
            return

    def message(self) -> bytes:
        """The next whole message (head and body)."""
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, _, _ = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding":
                raise _Closed  # not framed by a length: not what this proxy serves
        size = len(head) + 4 + length
        while len(self._buffer) < size:
            self._fill()
        message, self._buffer = self._buffer[:size], self._buffer[size:]
        return message


class DroppingProxy:
    """Forwards connections to ``127.0.0.1:upstream_port``, losing every ``every``-th answer
    (and then refusing to forward anything for ``outage`` seconds).

    ``answered`` counts the answers the server gave through it, ``dropped`` those it lost,
    ``turned_away`` the connections it closed during outages.
    """

    def __init__(self, upstream_port: int, every: int, outage: float = 0.0) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._every = every
        self._outage = outage
        self._down_until = 0.0
        self.turned_away = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.answered = 0
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept")

    def __enter__(self) -> DroppingProxy:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, end every connection, and join every thread (bounded)."""
        self._stop.set()
        if self._acceptor.is_alive() or self._acceptor.ident is not None:
            self._acceptor.join(_JOIN)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(_JOIN)
        alive = [thread.name for thread in threads + [self._acceptor] if thread.is_alive()]
        assert not alive, f"proxy threads still running: {alive}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), name="proxy-conn")
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _down(self) -> bool:
        with self._lock:
            down = time.monotonic() < self._down_until
            self.turned_away += down
            return down

    def _serve(self, client: socket.socket) -> None:
        with client:
            if self._down():
                return
            client.settimeout(_POLL)
            try:
                server = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                return
            with server:
                server.settimeout(_POLL)
                requests, answers = _Reader(client, self._stop), _Reader(server, self._stop)
                try:
                    while True:
                        request = requests.message()
                        if self._down():
                            return
                        server.sendall(request)
                        answer = answers.message()
                        with self._lock:
                            self.answered += 1
                            lost = self.answered % self._every == 0
                            self.dropped += lost
                            if lost:
                                self._down_until = time.monotonic() + self._outage
                        if lost:
                            return  # the server applied it; the client never hears so
                        client.sendall(answer)
                except (_Closed, OSError):
                    return
