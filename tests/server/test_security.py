"""The server's guards, over real sockets: the token, read-only mode, the loopback default,
the body limit, and answers that never show a stack trace or SQL.

What a refused request did not write is checked by reading the SQLite file with sqlite3.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

import mltracker
from mltracker.backends.sql.store import SqlStore
from mltracker.connect import close_all
from mltracker.errors import InvalidArgumentError
from mltracker.server.serve import ServerSettings, check_settings, is_loopback

from .conftest import Serve, Served
from .helpers import Answer, assert_envelope, call, row_counts

TOKEN = "s3cret-token-of-the-tests"


def point_batch(model_id: str, steps: range = range(3)) -> dict[str, Any]:
    """A valid body of ``POST /points``: points of ``loss`` at ``steps``."""
    return {
        "batch_id": str(uuid.uuid4()),
        "series": [[model_id, "loss", None]],
        "s": [0 for _ in steps],
        "step": list(steps),
        "value": [step * 0.5 + 0.25 for step in steps],
        "timestamp": [time.time() for _ in steps],
    }


def fill(url: str, token: str | None = None) -> dict[str, str]:
    """Experiment ``e`` with model ``m`` (a point, a module, an iteration), through the client;
    their ids."""
    with mltracker.connect(url, token=token) as tracker:
        experiment = tracker.experiments.create("e")
        model = experiment.models.create("m")
        model.metrics.log("loss", 1.0, step=0)
        model.modules.log("layer", {"width": 3})
        iteration = model.iterations.create(1)
    return {"e": str(experiment.id), "m": str(model.id), "i": str(iteration.id)}


#: One request of each kind that writes: (what, method, path, body), ids filled in by ``ids``.
WRITES = [
    ("create experiment", "POST", "/experiments", {"name": "new"}),
    ("rename experiment", "PATCH", "/experiments/{e}", {"name": "renamed"}),
    ("delete experiment", "DELETE", "/experiments/{e}", None),
    ("create model", "POST", "/experiments/{e}/models", {"hash": "h2"}),
    ("update model", "PATCH", "/experiments/{e}/models/by-hash?hash=m", {"name": "n"}),
    ("delete model", "DELETE", "/experiments/{e}/models/{m}", None),
    ("clear models", "DELETE", "/experiments/{e}/models", None),
    ("write step", "PUT", "/models/{m}/step", {"step": 7}),
    ("add step", "POST", "/models/{m}/step/add", {"delta": 1}),
    ("write points", "POST", "/points", "points"),
    ("clear metrics", "DELETE", "/models/{m}/metrics", None),
    ("log module", "POST", "/models/{m}/modules", {"name": "other"}),
    ("clear modules", "DELETE", "/models/{m}/modules", None),
    ("create iteration", "POST", "/models/{m}/iterations", {"step": 2}),
    ("clear iterations", "DELETE", "/models/{m}/iterations", None),
    ("remove iteration", "DELETE", "/models/{m}/iterations/{i}", None),
    ("restore", "POST", "/restore", []),
]


def send_writes(served: Served, ids: dict[str, str], token: str | None) -> list[Answer]:
    answers = []
    for _what, method, path, body in WRITES:
        if body == "points":
            body = point_batch(ids["m"])
        answers.append(call(method, served.api + path.format(**ids), body, token=token))
    return answers


# The token ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Bearer wrong", id="wrong-token"),
        pytest.param(f"Bearer {TOKEN}x", id="longer-token"),
        pytest.param(f"Bearer {TOKEN[:-1]}", id="shorter-token"),
        pytest.param(f"Bearer {TOKEN.upper()}", id="other-case"),
        pytest.param(f"Bearer  {TOKEN}", id="two-spaces"),
        pytest.param(TOKEN, id="no-scheme"),
        pytest.param(f"Basic {TOKEN}", id="basic-scheme"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("", id="empty-header"),
    ],
)
def test_a_request_without_the_token_gets_401_and_writes_nothing(
    serve: Serve, authorization: str | None
) -> None:
    served = serve(token=TOKEN)
    ids = fill(served.url, TOKEN)
    before = row_counts(served.path)
    headers = {} if authorization is None else {"authorization": authorization}
    for what, method, path, body in WRITES:
        if body == "points":
            body = point_batch(ids["m"])
        answer = call(method, served.api + path.format(**ids), body, headers=headers)
        error = assert_envelope(answer, 401, "backend.access_denied")
        assert answer.headers.get("www-authenticate") == "Bearer", (what, answer.headers)
        assert "token" in error["message"], (what, error)
    for path in (
        "/experiments",
        "/experiments/by-name?name=e",
        "/models/{m}/metrics",
        "/openapi.json",
    ):
        answer = call("GET", served.api + path.format(**ids), headers=headers)
        assert_envelope(answer, 401, "backend.access_denied")
    assert row_counts(served.path) == before


def test_the_token_lets_the_same_writes_through(serve: Serve) -> None:
    """The other side of the test above: with the token, each of these requests writes."""
    served = serve(token=TOKEN)
    ids = fill(served.url, TOKEN)
    for (what, _method, _path, _body), answer in zip(
        WRITES, send_writes(served, ids, TOKEN), strict=True
    ):
        assert answer.status < 300 or answer.status == 404, (what, answer.status, answer.body)
    assert row_counts(served.path)["experiments"] == 1  # "new" (and "e", deleted)


def test_the_health_check_answers_without_a_token(serve: Serve) -> None:
    served = serve(token=TOKEN)
    answer = call("GET", served.api + "/health")
    assert answer.status == 200 and answer.json["status"] == "ok"
    assert_envelope(call("GET", served.url + "/"), 401, "backend.access_denied")
    assert_envelope(call("GET", served.url + "/api/docs"), 401, "backend.access_denied")


def test_a_client_with_a_wrong_token_gets_access_denied_on_a_read(serve: Serve) -> None:
    served = serve(token=TOKEN)
    fill(served.url, TOKEN)
    with mltracker.connect(served.url, token="wrong") as tracker:
        with pytest.raises(mltracker.AccessDeniedError, match="wrong token"):
            tracker.experiments.list()
        with pytest.raises(mltracker.AccessDeniedError):
            tracker.experiments.read("e")
        with pytest.raises(mltracker.AccessDeniedError):
            tracker.experiments.create("other")
    assert row_counts(served.path)["experiments"] == 1


def test_a_client_without_a_token_gets_access_denied(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(token=TOKEN)
    monkeypatch.delenv("MLTRACKER_TOKEN", raising=False)
    with mltracker.connect(served.url) as tracker:
        with pytest.raises(mltracker.AccessDeniedError, match="token is required"):
            tracker.experiments.list()
    close_all()  # the store of a session keeps the token it was opened with
    monkeypatch.setenv("MLTRACKER_TOKEN", TOKEN)
    with mltracker.connect(served.url) as tracker:  # the token of the environment
        assert tracker.experiments.list() == []


# Read-only ------------------------------------------------------------------------------------
@pytest.fixture
def read_only(serve: Serve, tmp_path: Path) -> tuple[Served, dict[str, str]]:
    """A read-only server of a store that holds ``fill``'s experiment."""
    path = tmp_path / "read-only.db"
    ids = fill(str(path))
    return serve(path=path, read_only=True), ids


