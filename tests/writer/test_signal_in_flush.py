"""A signal that lands while the same thread is inside a flush waits for that flush."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import signal, sys, threading
    import mltracker
    from mltracker.writer import hooks

    tracker = mltracker.connect(sys.argv[1])
    tracker.writer.interval = 3600.0
    model = tracker.experiments.create("e").models.create("m")
    for step in range(100):
        model.metrics.log("loss", float(step), step=step)

    handled = []
    signal.signal(signal.SIGTERM, lambda signum, frame: handled.append(signum))
    # Re-install ours on top, chaining to the handler above, as at first import.
    hooks._previous_handlers.clear()
    hooks.install_signal_handlers()

    original = tracker.writer._write_queued
    def write_with_signal():
        hooks.on_signal(signal.SIGTERM, None)  # what a SIGTERM delivered here runs
        assert not handled, "the previous handler ran before the flush finished"
        original()
    tracker.writer._write_queued = write_with_signal
    tracker.flush()
    assert handled == [signal.SIGTERM], handled
    print("ok", flush=True)
    """
)


def test_signal_during_a_flush_of_the_same_thread_is_deferred(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT count(*) FROM metrics").fetchone()[0] == 100
