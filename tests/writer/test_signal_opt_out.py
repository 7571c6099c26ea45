"""``MLTRACKER_SIGNAL_HANDLERS=0``: MLTracker leaves SIGTERM and SIGINT to the process (a
server or framework that installs its own), while ``flush()`` and a normal exit still store
every point."""

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

CHILD = textwrap.dedent(
    """
    import signal, sys
    path, ending = sys.argv[1], sys.argv[2]
    import mltracker
    tracker = mltracker.connect(path)
    tracker.writer.interval = 3600.0
    model = tracker.experiments.create("signals").models.create("m")
    for step in range(500):
        model.metrics.log("loss", step * 0.5, step=step)
    print(
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
        signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        flush=True,
    )
    if ending == "flush-then-wait":
        tracker.flush()
        print("flushed", flush=True)
        sys.stdin.read()
    """
)


def run(path: Path, ending: str, handlers: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "MLTRACKER_SIGNAL_HANDLERS": handlers}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), ending],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def stored_steps(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]


@pytest.mark.parametrize("off", ["0", "false", "off"])
def test_switched_off_sigterm_gets_the_default_action_after_flush_stored_points(
    tmp_path: Path, off: str
) -> None:
    path = tmp_path / "store.db"
    with run(path, "flush-then-wait", off) as child:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["True", "True"]  # nothing of ours installed
        assert child.stdout.readline().strip() == "flushed"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == -signal.SIGTERM
    assert stored_steps(path) == list(range(500))


def test_switched_off_a_normal_exit_still_stores_every_point(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with run(path, "exit", "0") as child:
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split() == ["True", "True"]
    assert stored_steps(path) == list(range(500))


def test_by_default_the_handlers_are_installed(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with run(path, "exit", "") as child:
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split() == ["False", "False"]
    assert stored_steps(path) == list(range(500))