def test_a_read_only_server_refuses_every_write_with_403(
    read_only: tuple[Served, dict[str, str]],
) -> None:
    served, ids = read_only
    before = row_counts(served.path)
    for (what, _method, _path, _body), answer in zip(
        WRITES, send_writes(served, ids, None), strict=True
    ):
        error = assert_envelope(answer, 403, "backend.read_only")
        assert "read-only" in error["message"], (what, error)
    assert row_counts(served.path) == before


def test_a_read_only_server_reads_and_the_client_gets_read_only_errors(
    read_only: tuple[Served, dict[str, str]],
) -> None:
    served, _ids = read_only
    before = row_counts(served.path)
    with mltracker.connect(served.url) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        assert [(p.name, p.step, p.value) for p in model.metrics.list()] == [("loss", 0, 1.0)]
        assert [m.attributes for m in model.modules.list()] == [{"width": 3}]
        assert [i.step for i in model.iterations.list()] == [1]
        assert model.step == 0
        with pytest.raises(mltracker.ReadOnlyStoreError, match="read-only"):
            tracker.experiments.create("new")
        with pytest.raises(mltracker.ReadOnlyStoreError):
            experiment.models.create("h2")
        with pytest.raises(mltracker.ReadOnlyStoreError):
            model.step += 1
        with pytest.raises(mltracker.ReadOnlyStoreError):
            model.modules.log("other", {})
        with pytest.raises(mltracker.ReadOnlyStoreError):
            model.iterations.create(2)
        with pytest.raises(mltracker.ReadOnlyStoreError):
            tracker.experiments.delete(experiment.id)
    assert row_counts(served.path) == before


