"""Processes forked after the store was opened log through connections of their own, and
what they logged is stored when they end."""

from __future__ import annotations

import multiprocessing

import mltracker
from mltracker.backends.sql import gate


def _log_in_child(uri: str, hash: str) -> None:
    model = mltracker.get_experiment("forked", uri).models.read(hash)
    assert model is not None
    for step in range(500):
        model.metrics.log("loss", float(step), step=step, phase="child")
    # No flush: the child ends through multiprocessing, which skips atexit handlers.


def test_forked_children_log_safely(uri: str) -> None:
    experiment = mltracker.get_experiment("forked", uri)
    models = [experiment.models.create(f"m{index}") for index in range(3)]
    for model in models:
        model.metrics.log("loss", 1.0, step=0, phase="parent")
    experiment.models.list()  # flush, and leave pooled connections to be inherited
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_log_in_child, args=(uri, m.hash)) for m in models]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    for model in models:
        assert [p.step for p in model.metrics.list(phase="child")] == list(range(500))
        assert len(model.metrics.list(phase="parent")) == 1


def _sigterm_is_default_after_logging(uri: str) -> bool:
    import signal

    mltracker.get_experiment("spawned", uri).models.create("child").metrics.log("x", 1.0)
    mltracker.get_all_experiments(uri).list()
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_multiprocessing_children_keep_default_signal_actions(sqlite_uri: str) -> None:
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(1)
    try:
        assert pool.apply(_sigterm_is_default_after_logging, (sqlite_uri,)) is True
    finally:
        pool.close()
        pool.join()
    experiment = mltracker.get_experiment("spawned", sqlite_uri)
    assert [m.hash for m in experiment.models.list()] == ["child"]


def test_a_fork_waits_for_the_write_in_progress(sqlite_uri: str) -> None:
    """A child forked while the writer thread is inside the driver would inherit the
    driver's locks held; the fork waits for the write to end instead."""
    import os
    import sqlite3
    import threading
    import time
    from contextlib import closing

    with mltracker.connect(sqlite_uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
    _ = model.runs.current  # its run is started first: the write in progress is the points'
    tracker.flush()
    tracker.writer.interval = 0.02
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    for step in range(100):
        model.metrics.log("loss", float(step), step=step)
    deadline = time.monotonic() + 30
    writer = tracker.writer
    # The thread learnt the store's id (a read) and now waits for the lock in the driver.
    for _ in range(2):  # twice, a moment apart: a short read must not pass for the write
        while writer._store_id is None or not gate.calls_in_progress():
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.2)
    threading.Timer(0.5, lambda: blocker.execute("ROLLBACK")).start()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what is stored at the moment it starts
        with closing(sqlite3.connect(sqlite_uri)) as connection:
            count = connection.execute("SELECT count(*) FROM metrics").fetchone()[0]
        os.write(write_end, str(count).encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    stored_at_fork = int(os.read(read_end, 100))
    os.close(read_end)
    blocker.close()
    assert status == 0
    assert stored_at_fork == 100
