"""``MetricWriter.flush_at_end`` (what the integrations call when training ends) waits for a
store that cannot take the writes within a bound, never the whole retry budget: at most
``$MLTRACKER_WRITE_WAIT_SECONDS`` for a store known to be away, ``$MLTRACKER_CLOSE_SECONDS``
otherwise. What is left goes to a spool file (stderr says where), nothing is raised, and the
store gets everything once it is back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from mltracker.backends.sql import engine as engines


def _stored_steps(path: str) -> list[int]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("known_away", [True, False], ids=["known-away", "not-known-yet"])
def test_the_end_of_training_leaves_what_the_store_does_not_take_in_the_spool(
    known_away: bool,
    sqlite_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A budget the test could never wait out, and a close bound it can.
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "3600")
    monkeypatch.setenv("MLTRACKER_CLOSE_SECONDS", "1")
    monkeypatch.setenv("MLTRACKER_WRITE_WAIT_SECONDS", "0.2")
    monkeypatch.setenv("MLTRACKER_RUN_TIMEOUT", "3600")  # no heartbeat queued meanwhile
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 50)
    with mltracker.connect(sqlite_uri) as tracker:
        tracker.experiments.create("e").models.create("m")
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    tracker = mltracker.connect(sqlite_uri)
    writer = tracker.writer
    writer.interval = 3600.0
    experiment = tracker.experiments.read("e")
    assert experiment is not None
    model = experiment.models.read("m")
    assert model is not None
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for step in range(100):
            model.metrics.log("loss", float(step), step=step)
        if known_away:
            model.step = 100  # not taken within the write wait: the store is known away
        assert writer.away is known_away

        writer.flush_at_end()

        points, other_writes = writer.pending_counts()
        # every point, the run's start, the step (and, on a slow machine, a heartbeat)
        assert points == 100 and other_writes >= 1 + known_away, (points, other_writes)
        assert len(list((tmp_path / "spool").glob("*.spool"))) == 1
        err = capfd.readouterr().err
        assert "100 metric points" in err and "mltracker sync" in err, err
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _stored_steps(sqlite_uri) == []

    tracker.flush()  # the store is back: the spool is written, once
    assert writer.pending == 0
    assert _stored_steps(sqlite_uri) == list(range(100))
    assert list((tmp_path / "spool").glob("*.spool")) == []
    tracker.close()
