"""``mltracker db upgrade`` and ``mltracker db check``."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import sqlalchemy as sa

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql.schema import SCHEMA_VERSION
from mltracker.connect import close_all, resolve_uri

from .helpers import Contents, Run, assert_error, fill, invoke, parse_json


def set_version(path: str, version: int) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE mltracker_schema SET version = ?", (version,))
    connection.close()


def test_upgrade_creates_fresh_store(run_sqlite: Run, sqlite_uri: str) -> None:
    result = run_sqlite("db", "upgrade")

    assert result.exit_code == 0
    assert result.stdout == f"{sqlite_uri}: schema version none -> {SCHEMA_VERSION} (created)\n"
    with mltracker.connect(sqlite_uri) as tracker:
        assert tracker.experiments.list() == []


def test_upgrade_of_current_store_changes_nothing(run: Run, filled: Contents) -> None:
    document = parse_json(run("--json", "db", "upgrade").stdout)

    assert (document["before"], document["after"]) == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert document["outcome"] == "already current"
    assert len(parse_json(run("--json", "experiments", "list").stdout)) == 2


def test_upgrade_of_newer_store_exits_1(run_sqlite: Run, filled_sqlite: Contents) -> None:
    close_all()
    set_version(filled_sqlite.uri, SCHEMA_VERSION + 98)

    assert_error(run_sqlite("db", "upgrade"), f"schema version {SCHEMA_VERSION + 98}")


def test_check_of_healthy_store_prints_ok(run: Run, filled: Contents) -> None:
    result = run("db", "check")

    assert result.exit_code == 0
    assert result.stdout == "ok\n"


def test_check_json(run: Run, filled: Contents) -> None:
    document = parse_json(run("--json", "db", "check").stdout)

    assert document == {**document, "ok": True, "problems": [], "schema_version": SCHEMA_VERSION}


def test_check_finds_sqlite_rows_pointing_nowhere(run_sqlite: Run, filled_sqlite: Contents) -> None:
    close_all()
    with sqlite3.connect(filled_sqlite.uri) as connection:  # foreign keys are off by default
        connection.execute(
            "INSERT INTO models (id, experiment_pk, hash, step, created_at)"
            " VALUES (?, 999, 'x', 0, 0)",
            (uuid.uuid4().hex,),
        )
    connection.close()

    result = run_sqlite("db", "check")

    assert_error(result, "1 problem found")
    assert result.stdout == "1 row of models refers to missing rows of experiments\n"


def test_check_finds_postgresql_orphans(postgres_uri: str) -> None:
    fill(postgres_uri)
    engine = engines.create_engine(resolve_uri(postgres_uri))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
            connection.execute(sa.text("DELETE FROM experiments WHERE name = 'mnist'"))
    finally:
        engine.dispose()

    result = invoke("--uri", postgres_uri, "--json", "db", "check")

    assert_error(result, "1 problem found")
    assert parse_json(result.stdout)["problems"] == [
        "3 rows of models refer to missing rows of experiments (experiment_pk)"
    ]


def test_check_of_newer_store_reports_version(run_sqlite: Run, filled_sqlite: Contents) -> None:
    close_all()
    set_version(filled_sqlite.uri, 99)

    result = run_sqlite("db", "check")

    assert_error(result, "1 problem found")
    assert "schema version 99 is newer" in result.stdout


def test_check_of_foreign_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()

    result = invoke("--uri", str(path), "db", "check")

    assert_error(result, "1 problem found")
    assert "not an MLTracker store" in result.stdout


def test_check_of_file_that_is_not_a_database_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database at all\n" * 100)

    result = invoke("--uri", str(path), "db", "check")

    assert_error(result, f"{path} is not a usable SQLite database: file is not a database")
    assert result.stdout == ""


def test_check_of_missing_file_exits_1_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"

    assert_error(invoke("--uri", str(path), "db", "check"), f"no store at {path}")
    assert not path.exists()


def test_check_finds_points_of_a_missing_series(uri: str) -> None:
    fill(uri)
    engine = engines.create_engine(resolve_uri(uri))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM series WHERE name = 'loss'"))
    finally:
        engine.dispose()

    result = invoke("--uri", uri, "--json", "db", "check")

    assert_error(result, "1 problem found")
    assert parse_json(result.stdout)["problems"] == [
        "4 rows of metrics refer to missing rows of series (series_pk)"
    ]
