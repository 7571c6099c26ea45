"""Slow clients, over raw sockets: a request whose line and headers trickle in is answered
408 and closed within the header timeout, so is a connection that sends nothing, and a body
that stalls gets 408 and writes nothing; many such connections at once do not keep a client
from writing. A client answered 408 sends its request again (a batch is never lost)."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest

import mltracker
from mltracker.server.timeouts import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT

from .conftest import Serve, Served
from .helpers import ServerProcess, assert_envelope, call, row_counts, stored_points
from .proxy import Failing, Proxy

#: Long enough for any machine to send a request in: the tests never wait for it to pass.
GENEROUS = 60.0
#: The request line and headers of a batch write, sent a byte at a time.
HEAD = (
    b"POST /api/v1/points HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: 100\r\nx-padding: " + b"p" * 200 + b"\r\n\r\n"
)


def connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=GENEROUS)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def trickle(sock: socket.socket, data: bytes, pause: float) -> int:
    """Send ``data`` a byte at a time, ``pause`` seconds apart, until the server answers or
    closes; how many bytes were sent by then."""
    for sent, byte in enumerate(data):
        readable, _, _ = select.select([sock], [], [], pause)
        if readable:
            return sent
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return len(data)


def assert_timed_out(answer: bytes, what: str) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert b"connection: close" in head.lower(), head
    error = orjson.loads(body)["error"]
    assert error["code"] == "backend.unavailable", error
    assert what in error["message"], error


@pytest.fixture
def quick(serve: Serve) -> Served:
    """A server that waits 1 s for headers and for each chunk of a body."""
    return serve(header_timeout=1.0, body_timeout=1.0)


def test_headers_sent_a_byte_at_a_time_are_cut_off(quick: Served) -> None:
    with connect(quick) as sock:
        sent = trickle(sock, HEAD, pause=0.25)  # all of it would take about a minute
        assert sent < len(HEAD), "the server waited for the whole trickle"
        assert_timed_out(read_all(sock), "headers did not come within 1 s")
    assert row_counts(quick.path)["metrics"] == 0


def test_a_connection_that_sends_nothing_is_closed(quick: Served) -> None:
    with connect(quick) as sock:
        assert_timed_out(read_all(sock), "headers did not come within 1 s")


def test_the_next_request_of_a_kept_connection_is_timed_too(quick: Served) -> None:
    with connect(quick) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        first = b""
        while b'"status":"ok"' not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first
        sent = trickle(sock, HEAD, pause=0.25)
        assert sent < len(HEAD)
        assert_timed_out(read_all(sock), "headers did not come within 1 s")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_that_stalls_gets_408_and_writes_nothing(quick: Served, chunked: bool) -> None:
    framing = b"transfer-encoding: chunked" if chunked else b"content-length: 1000"
    start = b'{"batch_id":null,"series":[],'
    with connect(quick) as sock:
        sock.sendall(
            b"POST /api/v1/points HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"content-type: application/json\r\n" + framing + b"\r\n\r\n"
        )
        sock.sendall(b"%x\r\n%s\r\n" % (len(start), start) if chunked else start)
        assert_timed_out(read_all(sock), "body stalled for 1 s")
    assert row_counts(quick.path)["metrics"] == 0


def test_a_body_sent_a_byte_at_a_time_is_cut_off(quick: Served) -> None:
    body = b'{"batch_id":null,"series":[],"s":[],"step":[],"value":[],"timestamp":[]}'
    body += b" " * (1000 - len(body))
    with connect(quick) as sock:
        sock.sendall(
            b"POST /api/v1/points HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
        )
        sent = trickle(sock, body, pause=0.25)  # never a stall of 1 s, but 4 bytes a second
        assert sent < len(body), "the server waited for the whole trickle"
        assert_timed_out(read_all(sock), "or came slower than 16 KiB/s")


def test_a_body_sent_in_pieces_within_the_timeout_is_taken(serve: Serve) -> None:
    served = serve()  # the default timeouts: far longer than the pauses
    experiment = call("POST", served.api + "/experiments", {"name": "e"}).json
    model = call("POST", served.api + f"/experiments/{experiment['id']}/models", {"hash": "m"}).json
    body = orjson.dumps(
        {
            "batch_id": None,
            "series": [[model["id"], "loss", None]],
            "s": [0, 0],
            "step": [0, 1],
            "value": [0.5, 0.25],
            "timestamp": [1.0, 2.0],
            "exact": {},
        }
    )
    with connect(served) as sock:
        sock.sendall(
            b"POST /api/v1/points HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
        )
        for start in range(0, len(body), 20):
            time.sleep(0.05)
            sock.sendall(body[start : start + 20])
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert stored_points(served.path, "m", "loss") == [(0, 0.5), (1, 0.25)]


def test_many_slow_connections_do_not_keep_a_client_from_writing(serve: Serve) -> None:
    served = serve(header_timeout=2.0, body_timeout=2.0)
    stalled_bodies = b"POST /api/v1/points HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n"
    with ExitStack() as stack:
        slow = [stack.enter_context(connect(served)) for _ in range(200)]
        for number, sock in enumerate(slow):  # half trickle headers, half stall their body
            if number % 2:
                sock.sendall(b"POST /api/v1/points HTTP/1.1\r\nhost:")
            else:
                sock.sendall(stalled_bodies + b"content-type: application/json\r\n\r\n{")
        keep_trickling = threading.Event()
        trickler = threading.Thread(target=_trickle_all, args=(slow, keep_trickling))
        trickler.start()
        try:
            with mltracker.connect(served.url) as tracker:
                model = tracker.experiments.create("e").models.create("m")
                for step in range(1_000):
                    model.metrics.log("loss", float(step), step=step)
                tracker.flush()
        finally:
            keep_trickling.set()
            trickler.join()
        assert len(stored_points(served.path, "m", "loss")) == 1_000
        for sock in slow:  # every one is let go without the client ending it
            answer = read_all(sock)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def _trickle_all(socks: list[socket.socket], stop: threading.Event) -> None:
    """Send a byte a second on each connection that is still open."""
    while not stop.wait(1.0):
        for sock in socks:
            try:
                sock.send(b"x")
            except OSError:
                pass


def test_the_defaults_are_those_of_the_command() -> None:
    from mltracker.cli.serving import server_command

    defaults = {param.name: param.default for param in server_command.params}
    assert defaults["header_timeout"] == DEFAULT_HEADER_TIMEOUT == 10.0
    assert defaults["body_timeout"] == DEFAULT_BODY_TIMEOUT == 30.0


# The client ---------------------------------------------------------------------------------
TIMED_OUT = (
    b'{"error":{"code":"backend.unavailable","message":"the request body stalled for 1 s; '
    b'send it again"}}'
)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(str(tmp_path / "store.db"), log=tmp_path / "server.log") as running:
        yield running


def first_timed_out(count: int, method: str, path: str) -> Failing:
    left = [count]
    lock = threading.Lock()

    def failing(sent_method: str, sent_path: str) -> tuple[int, bytes] | None:
        if sent_method != method or sent_path.partition("?")[0] != path:
            return None
        with lock:
            if left[0] == 0:
                return None
            left[0] -= 1
        return 408, TIMED_OUT

    return failing


def test_a_batch_answered_408_is_sent_again_and_stored(
    server_process: ServerProcess, tmp_path: Path
) -> None:
    with Proxy(server_process.url, first_timed_out(2, "POST", "/api/v1/points")) as proxy:
        tracker = mltracker.connect(proxy.url)
        model = tracker.experiments.create("e").models.create("m")
        for step in range(100):
            model.metrics.log("loss", float(step), step=step)
        tracker.flush()
        assert proxy.failed == [("POST", "/api/v1/points")] * 2
        assert stored_points(tmp_path / "store.db", "m", "loss") == [
            (step, float(step)) for step in range(100)
        ]
        tracker.close()
    assert not tracker.writer.spool_files


def test_a_request_that_cannot_be_repeated_is_sent_again_after_a_408(
    server_process: ServerProcess,
) -> None:
    # A 408 says the server did not read the request: even a create is sent again.
    failing = first_timed_out(1, "POST", "/api/v1/experiments")
    with Proxy(server_process.url, failing) as proxy:
        with mltracker.connect(proxy.url) as tracker:
            tracker.experiments.create("e")
            assert [experiment.name for experiment in tracker.experiments.list()] == ["e"]
        assert proxy.failed == [("POST", "/api/v1/experiments")]


def test_a_408_answer_of_the_server_is_its_envelope(quick: Served) -> None:
    with connect(quick) as sock:
        sock.sendall(HEAD[:40])
        answer = read_all(sock)
    assert_timed_out(answer, "did not come")
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    # and a whole request on a new connection is answered as ever
    assert_envelope(call("GET", quick.api + "/nothing"), 404)
