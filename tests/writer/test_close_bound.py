"""``close()`` of a store that cannot take points returns after ``$MLTRACKER_CLOSE_SECONDS``,
leaving the points in the spool (nothing raised, nothing lost); ``mltracker sync`` delivers
them once the process that spooled them has ended."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import mltracker

from .test_outage import _stored_steps, locked  # noqa: F401

CLIENT = textwrap.dedent(
    """
    import sys, mltracker
    tracker = mltracker.connect(sys.argv[1])
    model = tracker.experiments.read("e").models.read("m")
    tracker.writer.interval = 60  # only close() writes
    for step in range(300):
        model.metrics.log("loss", float(step), step=step)
    tracker.close()  # returns, raises nothing
    print("closed")
    """
)


def test_close_of_a_locked_store_spools_and_sync_delivers(
    locked: sqlite3.Connection,  # noqa: F811
    sqlite_uri: str,
) -> None:
    spool = Path.cwd() / "spool"
    environment = {
        **os.environ,
        "MLTRACKER_SPOOL_DIR": str(spool),
        "MLTRACKER_CLOSE_SECONDS": "0.3",
        "MLTRACKER_RETRY_SECONDS": "0.2",
    }
    locked.execute("BEGIN IMMEDIATE")
    client = subprocess.run(
        [sys.executable, "-c", CLIENT, sqlite_uri],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    assert client.returncode == 0, client.stderr
    assert client.stdout.strip() == "closed"
    assert "300 metric points could not be written" in client.stderr, client.stderr
    assert len(list(spool.glob("*.spool"))) == 1
    locked.execute("ROLLBACK")
    assert _stored_steps(sqlite_uri) == []

    sync = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", sqlite_uri, "sync"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stderr
    assert "300 spooled metric points written" in sync.stdout
    assert _stored_steps(sqlite_uri) == list(range(300))
    assert not list(spool.glob("*.spool"))
    with mltracker.connect(sqlite_uri) as tracker:  # a second sync finds nothing to do
        assert tracker.writer.sync() == 0
