"""SIGTERM and SIGINT flush what was logged, then the process ends as it would have anyway."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

import mltracker

CHILD = textwrap.dedent(
    """
    import signal, sys
    path, mode = sys.argv[1], sys.argv[2]
    count = 0
    if mode == "own-handler":
        def record(signum, frame):
            open(path + ".count", "w").write(str(count))
            sys.exit(7)
        signal.signal(signal.SIGTERM, record)
    import mltracker
    tracker = mltracker.connect(path)
    tracker.writer.interval = 3600.0
    model = tracker.experiments.create("signals").models.create("m")
    while True:
        model.metrics.log("loss", count * 0.5, step=count)
        count += 1
        if count == 2_000:
            print("ready", flush=True)
    """
)


def run_until_ready(path: Path, mode: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def stored_steps(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]


@pytest.mark.parametrize(
    ("signum", "expected_code"),
    [
        pytest.param(signal.SIGTERM, -signal.SIGTERM, id="SIGTERM"),
        pytest.param(
            signal.SIGINT, -signal.SIGINT, id="SIGINT"
        ),  # KeyboardInterrupt, as Python exits on it
    ],
)
def test_signal_with_default_handling_flushes_then_ends(
    tmp_path: Path, signum: int, expected_code: int
) -> None:
    path = tmp_path / "store.db"
    with run_until_ready(path, "default") as child:
        child.send_signal(signum)
        assert child.wait(timeout=60) == expected_code
    steps = stored_steps(path)
    assert len(steps) >= 2_000
    assert steps == list(range(len(steps)))


def test_signal_reaches_the_previous_handler_after_everything_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with run_until_ready(path, "own-handler") as child:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 7
    # The signal may land after a log call returned and before the count moved on: that
    # point was logged too.
    counted = int((tmp_path / "store.db.count").read_text())
    steps = stored_steps(path)
    assert steps == list(range(len(steps)))
    assert len(steps) in (counted, counted + 1)


def test_normal_exit_flushes_what_was_logged(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    script = textwrap.dedent(
        """
        import sys, mltracker
        experiment = mltracker.get_experiment("exit", sys.argv[1])
        model = experiment.models.create("m")
        for step in range(1_234):
            model.metrics.log("loss", step * 0.5, step=step)
        """
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    assert stored_steps(path) == list(range(1_234))


def test_signal_flush_gives_up_in_time_when_the_store_stays_locked(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    mltracker_child = textwrap.dedent(
        """
        import sys, mltracker
        tracker = mltracker.connect(sys.argv[1])
        tracker.writer.interval = 3600.0
        model = tracker.experiments.create("locked").models.create("m")
        tracker.flush()
        print("created", flush=True)
        sys.stdin.readline()  # the parent now holds the write lock
        for step in range(100):
            model.metrics.log("loss", float(step), step=step)
        print("logged", flush=True)
        sys.stdin.readline()  # wait for the signal
        """
    )
    environment = {**os.environ, "MLTRACKER_SIGNAL_FLUSH_SECONDS": "0.5"}
    with subprocess.Popen(
        [sys.executable, "-c", mltracker_child, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "created"
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "logged"
            child.send_signal(signal.SIGTERM)
            # Without the limit, the flush would retry the locked store for 120 s.
            assert child.wait(timeout=60) == -signal.SIGTERM
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert "100 metric points and 2 other writes could not be written" in (
            child.stderr.read() if child.stderr else ""
        )
    assert stored_steps(path) == []
    # They were spooled: the next process that writes to the store writes them first.
    with mltracker.connect(path) as tracker:
        experiment = tracker.experiments.read("locked")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        model.metrics.log("loss", 100.0, step=100)
    assert stored_steps(path) == list(range(101))