# Where the server listens ---------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "tracker.example.org"])
def test_the_cli_refuses_an_open_address_without_a_token(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLTRACKER_TOKEN", raising=False)
    store = tmp_path / "never.db"
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", str(store), "server", "--host", host],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert f"refusing to serve on {host} without a token" in done.stderr
    assert "--insecure" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # no URL: it never listened
    assert not store.exists()


def test_an_empty_token_is_no_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", str(tmp_path / "s.db")]
        + ["server", "--host", "0.0.0.0", "--token", ""],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "without a token" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(ServerSettings(host="0.0.0.0", insecure=True), id="insecure"),
        pytest.param(ServerSettings(host="0.0.0.0", token=TOKEN), id="token"),
        pytest.param(ServerSettings(host="::", token=TOKEN), id="ipv6-token"),
        pytest.param(ServerSettings(host="127.0.0.1"), id="loopback"),
        pytest.param(ServerSettings(host="127.0.0.2"), id="loopback-net"),
        pytest.param(ServerSettings(host="::1"), id="ipv6-loopback"),
        pytest.param(ServerSettings(host="[::1]"), id="ipv6-loopback-brackets"),
        pytest.param(ServerSettings(host="localhost"), id="localhost"),
    ],
)
def test_settings_that_are_allowed(settings: ServerSettings) -> None:
    check_settings(settings)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        pytest.param(ServerSettings(host="0.0.0.0"), "without a token", id="open"),
        pytest.param(ServerSettings(host="10.0.0.1"), "without a token", id="private"),
        pytest.param(ServerSettings(token=" "), "must not be empty", id="blank-token"),
        pytest.param(ServerSettings(workers=0), "at least 1", id="no-worker"),
    ],
)
def test_settings_that_are_refused(settings: ServerSettings, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        check_settings(settings)


def test_only_loopback_addresses_are_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("local")


# The body limit -------------------------------------------------------------------------------
LIMIT = 2_000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/points"), ("POST", "/experiments"), ("POST", "/restore")],
)
def test_a_body_over_the_limit_gets_413_and_writes_nothing(
    serve: Serve, method: str, path: str, chunked: bool
) -> None:
    served = serve(max_body_bytes=LIMIT)
    ids = fill(served.url)
    before = row_counts(served.path)
    if path == "/points":
        body = point_batch(ids["m"], range(100))
    elif path == "/experiments":
        body = {"name": "x" * LIMIT}
    else:
        body = [{"id": str(uuid.uuid4()), "name": "x" * LIMIT, "models": []}]
    raw = orjson.dumps(body)
    assert len(raw) > LIMIT
    answer = call(method, served.api + path, raw=raw, chunked=chunked)
    error = assert_envelope(answer, 413, "invalid_argument.too_large")
    assert str(LIMIT) in error["message"]
    assert row_counts(served.path) == before
    # The server goes on answering, on this connection and others.
    assert call("GET", served.api + "/health").status == 200


def test_a_body_at_the_limit_is_taken(serve: Serve) -> None:
    served = serve(max_body_bytes=LIMIT)
    ids = fill(served.url)
    body = point_batch(ids["m"], range(10))
    raw = orjson.dumps(body)
    raw += b" " * (LIMIT - len(raw))  # JSON with trailing blanks, exactly LIMIT bytes
    assert len(raw) == LIMIT
    answer = call("POST", served.api + "/points", raw=raw)
    assert answer.status == 200, answer.body
    assert row_counts(served.path)["metrics"] == 11


# No traceback, no SQL -------------------------------------------------------------------------
LEAKS = ("Traceback", 'File "', "SELECT", "INSERT", "sqlalchemy", "sqlite3", ".py", "RuntimeError")


def assert_no_leak(answer: Answer, status: int = 500) -> dict[str, str]:
    error = assert_envelope(answer, status)
    text = answer.body.decode()
    for leak in LEAKS:
        assert leak not in text, (leak, text)
    return error


class FailingStore(SqlStore):
    """A real SQLite store whose listing of experiments and batch writes crash with a plain
    exception (a bug of a backend), its message full of what must not leak."""

    MESSAGE = (
        'SELECT secret FROM experiments WHERE 1\nTraceback (most recent call last):\n  File "x.py"'
    )

    def list_experiments(self) -> Any:
        raise RuntimeError(self.MESSAGE)

    def write_points(self, points: Any, batch_id: Any = None) -> None:
        raise RuntimeError(self.MESSAGE)


def test_a_crash_of_the_store_answers_500_without_traceback_or_sql(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "failing.db"
    ids = fill(str(path))
    store = FailingStore(f"sqlite:///{path}")
    served = serve(path=path, store=store)
    error = assert_no_leak(call("GET", served.api + "/experiments"))
    assert error["code"] == "backend" and "internal error" in error["message"]
    assert_no_leak(call("POST", served.api + "/points", point_batch(ids["m"])))
    # The client raises the error of the envelope at once, not after retrying.
    with mltracker.connect(served.url) as tracker:
        with pytest.raises(mltracker.BackendError, match="internal error") as raised:
            tracker.experiments.list()
        assert not isinstance(raised.value, mltracker.BackendUnavailableError)
    # The server's log has the whole story.
    assert any("GET /api/v1/experiments failed" in r.getMessage() for r in caplog.records)


def test_a_broken_database_answers_500_without_sql(server: Served) -> None:
    """The store's tables are damaged under a running server: the error is the driver's
    first line, never the statement."""
    ids = fill(server.url)
    connection = sqlite3.connect(server.path)
    connection.execute("DROP TABLE iterations")
    connection.commit()
    connection.close()
    # (The SQL backend takes a missing table for a store not ready yet: 503.)
    for answer in (
        call("GET", server.api + f"/models/{ids['m']}/iterations"),
        call("POST", server.api + f"/models/{ids['m']}/iterations", {"step": 3}),
    ):
        error = assert_no_leak(answer, answer.status if answer.status >= 500 else 500)
        assert error["message"] == "no such table: iterations", error
