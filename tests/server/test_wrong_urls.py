"""A mistyped server URL fails at once with a message that says what is wrong, while an
outage (nothing listens on the port) is still ridden out for the retry budget, with one line
on stderr. Every error a request raises names its method and URL.

Each URL is tried by a client in a process of its own with ``MLTRACKER_RETRY_SECONDS=120``,
bounded by a timeout: a read (which would be retried) and a create (which would not), against
real sockets of 127.0.0.1 only (and a name under ``.invalid``, which resolves to nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import mltracker
from mltracker import BackendUnavailableError, NotFoundError, RemoteError
from mltracker.backends.http.store import HttpStore

from .conftest import Serve
from .proxy import Proxy

#: Nothing listens on port 1 of 127.0.0.1: every connection is refused at once.
CLOSED = "http://127.0.0.1:1"
#: PostgreSQL's port: it speaks its own protocol, not HTTP.
POSTGRES = "127.0.0.1:5432"

CHILD = """
import json, sys
import mltracker

outcomes = []
with mltracker.connect(sys.argv[1]) as tracker:
    for action in sys.argv[2:]:
        try:
            if action == "read":
                tracker.experiments.read("x")
            else:
                tracker.experiments.create("x")
        except mltracker.MLTrackerError as error:
            outcomes.append([type(error).__name__, str(error)])
        else:
            outcomes.append(None)
print(json.dumps(outcomes))
"""


def client(url: str, *actions: str, retry_seconds: str = "120") -> tuple[list[Any], str]:
    """What each action of a client of ``url`` raised (class name and message, or ``None``),
    and its stderr."""
    source = str(Path(mltracker.__file__).resolve().parents[1])
    environment = {
        **os.environ,
        "MLTRACKER_RETRY_SECONDS": retry_seconds,
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, *actions],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    """A plain Python ``http.server`` of an empty folder on a free port."""
    folder = tmp_path / "site"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_a_closed_port_is_retried_and_said_once(capfd: pytest.CaptureFixture[str]) -> None:
    outcomes, stderr = client(CLOSED, "read", "read", retry_seconds="0.5")

    for outcome in outcomes:
        assert outcome[0] == "BackendUnavailableError"
        assert f"cannot reach the tracking server {CLOSED} (connection refused)" in outcome[1]
    notices = [line for line in stderr.splitlines() if "retrying" in line]
    assert notices == [f"mltracker: retrying {CLOSED} (connection refused) for up to 0.5 s"]


def test_a_host_name_that_does_not_resolve_fails_at_once() -> None:
    url = "http://mltracker-test.invalid:8765"

    outcomes, stderr = client(url, "read", "create")

    for outcome in outcomes:
        assert outcome[0] == "BackendUnavailableError"
        assert f"{url}: no host is named 'mltracker-test.invalid'" in outcome[1]
    assert "retrying" not in stderr


def test_https_to_a_server_of_plain_http_says_use_http(serve: Serve) -> None:
    plain = serve().url
    url = plain.replace("http://", "https://")

    outcomes, stderr = client(url, "read", "create")

    for outcome in outcomes:
        assert outcome[0] == "BackendUnavailableError"
        assert f"{url} speaks plain HTTP, not HTTPS: use {plain}" in outcome[1]
    assert "retrying" not in stderr


def test_a_port_that_does_not_speak_http_fails_at_once(postgres_available: bool) -> None:
    if not postgres_available:
        pytest.skip("PostgreSQL is not running")
    for scheme in ("http", "https"):
        url = f"{scheme}://{POSTGRES}"

        outcomes, stderr = client(url, "read", "create")

        for outcome in outcomes:
            assert outcome[0] == "BackendUnavailableError"
            assert f"{url} does not speak HTTP" in outcome[1]
            assert "Is it an MLTracker server?" in outcome[1]
        assert "retrying" not in stderr


def test_an_http_server_that_is_not_mltracker_fails_at_once(web_server: str) -> None:
    outcomes, stderr = client(web_server, "read", "create")

    read, create = outcomes
    assert read[0] == create[0] == "BackendUnavailableError"
    assert read[1].startswith(f"GET {web_server}/api/v1/experiments/by-name?name=x: HTTP 404")
    assert create[1].startswith(f"POST {web_server}/api/v1/experiments: HTTP 501")
    for outcome in outcomes:
        assert "with text/html, which is not an answer of MLTracker" in outcome[1]
        assert f"is {web_server} a tracking server?" in outcome[1]
    assert "retrying" not in stderr


def test_an_error_of_the_server_names_the_request(serve: Serve) -> None:
    url = serve().url
    missing = uuid.uuid4()
    store = HttpStore(url)
    try:
        with pytest.raises(NotFoundError) as deleted:
            store.delete_experiment(missing)
        with pytest.raises(RemoteError) as routed:
            store._call("GET", "/no-such-route")
    finally:
        store.close()

    assert str(deleted.value).startswith(f"DELETE {url}/api/v1/experiments/{missing}: ")
    assert type(deleted.value) is NotFoundError
    assert str(routed.value) == f"GET {url}/api/v1/no-such-route: Not Found"
    assert type(routed.value) is RemoteError


def test_an_outage_is_said_again_after_the_server_answered(
    serve: Serve, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.3")
    away = [True]
    unavailable = b'{"error":{"code":"backend.unavailable","message":"restarting"}}'

    def failing(method: str, path: str) -> tuple[int, bytes] | None:
        return (503, unavailable) if away[0] else None

    with Proxy(serve().url, failing) as proxy:
        store = HttpStore(proxy.url)
        try:
            for _ in range(2):
                with pytest.raises(BackendUnavailableError):
                    store.list_experiments()
            said = capfd.readouterr().err.splitlines()
            assert said == [f"mltracker: retrying {proxy.url} (HTTP 503) for up to 0.3 s"]
            away[0] = False
            assert store.list_experiments() == []
            away[0] = True
            with pytest.raises(BackendUnavailableError):
                store.list_experiments()
            assert capfd.readouterr().err.count("mltracker: retrying") == 1
        finally:
            store.close()
