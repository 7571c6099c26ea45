"""Ours and the raw ``sqlite3`` baseline, each into a fresh SQLite file.

Both time the loop that produces the points (``time.time()`` per point, like a training
loop) plus everything needed for the points to be in the file. Store creation is untimed.
Each then times a read of the whole series and reports the settled file size.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from bench_common import CHUNK, METRIC, PHASE, Result, settle

RAW_SCHEMA = (
    "CREATE TABLE metrics (id INTEGER PRIMARY KEY, model TEXT, name TEXT, value REAL,"
    " step INTEGER, phase TEXT, timestamp REAL)",
    "CREATE INDEX ix_metrics_model_name ON metrics (model, name)",
)
RAW_INSERT = (
    "INSERT INTO metrics (model, name, value, step, phase, timestamp) VALUES (?, ?, ?, ?, ?, ?)"
)
RAW_SELECT = (
    "SELECT id, model, name, value, step, phase, timestamp FROM metrics"
    " WHERE model = ? AND name = ? ORDER BY id"
)


def settled_size(path: Path) -> int:
    """Bytes of the database and its -wal and -shm files, after a full checkpoint."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.close()
    files = (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
    return sum(f.stat().st_size for f in files if f.exists())


def _check(count: int, first: float, last_step: int, n: int, who: str) -> None:
    if count != n or first != 0.0 or last_step != n - 1:
        raise RuntimeError(f"{who}: read back {count} points, expected {n}")


def run_ours(path: Path, n: int) -> Result:
    """``model.metrics.log`` per point, then ``flush``; read = ``metrics.list``."""
    import mltracker

    with mltracker.connect(path) as connection:
        model = connection.experiments.create("bench").models.create("m")
        settle()
        start = time.perf_counter()
        for i in range(n):
            model.metrics.log(METRIC, i * 0.001, step=i, phase=PHASE)
        connection.flush()
        seconds = time.perf_counter() - start

        settle()
        start = time.perf_counter()
        points = model.metrics.list(METRIC)
        read_seconds = time.perf_counter() - start
        _check(len(points), points[0].value, points[-1].step, n, "ours")
        del points
    return Result("ours", "metrics.log", "sqlite", n, seconds, settled_size(path), read_seconds)


def run_raw(path: Path, n: int) -> Result:
    """``executemany`` of plain rows, one transaction per ``CHUNK`` rows, WAL, synchronous=NORMAL.

    Read = the series' rows in order, one dict per row with every column.
    """
    model = str(uuid.uuid4())
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL").fetchall()
        connection.execute("PRAGMA synchronous = NORMAL")
        for statement in RAW_SCHEMA:
            connection.execute(statement)

        settle()
        start = time.perf_counter()
        for low in range(0, n, CHUNK):
            rows = [
                (model, METRIC, i * 0.001, i, PHASE, time.time())
                for i in range(low, min(low + CHUNK, n))
            ]
            connection.execute("BEGIN")
            connection.executemany(RAW_INSERT, rows)
            connection.execute("COMMIT")
        seconds = time.perf_counter() - start
        del rows

        settle()
        start = time.perf_counter()
        read = [
            {
                "id": id_,
                "model": model_,
                "name": name,
                "value": value,
                "step": step,
                "phase": phase,
                "timestamp": timestamp,
            }
            for id_, model_, name, value, step, phase, timestamp in connection.execute(
                RAW_SELECT, (model, METRIC)
            )
        ]
        read_seconds = time.perf_counter() - start
        _check(len(read), read[0]["value"], read[-1]["step"], n, "raw sqlite3")
        del read
    finally:
        connection.close()
    return Result("raw", "executemany", "sqlite", n, seconds, settled_size(path), read_seconds)
