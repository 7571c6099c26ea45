"""``mltracker server`` as a real process: read-only serves the store as it is, a server of
a server is refused, a 500 leaves its traceback in the log, the address it announces, its
help; and ``mltracker sync`` tells each notice once."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mltracker.backends.sql.store import SqlStore
from mltracker.errors import BackendError

from .conftest import Serve
from .helpers import ServerProcess, call
from .test_cli_server import POINTS, log_while_the_server_is_down, schema_versions
from .test_security import fill


def mltracker(
    *args: str, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mltracker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(environment or {})},
    )


def tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}
    finally:
        connection.close()


# Read-only -------------------------------------------------------------------------------------
def test_a_read_only_server_serves_an_older_store_without_upgrading_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    fill(str(path))
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE write_batches")
    connection.execute("UPDATE mltracker_schema SET version = 1")
    connection.commit()
    connection.close()
    with ServerProcess(str(path), "--read-only", log=tmp_path / "server.log") as server:
        answer = call("GET", server.url + "/api/v1/experiments")
        assert answer.status == 200, answer.body
        assert [row["name"] for row in answer.json] == ["e"]
        refused = call("POST", server.url + "/api/v1/experiments", {"name": "new"})
        assert refused.status == 403, refused.body
        server.stop()
    assert schema_versions(path) == [1]
    assert "write_batches" not in tables(path)


def test_a_read_only_server_of_a_missing_store_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mistyped.db"
    done = mltracker("--uri", str(path), "server", "--port", "0", "--read-only")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"no store at {path}" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # it never listened
    assert not path.exists()


# A server of a server --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_whose_store_is_a_tracking_server_is_refused(tmp_path: Path) -> None:
    """``MLTRACKER_URI=http://127.0.0.1:P mltracker server --port P`` would serve itself:
    every request waiting for its own answer."""
    port = free_port()
    for scheme in ("http", "https"):
        environment = {"MLTRACKER_URI": f"{scheme}://127.0.0.1:{port}"}
        done = mltracker("server", "--port", str(port), environment=environment)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "is a tracking server" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


# The log ---------------------------------------------------------------------------------------
def test_a_500_writes_its_traceback_to_the_server_s_log(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    ids = fill(str(path))
    with ServerProcess(str(path), log=tmp_path / "server.log") as server:
        connection = sqlite3.connect(path)  # damaged behind the server's back
        connection.execute("UPDATE modules SET attributes = '{not JSON'")
        connection.commit()
        connection.close()
        answer = call("GET", server.url + f"/api/v1/models/{ids['m']}/modules")
        assert answer.status == 500, answer.body
        assert b"Traceback" not in answer.body
        server.stop()
        log = server.stderr()
    assert f"GET /api/v1/models/{ids['m']}/modules failed" in log, log
    assert "Traceback (most recent call last)" in log, log


# Where it listens ------------------------------------------------------------------------------
def test_on_every_address_the_server_announces_a_usable_url(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    options = ("--host", "0.0.0.0", "--insecure")
    with ServerProcess(str(path), *options, log=tmp_path / "server.log") as server:
        name = socket.gethostname()
        assert server.url == f"http://{name}:{server.port}", server.url
        # The announced name is answered (whatever resolves it): the Host it sends.
        own = call(
            "GET",
            f"http://127.0.0.1:{server.port}/api/v1/experiments",
            headers={"host": f"{name}:{server.port}"},
        )
        assert own.status == 200, own.body
        server.stop(signal.SIGTERM)
        log = server.stderr()
    assert "0.0.0.0" not in server.url
    assert f"at {server.url} (listening on all addresses of this machine" in log, log


def test_the_help_names_every_kind_of_store_and_the_new_options() -> None:
    root = mltracker("--help")
    assert root.returncode == 0 and "http(s)://" in root.stdout, root.stdout
    server = mltracker("server", "--help")
    assert "--allowed-host" in server.stdout and "--read-only" in server.stdout
    assert "as it is" in server.stdout
    assert "--allowed-host" in mltracker("ui", "--help").stdout


# Sync ------------------------------------------------------------------------------------------
def test_sync_tells_each_notice_once(tmp_path: Path) -> None:
    port, _out, _err = log_while_the_server_is_down(
        tmp_path, "exit", {"MLTRACKER_RETRY_SECONDS": "1"}, bound=60
    )
    path = tmp_path / "store.db"
    with ServerProcess(str(path), port=port, log=tmp_path / "again.log") as server:
        done = mltracker("--uri", server.url, "sync")
        server.stop()
    assert done.returncode == 0, done.stderr
    notice = f"writing {2 * POINTS} metric points and 2 other writes spooled by an earlier process"
    assert done.stderr.count(notice) == 1, done.stderr
    assert f"{2 * POINTS} spooled metric points and 2 other writes written" in done.stdout, (
        done.stdout
    )


class BrokenStore(SqlStore):
    """A real SQLite store whose listing of experiments fails with a typed backend error."""

    def list_experiments(self) -> Any:
        raise BackendError("the disk is on fire")


def test_a_typed_error_that_answers_500_is_logged_with_its_traceback(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "broken.db"
    fill(str(path))
    served = serve(path=path, store=BrokenStore(f"sqlite:///{path}"))
    answer = call("GET", served.api + "/experiments")
    assert answer.status == 500 and b"on fire" in answer.body, answer.body
    records = [r for r in caplog.records if "GET /api/v1/experiments failed" in r.getMessage()]
    assert records and records[0].exc_info is not None, caplog.records
    assert "the disk is on fire" in records[0].getMessage()
