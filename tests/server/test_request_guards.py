"""What a web page may make a browser send, over a real server process: a cross-site write
(a body that is not JSON, another site's ``Origin``) and DNS rebinding (another ``Host``).
And the application ``create_app`` returns guards itself, served as it is.

What a refused request did not write is checked by reading the SQLite file with sqlite3.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import urllib3
import uvicorn

from mltracker.server.app import create_app
from mltracker.server.serve import prepared_store

from .helpers import Answer, ServerProcess, assert_envelope, call, row_counts
from .test_security import TOKEN, fill, point_batch


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, dict[str, str]]]:
    """A server process without a token, over a store that holds ``fill``'s experiment."""
    path = tmp_path / "store.db"
    ids = fill(str(path))
    with ServerProcess(str(path), log=tmp_path / "server.log") as server:
        yield server, path, ids


# Cross-site writes ----------------------------------------------------------------------------
def without_content_type(method: str, url: str, raw: bytes) -> Answer:
    """A request with a body and no Content-Type header at all."""
    with urllib3.PoolManager(retries=False, timeout=60.0) as http:
        response = http.request(method, url, body=raw, headers={})
        return Answer(response.status, dict(response.headers), response.data)


def restore_body() -> bytes:
    return orjson.dumps([{"id": str(uuid.uuid4()), "name": "planted", "models": []}])


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text-plain"),
        pytest.param("text/plain;charset=UTF-8", id="text-plain-charset"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param(None, id="none"),
    ],
)
def test_a_body_that_is_not_json_gets_415_and_writes_nothing(
    running: tuple[ServerProcess, Path, dict[str, str]], content_type: str | None
) -> None:
    """What a page of any site can POST without the browser asking first (a "simple
    request") is refused: the batch write and the restore read the raw body."""
    server, path, ids = running
    api = server.url + "/api/v1"
    before = row_counts(path)
    bodies = [
        ("POST", "/points", orjson.dumps(point_batch(ids["m"]))),
        ("POST", "/restore", restore_body()),
        ("POST", "/experiments", b'{"name": "planted"}'),
        ("PUT", f"/models/{ids['m']}/step", b'{"step": 9}'),
        ("PATCH", f"/experiments/{ids['e']}", b'{"name": "planted"}'),
    ]
    for method, route, raw in bodies:
        if content_type is None:
            answer = without_content_type(method, api + route, raw)
        else:
            answer = call(method, api + route, raw=raw, headers={"content-type": content_type})
        error = assert_envelope(answer, 415, "invalid_argument")
        assert "application/json" in error["message"], (route, error)
    assert row_counts(path) == before
    with_json = call("POST", api + "/points", point_batch(ids["m"]))
    assert with_json.status == 200, with_json.body  # the same batch as JSON is written


@pytest.mark.parametrize(
    "origin",
    [
        "http://attacker.example",
        "https://attacker.example",
        "null",
        "http://127.0.0.1:1",  # another port of this machine: another site
        "https://127.0.0.1:{port}",  # another scheme
        "http://localhost:{port}",  # another name for this server: another origin
    ],
)
def test_a_write_from_another_origin_gets_403_and_writes_nothing(
    running: tuple[ServerProcess, Path, dict[str, str]], origin: str
) -> None:
    server, path, ids = running
    api = server.url + "/api/v1"
    headers = {"origin": origin.format(port=server.port)}
    before = row_counts(path)
    writes = [
        ("POST", "/points", point_batch(ids["m"])),
        ("POST", "/experiments", {"name": "planted"}),
        ("PUT", f"/models/{ids['m']}/step", {"step": 9}),
        ("PATCH", f"/experiments/{ids['e']}", {"name": "planted"}),
        ("DELETE", f"/experiments/{ids['e']}", None),
    ]
    for method, route, body in writes:
        answer = call(method, api + route, body, headers=headers)
        error = assert_envelope(answer, 403, "backend.access_denied")
        assert "another site" in error["message"], error
    restore = call("POST", api + "/restore", raw=restore_body(), headers=headers)
    assert_envelope(restore, 403, "backend.access_denied")
    assert row_counts(path) == before
    # Reading is not a write: a page of another site cannot see the answer anyway (no CORS).
    assert call("GET", api + "/experiments", headers=headers).status == 200


def test_a_write_from_the_server_s_own_origin_or_without_origin_is_taken(
    running: tuple[ServerProcess, Path, dict[str, str]],
) -> None:
    server, path, _ids = running
    api = server.url + "/api/v1"
    own = call("POST", api + "/experiments", {"name": "own"}, headers={"origin": server.url})
    assert own.status == 201, own.body
    bare = call("POST", api + "/experiments", {"name": "bare"})
    assert bare.status == 201, bare.body
    assert row_counts(path)["experiments"] == 3


