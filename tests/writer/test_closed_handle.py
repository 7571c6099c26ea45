"""A closed handle loses nothing: entities obtained through it keep working, every verb
reopens the store, and points logged after the close are written by the usual rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mltracker


def test_points_logged_after_the_block_are_stored_at_normal_exit(tmp_path: Path) -> None:
    store = tmp_path / "after.db"
    script = textwrap.dedent(
        f"""
        import mltracker
        with mltracker.connect({str(store)!r}) as tracker:
            model = tracker.experiments.create("exp").models.create("abc")
        for step in range(1000):
            model.metrics.log("loss", float(step), step=step)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    with mltracker.connect(store) as tracker:
        experiment = tracker.experiments.read("exp")
        assert experiment is not None
        model = experiment.models.read("abc")
        assert model is not None
        assert [p.step for p in model.metrics.list("loss")] == list(range(1000))


def test_every_verb_works_after_close(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        experiments = tracker.experiments
        model = experiments.create("exp").models.create("abc")
    assert tracker.writer.pending == 0
    for step in range(100):
        model.metrics.log("loss", float(step), step=step)
    assert len(model.metrics.list("loss")) == 100
    model.modules.log("layer", {"size": 3})
    model.step = 7
    iteration = model.iterations.create(1)
    iteration.modules.log("optimizer", {"lr": 0.1})
    experiments.create("other")
    tracker.flush()
    tracker.close()  # closing twice is allowed
    with mltracker.connect(uri) as again:
        experiment = again.experiments.read("exp")
        assert experiment is not None
        stored = experiment.models.read("abc")
        assert stored is not None
        assert stored.step == 7
        assert len(stored.metrics.list()) == 100
        assert [m.name for m in stored.modules.list()] == ["layer"]
        assert [i.step for i in stored.iterations.list()] == [1]
        assert [e.name for e in again.experiments.list()] == ["exp", "other"]


def test_points_after_close_are_written_within_the_flush_interval(sqlite_uri: str) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        model = tracker.experiments.create("exp").models.create("abc")
    tracker.writer.interval = 0.05
    model.metrics.log("loss", 1.0, step=0)
    deadline = time.monotonic() + 30
    while tracker.writer.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracker.writer.pending == 0  # written by the background thread, no flush called


def test_a_new_handle_of_a_closed_store_shares_the_writer(sqlite_uri: str) -> None:
    with mltracker.connect(sqlite_uri) as first:
        model = first.experiments.create("exp").models.create("abc")
    model.metrics.log("loss", 1.0, step=0)
    with mltracker.connect(sqlite_uri) as second:
        assert second.writer is first.writer
        model.metrics.log("loss", 2.0, step=1)
    assert [p.value for p in model.metrics.list("loss")] == [1.0, 2.0]
