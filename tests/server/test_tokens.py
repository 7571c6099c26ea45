"""Tokens people can manage, over a real server process (``mltracker server --tokens FILE``):
read tokens refused on writes, revocation by editing the file (bearer and login cookie alike,
without a restart), failed logins limited per address, short and non-ASCII tokens refused
alike by the client and the server, the scheme in any case, and who wrote each batch.

What a refused request did not write is checked by reading the SQLite file with sqlite3.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import urllib3

import mltracker
from mltracker.connect import close_all
from mltracker.errors import InvalidArgumentError
from mltracker.server.app import create_app
from mltracker.server.dashboard import COOKIE_NAME
from mltracker.server.serve import ServerSettings, check_settings, prepared_store

from .helpers import Answer, ServerProcess, assert_envelope, call, row_counts
from .test_security import WRITES, fill, point_batch

ALICE = "alice-writes-0123456789-abcdefghijklmnop"
BOB = "bob-only-reads-0123456789-abcdefghijklmno"
CAROL = "carol-writes-too-0123456789-abcdefghijkl"


def token_line(name: str, scope: str, secret: str) -> str:
    """A token's line in a tokens file, made here as the README describes the format: the
    key is HMAC-SHA256(secret, "mltracker dashboard session"), the hash SHA-256(salt + key)."""
    salt = os.urandom(16)
    key = hmac.new(secret.encode(), b"mltracker dashboard session", hashlib.sha256).digest()
    digest = hashlib.sha256(salt + key).hexdigest()
    return json.dumps({"name": name, "scope": scope, "hash": f"sha256:{salt.hex()}:{digest}"})


def tokens_file(path: Path, *tokens: tuple[str, str, str]) -> Path:
    """Write the tokens file ``path``: one line per (name, scope, secret)."""
    lines = [token_line(*token) for token in tokens]
    path.write_text("# the tokens of the tests\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A store that holds ``fill``'s experiment, and its ids."""
    path = tmp_path / "store.db"
    return path, fill(str(path))


@pytest.fixture
def team(
    tmp_path: Path, store: tuple[Path, dict[str, str]]
) -> Iterator[tuple[ServerProcess, Path, Path, dict[str, str]]]:
    """A server process with a tokens file: alice and carol write, bob reads. The server,
    its store's path, the tokens file and the store's ids."""
    path, ids = store
    tokens = tokens_file(
        tmp_path / "tokens.jsonl",
        ("alice", "write", ALICE),
        ("bob", "read", BOB),
        ("carol", "write", CAROL),
    )
    with ServerProcess(str(path), "--tokens", str(tokens), log=tmp_path / "server.log") as server:
        yield server, path, tokens, ids


@pytest.fixture
def one_token(
    tmp_path: Path, store: tuple[Path, dict[str, str]]
) -> Iterator[tuple[ServerProcess, Path, dict[str, str]]]:
    """A server process of the one token ``--token ALICE``; its store's path and ids."""
    path, ids = store
    with ServerProcess(str(path), "--token", ALICE, log=tmp_path / "one.log") as server:
        yield server, path, ids