# DNS rebinding --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    ["attacker.example", "attacker.example:{port}", "127.0.0.1.attacker.example", "10.0.0.8"],
)
def test_a_host_that_is_not_loopback_gets_400_without_a_token(
    running: tuple[ServerProcess, Path, dict[str, str]], host: str
) -> None:
    """A page of attacker.example whose name now resolves to 127.0.0.1 reaches the server
    as a page of the same site: its Host header is the only trace."""
    server, path, ids = running
    api = server.url + "/api/v1"
    headers = {"host": host.format(port=server.port)}
    before = row_counts(path)
    for method, route in [
        ("GET", "/experiments"),
        ("GET", "/health"),
        ("DELETE", f"/experiments/{ids['e']}"),
    ]:
        answer = call(method, api + route, headers=headers)
        error = assert_envelope(answer, 400, "invalid_argument")
        assert "--allowed-host" in error["message"] and "DNS rebinding" in error["message"]
    page = call("GET", server.url + "/", headers=headers)
    assert_envelope(page, 400, "invalid_argument")
    assert row_counts(path) == before


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "127.0.0.1", "127.3.2.1:{port}", "localhost:{port}", "[::1]:{port}"],
)
def test_the_loopback_names_are_answered(
    running: tuple[ServerProcess, Path, dict[str, str]], host: str
) -> None:
    server, _path, _ids = running
    answer = call(
        "GET", server.url + "/api/v1/experiments", headers={"host": host.format(port=server.port)}
    )
    assert answer.status == 200, answer.body


def test_allowed_host_adds_names_and_star_allows_any(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    fill(str(path))
    options = ["--allowed-host", "tracker.example", "--allowed-host", "*.lab.example"]
    with ServerProcess(str(path), *options, log=tmp_path / "named.log") as server:
        api = server.url + "/api/v1/experiments"
        for host in ("tracker.example", "TRACKER.example:8765", "gpu1.lab.example", "localhost"):
            assert call("GET", api, headers={"host": host}).status == 200, host
        for host in ("attacker.example", "lab.example.attacker.example"):
            assert_envelope(call("GET", api, headers={"host": host}), 400, "invalid_argument")
    with ServerProcess(str(path), "--allowed-host", "*", log=tmp_path / "any.log") as server:
        answer = call("GET", server.url + "/api/v1/experiments", headers={"host": "any.example"})
        assert answer.status == 200, answer.body


def test_with_a_token_any_host_is_answered_unless_allowed_host_is_given(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    fill(str(path))
    environment = {"MLTRACKER_TOKEN": TOKEN}
    with ServerProcess(str(path), log=tmp_path / "t.log", environment=environment) as server:
        answer = call(
            "GET",
            server.url + "/api/v1/experiments",
            token=TOKEN,
            headers={"host": "tracker.example"},
        )
        assert answer.status == 200, answer.body
    with ServerProcess(
        str(path),
        "--allowed-host",
        "tracker.example",
        log=tmp_path / "t2.log",
        environment=environment,
    ) as server:
        api = server.url + "/api/v1/experiments"
        assert call("GET", api, token=TOKEN, headers={"host": "tracker.example"}).status == 200
        refused = call("GET", api, token=TOKEN, headers={"host": "attacker.example"})
        assert_envelope(refused, 400, "invalid_argument")


# The application guards itself ----------------------------------------------------------------
@contextmanager
def served_as_it_is(app: object) -> Iterator[str]:
    """``app`` served by uvicorn on a free port of 127.0.0.1, with nothing around it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started or not thread.is_alive():
                break
            thread.join(0.01)
        assert server.started, "uvicorn did not start within 10 s"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        assert not thread.is_alive()


def test_the_application_of_create_app_checks_the_token_itself(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = prepared_store(str(path))
    try:
        app = create_app(store, token=TOKEN, max_body_bytes=1_000)
        with served_as_it_is(app) as url:
            api = url + "/api/v1"
            assert_envelope(call("GET", api + "/experiments"), 401, "backend.access_denied")
            created = call("POST", api + "/experiments", {"name": "x"})
            assert_envelope(created, 401, "backend.access_denied")
            assert call("GET", api + "/health").status == 200
            assert call("GET", api + "/experiments", token=TOKEN).status == 200
            large = call("POST", api + "/experiments", {"name": "x" * 2_000}, token=TOKEN)
            assert_envelope(large, 413, "invalid_argument.too_large")
            plain = call(
                "POST",
                api + "/restore",
                raw=b"[]",
                token=TOKEN,
                headers={"content-type": "text/plain"},
            )
            assert_envelope(plain, 415, "invalid_argument")
        assert row_counts(path)["experiments"] == 0
    finally:
        store.close()
