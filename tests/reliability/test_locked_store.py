"""Another process holds a long write lock: logging waits it out, no error reaches the user.

SQLite: ``BEGIN IMMEDIATE`` and an insert, held open for 5 s (and, once, for longer than
SQLite's busy timeout). PostgreSQL: ``LOCK TABLE metrics IN EXCLUSIVE MODE``, held 5 s.
Meanwhile a child logs with a background flush every 0.1 s and an explicit flush every 500
points, then flushes once more and closes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.connect import close_all

from .children import Child, Counters, describe_gaps, integrity_problems, steps_by_model

LOCK_SECONDS = 5.0
EVERY = 500


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


@pytest.mark.slow
def test_logging_waits_out_another_process_s_write_lock(uri: str, tmp_path: Path) -> None:
    log_through_a_lock(uri, tmp_path, LOCK_SECONDS)


@pytest.mark.slow
def test_logging_waits_out_a_sqlite_lock_longer_than_the_busy_timeout(
    sqlite_uri: str, tmp_path: Path
) -> None:
    """SQLite's own wait gives up after the busy timeout with "database is locked": MLTracker
    must keep retrying, and the user must not hear of it."""
    log_through_a_lock(sqlite_uri, tmp_path, engines.SQLITE_BUSY_TIMEOUT_MS / 1000 + 2.0)


def log_through_a_lock(uri: str, tmp_path: Path, seconds: float) -> None:
    with mltracker.connect(uri) as tracker:  # the tables exist before either child starts
        tracker.experiments.create("steady")
    close_all()
    stop, progress = tmp_path / "stop", tmp_path / "progress"
    counters = Counters(progress, 2, create=True)
    try:
        with Child(
            "steady-logger",
            uri,
            "locked",
            EVERY,
            0.01,
            0.1,
            str(stop),
            str(progress),
            log=tmp_path / "logger.log",
        ) as logger:
            logger.expect("ready", timeout=60)
            wait_until(lambda: counters[1] >= 5 * EVERY, 60, "the logger flushing")
            with Child("locker", uri, seconds, log=tmp_path / "locker.log") as locker:
                locker.expect("locked", timeout=60)
                durable_when_locked = counters[1]
                locker.expect("released", timeout=seconds + 60)
                durable_when_released = counters[1]
                locker.result()
            wait_until(
                lambda: counters[1] >= durable_when_released + 5 * EVERY,
                60,
                "logging going on after the lock",
            )
            stop.touch()
            result = logger.result(timeout=60)
            stderr = logger.stderr()
    finally:
        counters.close()

    # The lock did hold the writer off: at most the flush under way became durable meanwhile.
    assert durable_when_released - durable_when_locked <= EVERY
    assert result["errors"] == [] and result["close_error"] is None, result
    assert "locked" not in stderr.lower(), stderr
    steps = steps_by_model(uri, "locked").get("locked", [])
    assert steps == list(range(result["logged"])), describe_gaps(steps)
    assert integrity_problems(uri) == []
    print(f"logged {result['logged']} points; longest flush {result['longest_flush']:.2f} s")
