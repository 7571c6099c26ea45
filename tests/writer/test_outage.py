"""A store that cannot take points for longer than the retry budget: logging never raises,
points are kept in memory, then in a spool file, and written in order when the store is
back, by this process or by the next one that writes to the store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.spool import Spool
from mltracker.writer import MetricWriter


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up on a locked store quickly, so an outage shows at once."""
    monkeypatch.setattr(engines, "RETRY_SECONDS", 0.2)
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 50)


@pytest.fixture
def locked(sqlite_uri: str) -> Iterator[sqlite3.Connection]:
    """Another connection that will hold the store's write lock once BEGIN IMMEDIATE runs."""
    with mltracker.connect(sqlite_uri) as tracker:
        tracker.experiments.create("e").models.create("m")
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    yield blocker
    if blocker.in_transaction:
        blocker.execute("ROLLBACK")
    blocker.close()


def _model(tracker: mltracker.Connection):  # type: ignore[no-untyped-def]
    experiment = tracker.experiments.read("e")
    assert experiment is not None
    model = experiment.models.read("m")
    assert model is not None
    return model


def _stored_steps(path: str) -> list[int]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_logging_goes_on_through_an_outage_and_spools_beyond_max_pending(
    impatient: None, locked: sqlite3.Connection, sqlite_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    tracker = mltracker.connect(sqlite_uri)
    model = _model(tracker)
    tracker.writer.interval = 0.02
    tracker.writer.max_pending = 1_000
    locked.execute("BEGIN IMMEDIATE")
    for step in range(5_500):  # never raises, and never waits out a retry per point
        model.metrics.log("loss", float(step), step=step)
    assert tracker.writer.spool_files, "beyond max_pending, points go to a spool file"
    assert len(tracker.writer._queue) < 1_000
    assert tracker.writer.pending == 5_501  # with the start of the points' run
    with pytest.raises(mltracker.BackendUnavailableError, match="locked"):
        tracker.flush()  # an explicit call says so
    err = capfd.readouterr().err
    assert err.count("cannot write metric points") == 1, err  # once, loudly

    locked.execute("ROLLBACK")
    tracker.flush()
    assert _stored_steps(sqlite_uri) == list(range(5_500))
    assert tracker.writer.pending == 0
    assert not tracker.writer.spool_files
    assert not list((Path.cwd() / "spool").glob("*.spool")), "a written spool is deleted"
    assert "takes metric points again" in capfd.readouterr().err
    tracker.close()


def test_the_background_thread_writes_the_spool_back_when_the_store_returns(
    impatient: None, locked: sqlite3.Connection, sqlite_uri: str
) -> None:
    tracker = mltracker.connect(sqlite_uri)
    model = _model(tracker)
    tracker.writer.interval = 0.02
    tracker.writer.max_pending = 500
    locked.execute("BEGIN IMMEDIATE")
    for step in range(2_000):
        model.metrics.log("loss", float(step), step=step)
    assert tracker.writer.spool_files
    locked.execute("ROLLBACK")
    _wait_for(lambda: tracker.writer.pending == 0, "the spool was not written back")
    assert _stored_steps(sqlite_uri) == list(range(2_000))
    tracker.close()


def test_points_left_at_exit_are_written_by_the_next_process(
    locked: sqlite3.Connection, sqlite_uri: str, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import mltracker
        from mltracker.backends.sql import engine
        engine.RETRY_SECONDS = 0.2
        engine.SQLITE_BUSY_TIMEOUT_MS = 50
        tracker = mltracker.connect({sqlite_uri!r})
        model = tracker.experiments.read("e").models.read("m")
        for step in range(3_000):
            model.metrics.log("loss", float(step), step=step)
        """
    )
    locked.execute("BEGIN IMMEDIATE")
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    # The other writes: the start and the end of the process's run.
    assert "3000 metric points and 2 other writes could not be written" in child.stderr
    assert len(list((tmp_path / "spool").glob("*.spool"))) == 1
    locked.execute("ROLLBACK")
    assert _stored_steps(sqlite_uri) == []

    with mltracker.connect(sqlite_uri) as tracker:  # the next process to write
        _model(tracker).metrics.log("loss", 3000.0, step=3000)
    assert _stored_steps(sqlite_uri) == list(range(3_001))
    assert not list((tmp_path / "spool").glob("*.spool"))


def test_a_spooled_batch_the_store_already_took_is_not_stored_twice(sqlite_uri: str) -> None:
    """A crash between the store taking a batch and the spool forgetting it."""
    with mltracker.connect(sqlite_uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        writer = tracker.writer
    store = tracker.store
    for step in range(10):
        model.metrics.log("loss", float(step), step=step)
    points = [item for item in writer._queue if type(item) is tuple]  # not the run's start
    writer._queue.clear()
    spool = Spool.create(store.store_id(), store.uri)
    first, second = points[:5], points[5:]
    import uuid

    first_id = uuid.uuid4()
    spool.append([(first_id, first), (uuid.uuid4(), second)])
    store.write_points(first, first_id)  # taken, then the process died
    spool.release()  # the lock goes with the process

    fresh = MetricWriter(store)  # the next process: its first write adopts the spool
    series, _step, kind, value, extra, timestamp = points[-1]
    fresh.append((series, 10, kind, value, extra, timestamp))
    fresh.flush()
    assert _stored_steps(sqlite_uri) == list(range(11))
    assert not spool.path.exists()


def test_values_round_trip_through_the_spool(sqlite_uri: str) -> None:
    values = [float("nan"), float("inf"), -0.0, 2**63 - 1, True, {"a": [1, None]}, "text", 0.1]
    with mltracker.connect(sqlite_uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        for index, value in enumerate(values):
            model.metrics.log("v", value, step=index, phase="p")
        writer = tracker.writer
        writer._spill()
        assert writer.spool_files and not writer._queue
        stored = model.metrics.list("v")  # a read flushes: written back from the spool
    got = [point.value for point in stored]
    assert repr(got) == repr(values)
    assert [type(v) for v in got] == [type(v) for v in values]
    assert all(point.phase == "p" for point in stored)
