"""Reading never writes (SPEC §3): opening and reading create and upgrade nothing.

A store that does not exist yet reads as an empty one and is created by the first write; a
store of an older schema is read as it is and upgraded by the first write.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cli.helpers import invoke, parse_json
from contract.rowcounts import execute

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import migrations, schema
from mltracker.connect import close_all, resolve_uri

READS = [
    pytest.param(lambda uri: mltracker.connect(uri).close(), id="connect"),
    pytest.param(lambda uri: mltracker.get_all_experiments(uri).list(), id="list"),
    pytest.param(lambda uri: mltracker.getallExperiments(uri).read("x"), id="read"),
    pytest.param(lambda uri: mltracker.connect(uri).experiments.list(), id="connect-list"),
]


def table_names(uri: str) -> list[str]:
    engine = engines.create_engine(resolve_uri(uri))
    try:
        return engines.run(
            engine, lambda connection: sorted(sa.inspect(connection).get_table_names()), write=False
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize("read", READS)
def test_reading_a_missing_sqlite_store_creates_no_file_and_no_folder(
    tmp_path: Path, read: Callable[[str], Any]
) -> None:
    path = tmp_path / "later" / "store.db"

    read(str(path))

    assert not path.parent.exists()


def test_a_missing_store_reads_as_an_empty_one(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    experiments = mltracker.get_all_experiments(path)

    assert experiments.list() == []
    assert experiments.read("mnist") is None
    assert not Path(path).exists()


@pytest.mark.parametrize("read", READS)
def test_reading_an_empty_database_creates_no_table(uri: str, read: Callable[[str], Any]) -> None:
    if not uri.startswith("postgresql://"):
        Path(uri).touch()  # an empty file is an empty SQLite database

    read(uri)

    assert table_names(uri) == []
    if not uri.startswith("postgresql://"):
        assert Path(uri).stat().st_size == 0


def test_cli_reading_an_empty_postgresql_database_prints_nothing_and_creates_nothing(
    postgres_uri: str,
) -> None:
    result = invoke("--uri", postgres_uri, "--json", "experiments", "list")

    assert result.exit_code == 0, result.output
    assert parse_json(result.stdout) == []
    assert table_names(postgres_uri) == []


def test_first_write_after_reads_creates_the_store(uri: str) -> None:
    reader = mltracker.get_all_experiments(uri)
    assert reader.list() == []

    mltracker.get_experiment("mnist", uri)

    assert [e.name for e in reader.list()] == ["mnist"]
    assert "mltracker_schema" in table_names(uri)


def test_a_store_created_by_another_process_is_seen_by_a_reader_opened_before(
    uri: str,
) -> None:
    reader = mltracker.get_all_experiments(uri)
    assert reader.list() == []
    other = engines.create_engine(resolve_uri(uri))
    try:  # what another process does: create the store and an experiment
        migrations.ensure_schema(other)
        with other.begin() as connection:
            connection.execute(
                sa.insert(schema.experiments).values(id=uuid.uuid4(), name="theirs", created_at=0)
            )
    finally:
        other.dispose()

    assert [e.name for e in reader.list()] == ["theirs"]


@pytest.fixture
def version_1_store(uri: str) -> str:
    """A store of schema version 1 (before the table of written batches), with data."""
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("old").models.create("m").metrics.log("loss", 0.5, step=1)
    close_all()
    execute(uri, "DROP TABLE write_batches")
    execute(uri, "DROP TABLE step_operations")  # added in version 4
    execute(uri, "UPDATE mltracker_schema SET version = 1")
    return uri


def raw_version(uri: str) -> int:
    if uri.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(uri, autocommit=True) as connection:
            row = connection.execute("SELECT version FROM mltracker_schema").fetchone()
    else:
        with closing(sqlite3.connect(uri)) as connection:
            row = connection.execute("SELECT version FROM mltracker_schema").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        pytest.param(["experiments", "list"], "old", id="experiments-list"),
        pytest.param(["experiments", "show", "old"], "m", id="experiments-show"),
        pytest.param(["models", "show", "old", "m"], "loss", id="models-show"),
        pytest.param(["metrics", "list", "old", "m"], "0.5", id="metrics-list"),
        pytest.param(["export", "old"], "0.5", id="export"),
        pytest.param(["db", "check"], "ok", id="db-check"),
    ],
)
def test_cli_reads_an_older_store_without_upgrading_it(
    version_1_store: str, args: list[str], shown: str
) -> None:
    result = invoke("--uri", version_1_store, *args)

    assert result.exit_code == 0, result.output
    assert shown in result.stdout
    assert raw_version(version_1_store) == 1
    assert "write_batches" not in table_names(version_1_store)


def test_library_reads_an_older_store_without_upgrading_it(version_1_store: str) -> None:
    experiment = mltracker.get_all_experiments(version_1_store).read("old")
    assert experiment is not None
    model = experiment.models.read("m")
    assert model is not None

    assert [(p.step, p.value) for p in model.metrics.list()] == [(1, 0.5)]
    assert raw_version(version_1_store) == 1

    model.metrics.log("loss", 0.25, step=2)
    with mltracker.connect(version_1_store) as tracker:
        tracker.flush()

    assert raw_version(version_1_store) == schema.SCHEMA_VERSION
    assert [(p.step, p.value) for p in model.metrics.list()] == [(1, 0.5), (2, 0.25)]
