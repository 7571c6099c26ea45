"""A small HTTP proxy in front of a tracking server, over real sockets, that answers some
requests with an error of its own instead of passing them on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import urllib3

#: The body of the server's own answer to a failure it did not foresee (``mltracker.server``).
CRASHED = b'{"error":{"code":"backend","message":"internal error of the server (see its log)"}}'

#: Decides, for a request's method and path, whether the proxy fails it (instead of passing
#: it on): the status and body to answer, or ``None``.
Failing = Callable[[str, str], "tuple[int, bytes] | None"]


class Proxy:
    """``url`` passes every request on to ``upstream``, but those ``failing`` fails; use it
    as a context manager. ``failed`` lists the (method, path) of the requests it failed,
    ``passed`` those it passed on."""

    def __init__(self, upstream: str, failing: Failing) -> None:
        self.failed: list[tuple[str, str]] = []
        self.passed: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    failure = failing(self.command, self.path)
                    (proxy.failed if failure else proxy.passed).append((self.command, self.path))
                if failure is not None:
                    status, data, kind = *failure, "application/json"
                else:
                    headers = {
                        name: value
                        for name, value in self.headers.items()
                        if name.lower() in ("content-type", "authorization", "accept")
                    }
                    answer = proxy._http.request(
                        self.command, upstream + self.path, body=body, headers=headers
                    )
                    status, data = answer.status, answer.data
                    kind = answer.headers.get("content-type", "application/json")
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)
        self._http.clear()
