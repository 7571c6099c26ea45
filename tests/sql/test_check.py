"""``check_store``: the integrity check of a SQLite file or a PostgreSQL schema, called as a
library; it reads only."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from mltracker import ForeignStoreError, InvalidArgumentError, NotFoundError
from mltracker.backends.sql.check import CheckReport, check_store
from mltracker.backends.sql.schema import SCHEMA_VERSION
from mltracker.connect import close_all

from .test_foreign_store import is_postgres, snapshot, tables


def fill(uri: str) -> None:
    """Experiment "mnist": model "a" with a module, an iteration with a module, and points."""
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("mnist").models.create("a")
        model.modules.log("linear", {"in": 3})
        model.iterations.create(1).modules.log("sgd", {"lr": 0.1})
        for step in range(3):
            model.metrics.log("loss", 1 / (step + 1), step=step)
    close_all()


def execute(uri: str, *statements: str) -> None:
    """Run ``statements`` in one transaction, foreign keys not enforced."""
    if is_postgres(uri):
        import psycopg

        with psycopg.connect(uri) as connection:  # committed on leaving the block
            connection.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                connection.execute(statement)
        return
    with closing(sqlite3.connect(uri)) as connection, connection:  # foreign keys off
        for statement in statements:
            connection.execute(statement)


def test_check_of_a_sound_store_is_ok(uri: str) -> None:
    fill(uri)

    report = check_store(uri)

    assert report == CheckReport(SCHEMA_VERSION, ())
    assert report.ok


def stored(uri: str) -> object:
    """The tables and rows of a PostgreSQL schema, or the bytes of a SQLite file with those
    of its write-ahead log (a reader of a store in WAL mode may create an empty one)."""
    if is_postgres(uri):
        return snapshot(uri)
    wal = Path(f"{uri}-wal")
    return Path(uri).read_bytes(), wal.read_bytes() if wal.exists() else b""


def test_check_reads_only(uri: str) -> None:
    fill(uri)
    before = stored(uri)

    check_store(uri)

    assert stored(uri) == before


def test_check_finds_an_orphan_row_in_a_sqlite_file(sqlite_uri: str) -> None:
    fill(sqlite_uri)
    execute(
        sqlite_uri,
        "INSERT INTO models (id, experiment_pk, hash, step, created_at)"
        f" VALUES ('{uuid.uuid4().hex}', 999, 'x', 0, 0)",
    )

    report = check_store(sqlite_uri)

    assert report.schema_version == SCHEMA_VERSION
    assert report.problems == ("1 row of models refers to missing rows of experiments",)
    assert not report.ok


def test_check_finds_an_orphan_row_in_a_postgresql_schema(postgres_uri: str) -> None:
    fill(postgres_uri)
    execute(postgres_uri, "DELETE FROM experiments")

    report = check_store(postgres_uri)

    assert report.problems == (
        "1 row of models refers to missing rows of experiments (experiment_pk)",
    )


def test_check_finds_points_of_a_missing_series(uri: str) -> None:
    fill(uri)
    execute(uri, "DELETE FROM summaries")  # they go with their series (a foreign key)
    execute(uri, "DELETE FROM series")

    assert check_store(uri).problems == (
        "3 rows of metrics refer to missing rows of series (series_pk)",
    )


def test_check_finds_a_module_without_a_single_owner_in_postgresql(postgres_uri: str) -> None:
    fill(postgres_uri)
    execute(
        postgres_uri,
        "ALTER TABLE modules DROP CONSTRAINT ck_modules_one_owner",
        "UPDATE modules SET model_pk = NULL WHERE name = 'linear'",
    )

    assert check_store(postgres_uri).problems == (
        "1 modules have no single owner (model or iteration)",
    )


def test_check_reports_a_newer_schema_version(uri: str) -> None:
    fill(uri)
    execute(uri, f"UPDATE mltracker_schema SET version = {SCHEMA_VERSION + 1}")

    report = check_store(uri)

    assert report.schema_version == SCHEMA_VERSION + 1
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"schema version {SCHEMA_VERSION + 1} is newer")


def test_check_of_a_database_without_mltracker_tables(uri: str) -> None:
    execute(uri, "CREATE TABLE notes (x INTEGER)")
    before = tables(uri)

    report = check_store(uri)

    assert report == CheckReport(
        None, ("not an MLTracker store: it has no mltracker_schema table",)
    )
    assert tables(uri) == before


def test_check_of_a_missing_file_raises_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"

    with pytest.raises(NotFoundError, match="no store at"):
        check_store(path)
    assert list(tmp_path.iterdir()) == []


def test_check_of_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database at all\n" * 100)

    with pytest.raises(ForeignStoreError, match="is not a usable SQLite database"):
        check_store(path)


def test_check_refuses_a_store_that_is_not_sql() -> None:
    with pytest.raises(InvalidArgumentError, match="http"):
        check_store("http://127.0.0.1:1")
