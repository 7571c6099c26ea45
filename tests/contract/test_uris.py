"""Which file or database a path or URL opens, and that every spelling gets the same set-up.

A filesystem path is a path: ``?`` and ``%`` are part of the file's name. A ``sqlite:///``
URL is a URL: ``%xx`` is decoded, and query parameters are refused. Every SQLite spelling gets
foreign keys, WAL mode and a busy timeout; a driver MLTracker does not set up is refused.
A server's ``host:port`` without ``http://`` is refused rather than taken for a file, and so
is ``$MLTRACKER_TOKEN`` with a ``$MLTRACKER_URI`` that is not a server's.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cli.helpers import assert_error, invoke

import mltracker
from mltracker import InvalidArgumentError
from mltracker.backends.sql.engine import SQLITE_BUSY_TIMEOUT_MS
from mltracker.backends.sql.store import SqlStore
from mltracker.connect import resolve_uri, sqlite_path

from .rowcounts import orphans, row_counts

# Paths ---------------------------------------------------------------------------------------

ODD_NAMES = [
    pytest.param("q?x.db", id="question-mark"),
    pytest.param("pct%20x.db", id="percent-escape"),
    pytest.param("100%.db", id="lone-percent"),
    pytest.param("a#b.db", id="hash"),
    pytest.param("spaced name.db", id="space"),
]


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("name", ODD_NAMES)
def test_path_opens_the_file_of_that_exact_name(tmp_path: Path, name: str) -> None:
    with mltracker.connect(tmp_path / name) as tracker:
        tracker.experiments.create("e")

    assert [n for n in files_in(tmp_path) if not n.endswith(("-wal", "-shm"))] == [name]
    assert [e.name for e in mltracker.get_all_experiments(str(tmp_path / name)).list()] == ["e"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_normalised_uri_opens_the_same_file_again(tmp_path: Path, name: str) -> None:
    with mltracker.connect(tmp_path / name) as tracker:
        tracker.experiments.create("e")
        uri = tracker.uri

    assert resolve_uri(uri) == uri
    assert sqlite_path(uri) == str(tmp_path / name)
    with mltracker.connect(uri) as again:
        assert [e.name for e in again.experiments.list()] == ["e"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_cli_finds_and_checks_the_file_of_that_exact_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with mltracker.connect(path) as tracker:
        tracker.experiments.create("e")

    listed = invoke("--uri", str(path), "experiments", "list")
    checked = invoke("--uri", str(path), "db", "check")

    assert listed.exit_code == 0, listed.output
    assert "e" in listed.stdout
    assert (checked.exit_code, checked.stdout) == (0, "ok\n"), checked.output


@pytest.mark.parametrize("name", ODD_NAMES)
def test_cli_reports_a_missing_file_by_its_exact_name(tmp_path: Path, name: str) -> None:
    (tmp_path / "q").touch()  # what "q?x.db" was once taken for: not a store of that name
    (tmp_path / "pct x.db").touch()

    assert_error(invoke("--uri", str(tmp_path / name), "experiments", "list"), "no store at")
    assert_error(invoke("--uri", str(tmp_path / name), "db", "check"), "no store at")


# sqlite:/// URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        pytest.param("sqlite:///q%3Fx.db", "q?x.db", id="encoded-question-mark"),
        pytest.param("sqlite:///pct%20x.db", "pct x.db", id="encoded-space"),
        pytest.param("sqlite:///pct%2520x.db", "pct%20x.db", id="encoded-percent"),
        pytest.param("sqlite:///plain.db", "plain.db", id="plain"),
        pytest.param("sqlite+pysqlite:///plain.db", "plain.db", id="pysqlite-driver"),
        pytest.param("SQLite:///plain.db", "plain.db", id="upper-case-scheme"),
    ],
)
def test_sqlite_url_is_percent_decoded(tmp_path: Path, url: str, name: str) -> None:
    with mltracker.connect(url) as tracker:
        tracker.experiments.create("e")

    assert [n for n in files_in(tmp_path) if not n.endswith(("-wal", "-shm"))] == [name]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        pytest.param("sqlite:///q?x.db", "%3F", id="question-mark"),
        pytest.param("sqlite:///store.db?timeout=30", "no parameters", id="parameters"),
        pytest.param("sqlite:///store.db?mode=ro", "no parameters", id="mode"),
        pytest.param("sqlite:///bad%ff.db", "UTF-8", id="not-utf8"),
        pytest.param("sqlite:///a%00b.db", "NUL", id="encoded-nul"),
        pytest.param("sqlite+aiosqlite:///store.db", "aiosqlite", id="other-sqlite-driver"),
        pytest.param("sqlite+pysqlcipher:///store.db", "pysqlcipher", id="sqlcipher-driver"),
        pytest.param(
            "postgresql+psycopg2://postgres@127.0.0.1/test", "psycopg2", id="other-pg-driver"
        ),
    ],
)
def test_url_that_would_open_something_else_is_refused(
    tmp_path: Path, url: str, fragment: str
) -> None:
    for entry in (mltracker.connect, lambda uri: mltracker.get_experiment("x", uri)):
        with pytest.raises(InvalidArgumentError, match=fragment):
            entry(url)
    assert files_in(tmp_path) == []


def test_cli_refuses_a_sqlite_url_with_parameters(tmp_path: Path) -> None:
    assert_error(invoke("--uri", "sqlite:///q?x.db", "db", "upgrade"), "%3F")
    assert files_in(tmp_path) == []


# The same set-up for every spelling ----------------------------------------------------------

SPELLINGS = [
    pytest.param(lambda path: str(path), id="path"),
    pytest.param(lambda path: f"sqlite:///{path}", id="sqlite"),
    pytest.param(lambda path: f"sqlite+pysqlite:///{path}", id="sqlite+pysqlite"),
    pytest.param(lambda path: f"SQLITE+PYSQLITE:///{path}", id="upper-case"),
]


@pytest.mark.parametrize("spell", SPELLINGS)
def test_every_sqlite_spelling_is_one_store(tmp_path: Path, spell: Callable[[Path], str]) -> None:
    path = tmp_path / "store.db"

    assert resolve_uri(spell(path)) == resolve_uri(str(path))


@pytest.mark.parametrize("spell", SPELLINGS)
def test_every_sqlite_spelling_gets_wal_and_foreign_keys(
    tmp_path: Path, spell: Callable[[Path], str]
) -> None:
    path = tmp_path / "store.db"
    with mltracker.connect(spell(path)) as tracker:
        experiment = tracker.experiments.create("e")
        model = experiment.models.create("h")
        model.metrics.log("loss", 0.5, step=1)
        model.modules.log("layer", {"type": "Linear"})
        model.iterations.create(1).modules.log("optimizer", {"lr": 0.1})
        tracker.flush()

        tracker.experiments.delete(experiment.id)

    with closing(sqlite3.connect(path)) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert orphans(str(path)) == {}
    assert row_counts(str(path)) == dict.fromkeys(row_counts(str(path)), 0)


@pytest.mark.parametrize("spell", SPELLINGS)
def test_every_sqlite_spelling_gets_the_connection_settings(
    tmp_path: Path, spell: Callable[[Path], str]
) -> None:
    with mltracker.connect(spell(tmp_path / "store.db")) as tracker:
        tracker.experiments.create("e")
        store = tracker.store
        assert isinstance(store, SqlStore)
        with store.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            settings = {
                name: driver.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("busy_timeout", "foreign_keys", "journal_mode", "synchronous")
            }

    assert settings == {
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "foreign_keys": 1,
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
    }


# NUL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(lambda uri: mltracker.connect(uri), id="connect"),
        pytest.param(lambda uri: mltracker.get_experiment("x", uri), id="get_experiment"),
        pytest.param(lambda uri: mltracker.get_all_experiments(uri), id="get_all_experiments"),
    ],
)
@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("a\x00b", id="path"),
        pytest.param("sqlite:///a\x00b.db", id="sqlite-url"),
        pytest.param("postgresql://postgres@127.0.0.1/te\x00st", id="postgresql-url"),
    ],
)
def test_nul_in_uri_is_an_invalid_argument(
    tmp_path: Path, entry: Callable[[str], Any], uri: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="NUL"):
        entry(uri)
    assert files_in(tmp_path) == []


def test_nul_in_cli_uri_exits_1() -> None:
    assert_error(invoke("--uri", "a\x00b", "experiments", "list"), "NUL")


def test_environment_variable_with_nul_is_an_invalid_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "environ", {**os.environ, "MLTRACKER_URI": "a\x00b"})

    with pytest.raises(InvalidArgumentError, match="NUL"):
        mltracker.connect()


# host:port without a scheme ------------------------------------------------------------------

HOST_PORTS = [
    pytest.param("localhost:8765", id="localhost"),
    pytest.param("127.0.0.1:8765", id="ipv4"),
    pytest.param("myhost:8765", id="name"),
    pytest.param("tracker.example.org:443", id="dotted-name"),
    pytest.param("[::1]:8765", id="ipv6"),
    pytest.param("localhost:8765/", id="trailing-slash"),
    pytest.param("myhost:8765/tracker", id="path"),
]


@pytest.mark.parametrize("address", HOST_PORTS)
def test_host_and_port_without_a_scheme_is_refused(tmp_path: Path, address: str) -> None:
    for entry in (
        mltracker.connect,
        lambda uri: mltracker.get_experiment("x", uri),
        mltracker.get_all_experiments,
    ):
        with pytest.raises(InvalidArgumentError, match=f"did you mean http://{re.escape(address)}"):
            entry(address)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("address", HOST_PORTS)
def test_host_and_port_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, address: str
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", address)

    with pytest.raises(InvalidArgumentError, match=r"\$MLTRACKER_URI=.*did you mean http://"):
        mltracker.connect()
    assert files_in(tmp_path) == []


def test_cli_refuses_host_and_port_without_a_scheme(tmp_path: Path) -> None:
    assert_error(
        invoke("--uri", "localhost:8765", "experiments", "list"),
        "did you mean http://localhost:8765",
    )
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        pytest.param("runs/a.db", "runs/a.db", id="relative"),
        pytest.param("./localhost:8765", "localhost:8765", id="dot-slash-host-port"),
        pytest.param("x:1", "x:1", id="single-letter-like-a-drive"),
        pytest.param("run:1.db", "run:1.db", id="colon-in-a-name"),
        pytest.param("C:\\x.db", "C:\\x.db", id="windows-drive-spelling"),
    ],
)
def test_a_path_with_a_colon_is_still_a_path(tmp_path: Path, path: str, name: str) -> None:
    assert resolve_uri(path) == resolve_uri(str(tmp_path / name))
    assert resolve_uri(str(tmp_path / "localhost:8765")).endswith("/localhost:8765")


# $MLTRACKER_TOKEN with a store opened directly -----------------------------------------------


def test_environment_token_with_an_environment_file_store_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", str(tmp_path / "store.db"))
    monkeypatch.setenv("MLTRACKER_TOKEN", "secret")

    for entry in (mltracker.connect, lambda: mltracker.get_experiment("x")):
        with pytest.raises(InvalidArgumentError, match="the token is for a tracking server"):
            entry()
    assert files_in(tmp_path) == []

    with mltracker.connect(tmp_path / "store.db") as tracker:  # named in the call: allowed
        tracker.experiments.create("e")
    assert_error(invoke("experiments", "list"), "the token is for a tracking server")


def test_environment_token_is_refused_with_an_environment_postgres_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", "postgresql://postgres@127.0.0.1:1/test")
    monkeypatch.setenv("MLTRACKER_TOKEN", "secret")
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.2")  # were it opened: nothing listens

    with pytest.raises(InvalidArgumentError, match="MLTRACKER_TOKEN is set"):
        mltracker.connect()


def test_environment_token_is_left_alone_when_the_call_names_the_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", str(tmp_path / "env.db"))
    monkeypatch.setenv("MLTRACKER_TOKEN", "secret")

    with mltracker.connect(tmp_path / "given.db") as tracker:
        tracker.experiments.create("e")
    assert files_in(tmp_path)[0] == "given.db"


def test_environment_token_is_left_alone_for_the_default_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTRACKER_URI", raising=False)
    monkeypatch.setenv("MLTRACKER_TOKEN", "secret")

    with mltracker.connect() as tracker:
        tracker.experiments.create("e")
    assert "mltracker.db" in files_in(tmp_path)