def log_in(url: str, token: str, pool: urllib3.PoolManager | None = None) -> Answer:
    """The dashboard's login form, sent as a browser sends it."""
    body = urlencode({"token": token, "next": "/"}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if pool is None:
        return call("POST", url + "/login", raw=body, headers=headers)
    response = pool.request("POST", url + "/login", body=body, headers=headers, redirect=False)
    return Answer(response.status, dict(response.headers), response.data)


def cookie_of(answer: Answer) -> str:
    assert answer.status == 303, (answer.status, answer.body[:300])
    cookie = answer.headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith(COOKIE_NAME + "=")
    return cookie


# Scopes ---------------------------------------------------------------------------------------
def test_a_read_token_reads_and_every_write_gets_403(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, path, _tokens, ids = team
    api = server.url + "/api/v1"
    before = row_counts(path)
    for what, method, route, body in WRITES:
        if body == "points":
            body = point_batch(ids["m"])
        answer = call(method, api + route.format(**ids), body, token=BOB)
        error = assert_envelope(answer, 403, "backend.access_denied")
        assert "'bob' may only read" in error["message"], (what, error)
    assert row_counts(path) == before
    for route in ("/experiments", "/models/{m}/metrics", "/batches"):
        assert call("GET", api + route.format(**ids), token=BOB).status == 200, route


def test_the_client_with_a_read_token_gets_access_denied_on_writes(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, path, _tokens, _ids = team
    with mltracker.connect(server.url, token=BOB) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        with pytest.raises(mltracker.AccessDeniedError, match="may only read"):
            tracker.experiments.create("new")
        with pytest.raises(mltracker.AccessDeniedError, match="may only read"):
            experiment.models.create("h2")
    assert row_counts(path)["experiments"] == 1


def test_a_write_token_of_the_file_writes(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, path, _tokens, _ids = team
    with mltracker.connect(server.url, token=ALICE) as tracker:
        tracker.experiments.create("by-alice")
    assert row_counts(path)["experiments"] == 2


# Revocation -----------------------------------------------------------------------------------
def test_removing_a_token_from_the_file_revokes_it_and_its_cookie_at_once(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, _path, tokens, _ids = team
    api = server.url + "/api/v1/experiments"
    bob_cookie = cookie_of(log_in(server.url, BOB))
    alice_cookie = cookie_of(log_in(server.url, ALICE))
    assert bob_cookie != alice_cookie
    assert call("GET", api, headers={"cookie": bob_cookie}).status == 200
    assert call("GET", api, token=BOB).status == 200

    kept = [line for line in tokens.read_text().splitlines() if '"bob"' not in line]
    tokens.write_text("\n".join(kept) + "\n")  # bob's line deleted; no restart

    assert_envelope(call("GET", api, token=BOB), 401, "backend.access_denied")
    assert_envelope(call("GET", api, headers={"cookie": bob_cookie}), 401, "backend.access_denied")
    assert call("GET", api, token=ALICE).status == 200
    assert call("GET", api, headers={"cookie": alice_cookie}).status == 200
    assert log_in(server.url, BOB).status == 401


def test_a_token_added_to_the_file_works_at_once(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, _path, tokens, _ids = team
    api = server.url + "/api/v1/experiments"
    dave = "dave-joins-later-0123456789-abcdefghijkl"
    assert_envelope(call("GET", api, token=dave), 401, "backend.access_denied")
    with tokens.open("a") as file:
        file.write(token_line("dave", "write", dave) + "\n")
    assert call("GET", api, token=dave).status == 200


def test_a_line_broken_after_start_refuses_its_token_only(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, _path, tokens, _ids = team
    api = server.url + "/api/v1/experiments"
    lines = tokens.read_text().splitlines()
    broken = [
        line.replace('"hash": "sha256:', '"hash": "md5:') if '"bob"' in line else line
        for line in lines
    ]
    tokens.write_text("\n".join(broken) + "\n")
    assert_envelope(call("GET", api, token=BOB), 401, "backend.access_denied")
    assert call("GET", api, token=ALICE).status == 200
    assert "line 3" in server.stderr() and "that token is refused" in server.stderr()


def test_a_tokens_file_that_is_gone_refuses_every_token(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, _path, tokens, _ids = team
    tokens.unlink()
    answer = call("GET", server.url + "/api/v1/experiments", token=ALICE)
    assert_envelope(answer, 401, "backend.access_denied")
    assert call("GET", server.url + "/api/v1/health").status == 200


# The login ------------------------------------------------------------------------------------
def test_failed_logins_are_limited_per_address(
    one_token: tuple[ServerProcess, Path, dict[str, str]],
) -> None:
    server, _path, _ids = one_token
    for attempt in range(5):
        answer = log_in(server.url, f"wrong-guess-number-{attempt}-of-five")
        assert answer.status == 401, (attempt, answer.status)
    refused = log_in(server.url, ALICE)  # the right token too, from this address
    assert refused.status == 429, refused.status
    assert 1 <= int(refused.headers["retry-after"]) <= 60, refused.headers
    assert b"try again in" in refused.body
    assert "set-cookie" not in refused.headers

    other = urllib3.PoolManager(retries=False, source_address=("127.0.0.2", 0))
    assert cookie_of(log_in(server.url, ALICE, other))  # another address logs in
    # The API's bearer tokens are not the login's: they still work from this address.
    assert call("GET", server.url + "/api/v1/experiments", token=ALICE).status == 200


# What a token may be --------------------------------------------------------------------------
def run_server(
    tmp_path: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mltracker server`` that must refuse to start: its exit, stdout and stderr."""
    environment = {k: v for k, v in os.environ.items() if k != "MLTRACKER_TOKEN"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mltracker",
            "--uri",
            str(tmp_path / "never.db"),
            "server",
            "--port",
            "0",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environment, **(env or {})},
    )


@pytest.mark.parametrize(
    ("token", "match"),
    [
        pytest.param("fifteen-chars15", "has 15 characters; a token needs at least 16", id="short"),
        pytest.param("s3cret", "has 6 characters", id="very-short"),
        pytest.param("tökén-with-accents-123", "non-ASCII character at position 2", id="non-ascii"),
        pytest.param("with a space in the middle", "a space at position 5", id="space"),
    ],
)
def test_the_server_refuses_a_token_it_would_not_take(
    tmp_path: Path, token: str, match: str
) -> None:
    done = run_server(tmp_path, "--token", token)
    assert done.returncode == 1, done.stderr
    assert match in done.stderr and "mltracker token new" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "never.db").exists()
    with pytest.raises(InvalidArgumentError, match="mltracker token new"):
        check_settings(ServerSettings(token=token))
    store = prepared_store(str(tmp_path / "app.db"))
    try:
        with pytest.raises(InvalidArgumentError, match="mltracker token new"):
            create_app(store, token=token)
    finally:
        store.close()


def test_a_token_of_16_characters_is_taken(tmp_path: Path) -> None:
    check_settings(ServerSettings(token="sixteen-chars-16"))


def test_tokens_and_a_token_together_are_refused(tmp_path: Path) -> None:
    tokens = tokens_file(tmp_path / "tokens.jsonl", ("alice", "write", ALICE))
    done = run_server(tmp_path, "--tokens", str(tokens), "--token", ALICE)
    assert done.returncode == 1 and "either --tokens FILE or one token (--token)" in done.stderr
    done = run_server(tmp_path, "--tokens", str(tokens), env={"MLTRACKER_TOKEN": ALICE})
    assert done.returncode == 1 and "($MLTRACKER_TOKEN)" in done.stderr, done.stderr
    assert "unset MLTRACKER_TOKEN" in done.stderr
    with pytest.raises(InvalidArgumentError, match="not both"):
        check_settings(ServerSettings(token=ALICE, tokens_file=str(tokens)))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("", "holds no token", id="empty"),
        pytest.param("# only a comment\n", "holds no token", id="comment-only"),
        pytest.param(
            '{"name": "x", "scope": "admin", "hash": "sha256:00:00"}\n',
            'line 1: "scope" must be "read" or "write"',
            id="scope",
        ),
        pytest.param("not json\n", "line 1: not JSON", id="not-json"),
    ],
)
def test_a_tokens_file_that_is_not_one_is_refused_at_start(
    tmp_path: Path, text: str, match: str
) -> None:
    tokens = tmp_path / "tokens.jsonl"
    tokens.write_text(text)
    done = run_server(tmp_path, "--tokens", str(tokens))
    assert done.returncode == 1 and match in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_missing_tokens_file_is_refused_at_start(tmp_path: Path) -> None:
    done = run_server(tmp_path, "--tokens", str(tmp_path / "nowhere.jsonl"))
    assert done.returncode == 1 and "cannot read the tokens file" in done.stderr, done.stderr


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_taken_in_any_case(
    one_token: tuple[ServerProcess, Path, dict[str, str]], scheme: str
) -> None:
    server, _path, _ids = one_token
    answer = call(
        "GET", server.url + "/api/v1/experiments", headers={"authorization": f"{scheme} {ALICE}"}
    )
    assert answer.status == 200, answer.body


# Non-ASCII tokens: refused alike by the client and the server ---------------------------------
NON_ASCII = "tökén-ünïcödé-0123456789"


def test_the_client_refuses_a_non_ascii_token_when_it_is_given(
    one_token: tuple[ServerProcess, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, path, _ids = one_token
    with pytest.raises(InvalidArgumentError, match="non-ASCII character at position 2"):
        mltracker.connect(server.url, token=NON_ASCII)
    with pytest.raises(InvalidArgumentError, match="non-ASCII"):
        mltracker.connect(server.url, token="秘密" * 10)
    monkeypatch.setenv("MLTRACKER_TOKEN", NON_ASCII)
    with pytest.raises(InvalidArgumentError, match=r"\$MLTRACKER_TOKEN has a non-ASCII"):
        mltracker.connect(server.url)
    close_all()
    assert row_counts(path)["experiments"] == 1


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_the_server_refuses_non_ascii_authorization_bytes_with_a_typed_error(
    one_token: tuple[ServerProcess, Path, dict[str, str]], encoding: str
) -> None:
    server, path, ids = one_token
    header = ("Bearer " + "tökén-0123456789-abcdef").encode(encoding)
    for method, route, body in (("GET", "/experiments", None), ("POST", "/points", "points")):
        sent = point_batch(ids["m"]) if body == "points" else None
        answer = call(
            method, server.url + "/api/v1" + route, sent, headers={"authorization": header}
        )  # type: ignore[dict-item]
        error = assert_envelope(answer, 401, "backend.access_denied")
        assert "printable ASCII" in error["message"], error
    assert row_counts(path)["metrics"] == 1
    assert log_in(server.url, "tökén-0123456789-abcdef").status == 401


# Who wrote ------------------------------------------------------------------------------------
def collapsed(writers: list[str | None]) -> list[str | None]:
    """``writers`` with each run of one writer once (a client may cut its points in more
    batches than one)."""
    return [w for i, w in enumerate(writers) if i == 0 or writers[i - 1] != w]


def batch_writers(path: Path) -> list[str | None]:
    """The writer of each batch id the SQLite store ``path`` keeps, read with sqlite3."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT writer FROM write_batches ORDER BY written_at")
        return [row[0] for row in rows.fetchall()]
    finally:
        connection.close()


def test_the_name_of_the_token_that_wrote_is_kept_with_each_batch(
    team: tuple[ServerProcess, Path, Path, dict[str, str]],
) -> None:
    server, path, _tokens, ids = team
    before = batch_writers(path)
    assert before == [None]  # ``fill`` wrote to the file directly
    for name, token in (("alice", ALICE), ("carol", CAROL)):
        with mltracker.connect(server.url, token=token) as tracker:
            experiment = tracker.experiments.get_or_create("shared")
            model = experiment.models.get_or_create(f"model-of-{name}")
            for step in range(3):
                model.metrics.log("loss", 1.0 / (step + 1), step=step)
    answer = call("POST", server.url + "/api/v1/points", point_batch(ids["m"]), token=CAROL)
    assert answer.status == 200, answer.body
    writers = batch_writers(path)
    assert collapsed(writers) == [None, "alice", "carol"] and writers.count("carol") >= 2

    listed = call("GET", server.url + "/api/v1/batches?writer=carol", token=BOB)
    assert [entry["writer"] for entry in listed.json] == ["carol"] * writers.count("carol")
    with mltracker.connect(server.url, token=BOB) as tracker:
        batches = tracker.store.list_batches()
        assert [batch.writer for batch in batches] == writers[::-1]  # newest first
        alices = tracker.store.list_batches(writer="alice")
        assert [batch.writer for batch in alices] == ["alice"] * writers.count("alice")
        assert len(tracker.store.list_batches(limit=2)) == 2


def test_the_one_token_of_token_writes_as_default(
    one_token: tuple[ServerProcess, Path, dict[str, str]],
) -> None:
    server, path, ids = one_token
    answer = call("POST", server.url + "/api/v1/points", point_batch(ids["m"]), token=ALICE)
    assert answer.status == 200, answer.body
    assert batch_writers(path) == [None, "default"]


def test_tokens_made_by_the_command_are_taken_by_the_server(
    tmp_path: Path, store: tuple[Path, dict[str, str]]
) -> None:
    path, _ids = store
    tokens = tmp_path / "made.jsonl"

    def new(*options: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mltracker", "token", "new", "--file", str(tokens), *options],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    writer, reader = new("--name", "ci"), new("--scope", "read")
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert writer not in tokens.read_text() and reader not in tokens.read_text()
    with ServerProcess(str(path), "--tokens", str(tokens), log=tmp_path / "made.log") as server:
        with mltracker.connect(server.url, token=writer) as tracker:
            tracker.experiments.create("by-ci")
        with mltracker.connect(server.url, token=reader) as tracker:
            assert [e.name for e in tracker.experiments.list()] == ["e", "by-ci"]
            with pytest.raises(mltracker.AccessDeniedError, match="'token-1' may only read"):
                tracker.experiments.create("by-the-reader")
