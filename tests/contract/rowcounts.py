"""Raw access to the stores of the contract suite, bypassing the library.

``row_counts`` and ``orphans`` count rows with a plain driver query, to prove that deletes
cascade completely (no orphan rows) and touch nothing else; ``execute`` changes a store behind
the library's back. ``uri`` is what the ``uri`` fixture gives: a SQLite file path or a
PostgreSQL URL whose ``search_path`` option names the test's schema.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from conftest import store_behind

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
    uri = store_behind(uri)
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
    uri = store_behind(uri)
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
