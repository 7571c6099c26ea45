"""Ours and a raw psycopg 3 ``COPY`` baseline on PostgreSQL, in a schema made for the run.

Each size gets a fresh schema ``bench_<random>``, dropped afterwards. Ours goes through the
URI ``...?options=-csearch_path%3D<schema>``; the raw baseline copies the same rows, built
the same way (``time.time()`` per point), into a table like the raw SQLite one, one
transaction per ``CHUNK`` rows.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench_common import CHUNK, METRIC, PHASE, Result, settle

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

RAW_SCHEMA = (
    "CREATE TABLE raw_metrics (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " model TEXT, name TEXT, value DOUBLE PRECISION, step BIGINT, phase TEXT,"
    " timestamp DOUBLE PRECISION)",
    "CREATE INDEX ix_raw_metrics_model_name ON raw_metrics (model, name)",
)
RAW_COPY = "COPY raw_metrics (model, name, value, step, phase, timestamp) FROM STDIN"


def plain_url(url: str) -> str:
    """The URL as libpq takes it (without a SQLAlchemy ``+driver``)."""
    scheme, separator, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{separator}{rest}"


def schema_uri(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def server_version(url: str) -> str:
    """The server's version, or raises whatever psycopg raises when it cannot connect."""
    import psycopg

    with psycopg.connect(plain_url(url), autocommit=True, connect_timeout=5) as admin:
        row = admin.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def run_pair(url: str, n: int) -> tuple[Result, Result]:
    """Ours and raw ``COPY`` at ``n`` points, in one fresh schema dropped afterwards."""
    import psycopg

    url = plain_url(url)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            uri = schema_uri(url, schema)
            _checkpoint(admin)
            ours = _run_ours(uri, n)
            _checkpoint(admin)
            raw = _run_raw(uri, n)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return ours, raw


def _checkpoint(admin: Any) -> None:
    """Start each timed run with no dirty pages from the previous one (if we may)."""
    try:
        admin.execute("CHECKPOINT")
    except Exception:  # noqa: BLE001 - needs privileges we may not have; only a nicety
        pass


def _run_ours(uri: str, n: int) -> Result:
    import mltracker

    with mltracker.connect(uri) as connection:
        model = connection.experiments.create("bench").models.create("m")
        settle()
        start = time.perf_counter()
        for i in range(n):
            model.metrics.log(METRIC, i * 0.001, step=i, phase=PHASE)
        connection.flush()
        seconds = time.perf_counter() - start
    _check_count(uri, "metrics", n, "ours")
    return Result("ours", "metrics.log", "postgresql", n, seconds)


def _run_raw(uri: str, n: int) -> Result:
    import psycopg

    model = str(uuid.uuid4())
    with psycopg.connect(uri, autocommit=True) as connection:
        for statement in RAW_SCHEMA:
            connection.execute(statement)
        with connection.cursor() as cursor:
            settle()
            start = time.perf_counter()
            for low in range(0, n, CHUNK):
                rows = [
                    (model, METRIC, i * 0.001, i, PHASE, time.time())
                    for i in range(low, min(low + CHUNK, n))
                ]
                with connection.transaction():
                    with cursor.copy(RAW_COPY) as copy:
                        for row in rows:
                            copy.write_row(row)
            seconds = time.perf_counter() - start
    _check_count(uri, "raw_metrics", n, "raw COPY")
    return Result("raw", "COPY", "postgresql", n, seconds)


def _check_count(uri: str, table: str, n: int, who: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    if row is None or row[0] != n:
        raise RuntimeError(f"{who}: {row[0] if row else 0} rows in {table}, expected {n}")
