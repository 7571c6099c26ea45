"""Logging from many threads, and a background flush that fails."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

import mltracker
from mltracker.backends.sql import engine as engines


def test_threads_lose_nothing_and_keep_their_order(uri: str) -> None:
    threads_count, points_each = 8, 5_000
    with mltracker.connect(uri) as tracker:
        tracker.writer.max_pending = 3_000  # force flushes from the logging threads too
        experiment = tracker.experiments.create("threads")
        shared = experiment.models.create("shared")
        own = [experiment.models.create(f"t{index}") for index in range(threads_count)]
        start = threading.Barrier(threads_count)

        def work(index: int) -> None:
            start.wait()
            for step in range(points_each):
                own[index].metrics.log("loss", step * 0.5, step=step)
                shared.metrics.log("loss", step, step=step, phase=f"t{index}")

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        tracker.flush()

        for index, model in enumerate(own):
            assert [p.step for p in model.metrics.list("loss")] == list(range(points_each))
            phase_steps = [p.step for p in shared.metrics.list("loss", phase=f"t{index}")]
            assert phase_steps == list(range(points_each))
        assert len(shared.metrics.list()) == threads_count * points_each


@pytest.fixture
def impatient_store(monkeypatch: pytest.MonkeyPatch, sqlite_uri: str) -> Iterator[str]:
    """A SQLite store that gives up on a lock quickly, so a failure surfaces fast."""
    monkeypatch.setattr(engines, "RETRY_SECONDS", 0.2)
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 50)
    yield sqlite_uri


def test_close_after_a_background_failure_writes_everything(impatient_store: str) -> None:
    tracker = mltracker.connect(impatient_store)
    model = tracker.experiments.create("e").models.create("m")
    tracker.writer.interval = 0.02
    blocker = sqlite3.connect(impatient_store, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    for step in range(10):
        model.metrics.log("loss", float(step), step=step)
    deadline = threading.Event()
    for _ in range(2_000):  # bounded: wait until the background thread has failed once
        if tracker.writer._outage is not None:
            break
        deadline.wait(0.02)
    assert tracker.writer._outage is not None
    blocker.execute("ROLLBACK")
    blocker.close()
    tracker.close()  # the failure was transient: close writes and raises nothing
    with closing(sqlite3.connect(impatient_store)) as connection:
        steps = [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]
    assert steps == list(range(10))
