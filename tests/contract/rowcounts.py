"""Raw access to the stores of the contract suite, bypassing the library.

``row_counts`` and ``orphans`` count rows with a plain driver query, to prove that deletes
cascade completely (no orphan rows) and touch nothing else; ``execute`` changes a store behind
the library's back. ``uri`` is what the ``uri`` fixture gives: a SQLite file path or a
PostgreSQL URL whose ``search_path`` option names the test's schema.

``shared_store`` makes the ``shared_uri`` fixture of a test module: a store of each backend
that the whole module shares, for the many small cases that each work in an experiment of
their own (they then cost a few queries each instead of a new schema). Tests that look at a
whole store (experiments, row counts) use the ``uri`` and ``tracker`` fixtures instead.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_URL, postgres_schema_uri

from mltracker.connect import close_all

#: Every table that holds user data, owners first.
TABLES = ("experiments", "models", "series", "metrics", "iterations", "modules")

#: Rows whose owner is gone: (label, query). Each query counts such rows.
ORPHAN_QUERIES = (
    (
        "models without experiment",
        (
            "SELECT count(*) FROM models m LEFT JOIN experiments e ON e.pk = m.experiment_pk"
            " WHERE e.pk IS NULL"
        ),
    ),
    (
        "series without model",
        "SELECT count(*) FROM series s LEFT JOIN models m ON m.pk = s.model_pk WHERE m.pk IS NULL",
    ),
    (
        "metrics without series",
        (
            "SELECT count(*) FROM metrics x LEFT JOIN series s ON s.pk = x.series_pk"
            " WHERE s.pk IS NULL"
        ),
    ),
    (
        "iterations without model",
        (
            "SELECT count(*) FROM iterations i LEFT JOIN models m ON m.pk = i.model_pk"
            " WHERE m.pk IS NULL"
        ),
    ),
    (
        "modules without owner",
        (
            "SELECT count(*) FROM modules x LEFT JOIN models m ON m.pk = x.model_pk"
            " LEFT JOIN iterations i ON i.pk = x.iteration_pk"
            " WHERE m.pk IS NULL AND i.pk IS NULL"
        ),
    ),
)


def _scalars(uri: str, queries: list[str]) -> list[int]:
    if uri.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(uri, autocommit=True) as connection:
            return [_first(connection.execute(query).fetchone()) for query in queries]
    with closing(sqlite3.connect(uri)) as connection:
        return [_first(connection.execute(query).fetchone()) for query in queries]


def _first(row: Any) -> int:
    assert row is not None
    return int(row[0])


def dump(uri: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of :data:`TABLES`, in key order: what a store holds."""
    queries = [f"SELECT * FROM {table} ORDER BY 1" for table in TABLES]
    if uri.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(uri, autocommit=True) as connection:
            rows = [connection.execute(query).fetchall() for query in queries]
    else:
        with closing(sqlite3.connect(uri)) as connection:
            rows = [connection.execute(query).fetchall() for query in queries]
    return dict(zip(TABLES, rows, strict=True))


def row_counts(uri: str) -> dict[str, int]:
    """The number of rows in each table of :data:`TABLES`."""
    counts = _scalars(uri, [f"SELECT count(*) FROM {table}" for table in TABLES])
    return dict(zip(TABLES, counts, strict=True))


def orphans(uri: str) -> dict[str, int]:
    """The kinds of orphan rows found, with how many there are (empty when there are none)."""
    counts = _scalars(uri, [query for _, query in ORPHAN_QUERIES])
    return {label: count for (label, _), count in zip(ORPHAN_QUERIES, counts, strict=True) if count}


def execute(uri: str, statement: str) -> None:
    """Run one raw statement against the store behind the library's back."""
    if uri.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(uri, autocommit=True) as connection:
            connection.execute(statement)
        return
    with closing(sqlite3.connect(uri)) as connection:
        connection.execute(statement)
        connection.commit()


@contextmanager
def scratch_store(backend: str, folder: Path, postgres_available: bool) -> Iterator[str]:
    """A fresh store of ``backend`` ("sqlite" or "postgresql"), removed afterwards."""
    if backend == "sqlite":
        yield str(folder / "store.db")
        return
    if not postgres_available:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    import psycopg

    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_uri(schema)
    finally:
        close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def shared_store(label: str) -> Callable[..., Iterator[str]]:
    """A module-scoped ``shared_uri`` fixture: ``shared_uri = shared_store("metrics")``."""

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def shared_uri(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[str]:
        available = request.param == "sqlite" or request.getfixturevalue("postgres_available")
        with scratch_store(request.param, tmp_path_factory.mktemp(label), available) as uri:
            yield uri

    return shared_uri
