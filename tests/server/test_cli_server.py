"""``mltracker server`` and ``mltracker sync`` as real processes.

The server: it creates its store, prints its URL, answers, and on SIGTERM ends after
writing the batch it was receiving. Sync: a client process that logs while the server is
down ends anyway, its points left in a spool file; ``mltracker sync`` delivers them once the
server is back, each point once and in order.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from contextlib import closing
from pathlib import Path

import orjson
import pytest

import mltracker
from mltracker.backends.http.store import HttpStore
from mltracker.backends.sql.schema import SCHEMA_VERSION
from mltracker.connect import close_all

from .helpers import ServerProcess, call, stored_points, sync
from .test_security import point_batch


def schema_versions(path: Path) -> list[int]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT version FROM mltracker_schema")]
    finally:
        connection.close()


def _stored_store_id(path: Path) -> str:
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT id FROM mltracker_store").fetchall()
    assert len(rows) == 1 and uuid.UUID(rows[0][0])
    return str(rows[0][0])


def test_the_server_creates_its_store_prints_its_url_and_answers(tmp_path: Path) -> None:
    path = tmp_path / "new folder" / "store.db"
    with ServerProcess(str(path), log=tmp_path / "server.log") as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url), server.url
        assert server.port != 0
        assert len(schema_versions(path)) == 1  # created before it listens
        health = call("GET", server.url + "/api/v1/health")
        assert health.status == 200, health.body
        stored_id = _stored_store_id(path)
        assert health.json == {
            "status": "ok",
            "store_id": stored_id,
            "schema_version": SCHEMA_VERSION,
            "server_version": mltracker.__version__,
        }
        client = HttpStore(server.url)
        assert client.store_id() == stored_id
        client.close()
        home = call("GET", server.url + "/")
        assert home.status == 200 and b"/api/docs" in home.body
        assert call("GET", server.url + "/api/v1/openapi.json").json["openapi"].startswith("3.")
        code = server.stop(signal.SIGTERM)
        assert server.lines.get(timeout=30) is None, "one line on stdout: the URL"
        log = server.stderr()
    assert code in (0, -signal.SIGTERM), (code, log)
    assert f"MLTracker server of {path} at {server.url}" in log
    assert "Traceback" not in log and "ERROR" not in log, log


def refused(port: int) -> bool:
    """Whether nothing listens on ``port`` of 127.0.0.1 any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # accepted by a listener that was closing: ask again
        return False
    return False


def read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while end not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_ends_the_server_after_the_batch_it_is_receiving(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with ServerProcess(str(path), log=tmp_path / "server.log") as server:
        with mltracker.connect(server.url) as tracker:
            model = tracker.experiments.create("e").models.create("m")
        close_all()
        body = orjson.dumps(point_batch(str(model.id), range(20_000)))
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(
                (
                    "POST /api/v1/points HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
                ).encode()
            )
            # The application waits for the body: the request is in progress.
            assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 ")
            server.popen.send_signal(signal.SIGTERM)
            while not refused(server.port):  # shutting down: it no longer accepts
                pass
            sock.sendall(body)
            answer = read_until(sock, b'"written"')
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
            assert answer.endswith(b'"written"') or b'"written":20000' in answer, answer[-200:]
        code = server.popen.wait(timeout=60)
        assert code in (0, -signal.SIGTERM), (code, server.stderr())
    assert stored_points(path, "m", "loss") == [(step, step * 0.5 + 0.25) for step in range(20_000)]


# Sync ----------------------------------------------------------------------------------------
POINTS = 3_000

#: A training job: creates its model while the server is up, then (server down) logs
#: ``points`` steps of two series and ends, by closing its handle or by just exiting.
CLIENT = textwrap.dedent(
    """
    import sys, mltracker
    url, points, ending = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    tracker = mltracker.connect(url)
    model = tracker.experiments.get_or_create("offline").models.create("m")
    print("ready", flush=True)
    sys.stdin.readline()  # the server is down now
    for step in range(points):
        model.metrics.log("loss", step * 0.5, step=step)
        model.metrics.log("accuracy", step / points, step=step, phase="validation")
    print("logged", flush=True)
    if ending == "close":
        try:
            tracker.close()
        except mltracker.MLTrackerError as error:
            print("close raised", type(error).__name__, flush=True)
        else:
            print("closed", flush=True)
    """
)


def log_while_the_server_is_down(
    tmp_path: Path, ending: str, environment: dict[str, str], bound: float
) -> tuple[int, str, str]:
    """Run :data:`CLIENT` against a server of ``tmp_path/store.db`` that stops once the model
    is created; the port the server had, and the client's stdout and stderr."""
    with ServerProcess(str(tmp_path / "store.db"), log=tmp_path / "server.log") as server:
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, server.url, str(POINTS), ending],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **environment},
        )
        assert client.stdout is not None and client.stdin is not None
        assert client.stdout.readline() == "ready\n", client.stderr.read() if client.stderr else ""
        server.stop()
    with client:
        try:
            out, err = client.communicate("go\n", timeout=bound)
        except subprocess.TimeoutExpired:
            client.kill()
            out, err = client.communicate()
            raise AssertionError(
                f"the client still ran {bound} s after the server went down:\n{out}\n{err}"
            ) from None
    assert client.returncode == 0, (out, err)
    return server.port, out, err


def assert_delivered_by_sync(tmp_path: Path, port: int) -> None:
    path = tmp_path / "store.db"
    spool = tmp_path / "spool"
    assert len(list(spool.glob("*.spool"))) == 1, list(spool.iterdir())
    assert stored_points(path, "m", "loss") == []
    with ServerProcess(str(path), port=port, log=tmp_path / "server-again.log") as server:
        assert sync(server.url) == {
            "store": server.url,
            "written": 2 * POINTS,
            "written_operations": 2,  # the start and the end of the client's run
            "spool_files_left": [],
        }
        assert sync(server.url)["written"] == 0
        server.stop()
    assert stored_points(path, "m", "loss") == [(step, step * 0.5) for step in range(POINTS)]
    accuracy = stored_points(path, "m", "accuracy")
    assert accuracy == [(step, step / POINTS) for step in range(POINTS)]
    assert list(spool.glob("*.spool")) == []


@pytest.mark.parametrize("ending", ["exit", "close"])
def test_sync_delivers_what_a_client_spooled_while_the_server_was_down(
    tmp_path: Path, ending: str
) -> None:
    port, out, err = log_while_the_server_is_down(
        tmp_path, ending, {"MLTRACKER_RETRY_SECONDS": "1"}, bound=60
    )
    assert "logged" in out
    if ending == "close":
        assert "closed" in out, out  # the points are in the spool: close() returns
    # The other writes: the start and the end of the client's run.
    assert f"{2 * POINTS} metric points and 2 other writes could not be written" in err, err
    assert str(tmp_path / "spool") in err
    assert_delivered_by_sync(tmp_path, port)


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["exit", "close"])
def test_a_client_ends_within_the_close_bound_when_the_server_stays_down(
    tmp_path: Path, ending: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the library's default retry budget (120 s): closing and exiting give up after
    the close bound (10 s), and the points wait in the spool."""
    monkeypatch.delenv("MLTRACKER_RETRY_SECONDS", raising=False)
    port, out, err = log_while_the_server_is_down(tmp_path, ending, {}, bound=45)
    assert "logged" in out
    if ending == "close":
        assert "closed" in out, out
    assert_delivered_by_sync(tmp_path, port)
