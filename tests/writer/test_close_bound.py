"""``close()`` waits for a store that cannot take points at most ``$MLTRACKER_CLOSE_SECONDS``
(not the whole retry budget): the points left go to a spool file, stderr says where, it
returns, and the next write to the store (in this process or another) writes them first."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from mltracker.backends.sql import engine as engines


def stored_steps(path: str) -> list[int]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]


def test_close_gives_up_at_the_bound_and_leaves_the_points_in_the_spool(
    sqlite_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLTRACKER_CLOSE_SECONDS", "0.5")
    monkeypatch.delenv("MLTRACKER_RETRY_SECONDS", raising=False)  # the 120 s default
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 50)
    with mltracker.connect(sqlite_uri) as tracker:
        tracker.experiments.create("e").models.create("m")
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    try:
        tracker = mltracker.connect(sqlite_uri)
        tracker.writer.interval = 3600.0
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        blocker.execute("BEGIN IMMEDIATE")
        for step in range(1_000):
            model.metrics.log("loss", float(step), step=step)
        tracker.close()  # returns: the points are safe in the spool
        assert tracker.writer.pending == 0 and tracker.writer.spool_files == []
        assert len(list((tmp_path / "spool").glob("*.spool"))) == 1
        err = capfd.readouterr().err
        # The other writes: the start and the end of the process's run.
        assert "1000 metric points and 2 other writes could not be written" in err, err
        assert "mltracker sync" in err
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
    assert stored_steps(sqlite_uri) == []
    # The store is back: this process's next write takes the spool back before its own.
    model.metrics.log("loss", 1000.0, step=1000)
    with mltracker.connect(sqlite_uri):
        pass
    assert stored_steps(sqlite_uri) == list(range(1_001))
    assert list((tmp_path / "spool").glob("*.spool")) == []
