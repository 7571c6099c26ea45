"""A database of another application is neither read nor written until it is adopted.

"Foreign": it has tables, but no ``mltracker_schema`` table. Every entry point refuses it
with ``ForeignStoreError`` and leaves it exactly as it was; ``mltracker db upgrade --adopt``
adds MLTracker's tables beside the others, unless one of them has the name of one of ours.
An original ``db.json`` given as a store is refused the same way, with the import command.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cli.helpers import assert_error, invoke, parse_json
from contract.rowcounts import execute

import mltracker
from mltracker import BackendError, ForeignStoreError
from mltracker.backends.sql.schema import SCHEMA_VERSION

ORIGINAL = Path(__file__).parents[1] / "data" / "original" / "small.json"


def is_postgres(uri: str) -> bool:
    return uri.startswith("postgresql://")


def rows(uri: str, query: str) -> list[tuple[Any, ...]]:
    if is_postgres(uri):
        import psycopg

        with psycopg.connect(uri, autocommit=True) as connection:
            return [tuple(row) for row in connection.execute(query).fetchall()]
    with closing(sqlite3.connect(uri)) as connection:
        return [tuple(row) for row in connection.execute(query).fetchall()]


def tables(uri: str) -> list[str]:
    if is_postgres(uri):
        query = (
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY 1"
        )
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1"
    return [row[0] for row in rows(uri, query)]


def snapshot(uri: str) -> object:
    """What a test compares before and after: the bytes of a SQLite file (and whether a WAL
    file appeared), or the tables and rows of a PostgreSQL schema."""
    if is_postgres(uri):
        return {table: rows(uri, f"SELECT * FROM {table} ORDER BY 1") for table in tables(uri)}
    return Path(uri).read_bytes(), Path(f"{uri}-wal").exists()


@pytest.fixture(params=["users", "experiments"], ids=["other-tables", "clashing-table"])
def foreign(request: pytest.FixtureRequest, uri: str) -> str:
    """A database of another application: a ``users`` table, or its own ``experiments``."""
    table = request.param
    execute(uri, f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    execute(uri, f"INSERT INTO {table} (id, name) VALUES (1, 'ada')")
    return uri


ENTRY_POINTS = [
    pytest.param(lambda uri: mltracker.connect(uri), id="connect"),
    pytest.param(lambda uri: mltracker.get_all_experiments(uri).list(), id="get_all_experiments"),
    pytest.param(lambda uri: mltracker.get_experiment("x", uri), id="get_experiment"),
    pytest.param(lambda uri: mltracker.getExperiment("x", uri), id="getExperiment"),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_points_refuse_a_foreign_database_and_change_nothing(
    foreign: str, entry: Callable[[str], Any]
) -> None:
    before = snapshot(foreign)

    with pytest.raises(ForeignStoreError, match="not an MLTracker store") as raised:
        entry(foreign)

    assert isinstance(raised.value, BackendError)
    assert "no such column" not in str(raised.value)
    assert "does not exist" not in str(raised.value)
    assert snapshot(foreign) == before


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["experiments", "list"], id="experiments-list"),
        pytest.param(["experiments", "show", "ada"], id="experiments-show"),
        pytest.param(["models", "list", "ada"], id="models-list"),
        pytest.param(["export", "ada"], id="export"),
        pytest.param(["experiments", "delete", "ada", "--yes"], id="delete"),
        pytest.param(["db", "upgrade"], id="db-upgrade"),
    ],
)
def test_cli_refuses_a_foreign_database_and_changes_nothing(foreign: str, args: list[str]) -> None:
    before = snapshot(foreign)

    assert_error(invoke("--uri", foreign, *args), "not an MLTracker store")

    assert snapshot(foreign) == before


def test_refusal_names_the_way_to_adopt(uri: str) -> None:
    execute(uri, "CREATE TABLE users (id INTEGER PRIMARY KEY)")

    with pytest.raises(ForeignStoreError, match=r"users.*db upgrade --adopt"):
        mltracker.connect(uri)


def test_adopt_adds_our_tables_and_keeps_theirs(uri: str) -> None:
    execute(uri, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    execute(uri, "INSERT INTO users (id, name) VALUES (1, 'ada')")

    result = invoke("--uri", uri, "--json", "db", "upgrade", "--adopt")

    assert result.exit_code == 0, result.output
    document = parse_json(result.stdout)
    assert (document["before"], document["after"]) == (None, SCHEMA_VERSION)
    assert document["outcome"] == "adopted"
    assert rows(uri, "SELECT id, name FROM users") == [(1, "ada")]
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("mnist").models.create("h").metrics.log("loss", 0.5)
    assert [e.name for e in mltracker.get_all_experiments(uri).list()] == ["mnist"]
    assert rows(uri, "SELECT id, name FROM users") == [(1, "ada")]


def test_adopt_refuses_a_database_with_a_table_of_our_names(uri: str) -> None:
    execute(uri, "CREATE TABLE experiments (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    before = snapshot(uri)

    result = invoke("--uri", uri, "db", "upgrade", "--adopt")

    assert_error(result, "some have the names of MLTracker's (experiments)")
    assert snapshot(uri) == before


def test_adopt_of_an_empty_or_current_store_is_an_ordinary_upgrade(uri: str) -> None:
    first = parse_json(invoke("--uri", uri, "--json", "db", "upgrade", "--adopt").stdout)
    again = parse_json(invoke("--uri", uri, "--json", "db", "upgrade", "--adopt").stdout)

    assert first["outcome"] == "created"
    assert again["outcome"] == "already current"


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(lambda path: mltracker.getExperiment("x", path=path), id="getExperiment"),
        pytest.param(lambda path: mltracker.getallExperiments(path).list(), id="getall"),
        pytest.param(lambda path: mltracker.connect(path), id="connect"),
    ],
)
def test_original_json_file_is_named_with_the_import_command(
    tmp_path: Path, entry: Callable[[str], Any]
) -> None:
    path = tmp_path / "data" / "db.json"
    path.parent.mkdir()
    shutil.copyfile(ORIGINAL, path)
    content = path.read_bytes()

    with pytest.raises(ForeignStoreError) as raised:
        entry(str(path))

    message = str(raised.value)
    assert "original mltracker 0.4.0" in message
    assert f"mltracker --uri {tmp_path / 'data' / 'mltracker.db'} import {path}" in message
    assert "corrupt" not in message
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == ["db.json"]


def test_original_json_file_given_to_the_cli_names_the_import_command(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    shutil.copyfile(ORIGINAL, path)

    assert_error(invoke("--uri", str(path), "experiments", "list"), "mltracker --uri")
