"""The client under faults: a signal in the middle of spooling, a fork while the store is
away, pool workers under a parent's signal handler, batches a server refuses, and a process
that imports MLTracker without writing anything."""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from tests.conftest import serving

#: A spool write interrupted by SIGTERM, in the thread that holds the writer's take lock.
SIGNAL_DURING_SPILL = textwrap.dedent(
    """
    import os, signal, sys
    import mltracker
    from mltracker import spool

    tracker = mltracker.connect(sys.argv[1])
    model = tracker.experiments.create("e").models.create("m")
    tracker.writer.interval = 3600.0
    for step in range(1000):
        model.metrics.log("loss", float(step), step=step)
    original = spool.Spool.append
    def append_with_signal(self, batches, *rest):
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, lock held
        return original(self, batches, *rest)
    spool.Spool.append = append_with_signal
    print("spilling", flush=True)
    tracker.writer.spill_all()
    print("survived the signal", flush=True)
    """
)


def test_sigterm_while_points_move_to_the_spool_ends_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(tmp_path / "spool"))
    child = subprocess.run(
        [sys.executable, "-c", SIGNAL_DURING_SPILL, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGTERM, child.stderr
    assert "spilling" in child.stdout and "survived" not in child.stdout
    # Every point was spooled before the process ended: the next process writes them.
    mltracker.connect(str(path)).writer.sync()
    with closing(sqlite3.connect(path)) as connection:
        steps = [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]
    assert steps == list(range(1000))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


FORK_WHILE_AWAY = textwrap.dedent(
    """
    import os, sys, time
    import mltracker
    from mltracker.writer import hooks

    url, store = sys.argv[1], sys.argv[2]
    tracker = mltracker.connect(url)
    writer = tracker.writer
    writer.interval = 0.01
    # A model's points are queued for a server that is not there: the writer's thread
    # keeps retrying them, holding its flush lock across the retries and their sleeps.
    from mltracker.ports.store import Series
    import uuid
    series = Series(uuid.uuid4(), "loss", None)
    for step in range(10):
        writer.append((series, step, 0, float(step), None, time.time()))
    deadline = time.monotonic() + 60
    while not writer._flush_lock.locked():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    waits = []
    for _ in range(3):
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        waits.append(time.monotonic() - started)
        os.waitpid(pid, 0)
    assert writer._flush_lock.locked(), "the thread was still retrying"
    print(max(waits), flush=True)
    os._exit(0)
    """
)


def test_a_fork_does_not_wait_for_a_store_that_is_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old fork hook waited for the writer's retries, 10 s a fork."""
    monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "120")
    url = f"http://127.0.0.1:{_free_port()}"
    child = subprocess.run(
        [sys.executable, "-c", FORK_WHILE_AWAY, url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    # A bound on a hang, far from what a fork takes: the old hook waited 10 s each time.
    assert float(child.stdout.strip()) < 5.0


def _sigterm_action() -> str:
    handler = signal.getsignal(signal.SIGTERM)
    return "default" if handler is signal.SIG_DFL else repr(handler)


def _ignore(signum: int, frame: object) -> None:
    pass


def test_a_forked_pool_worker_ends_on_sigterm_whatever_its_parent_installed(
    sqlite_uri: str,
) -> None:
    import os
    import threading

    previous = signal.signal(signal.SIGTERM, _ignore)
    try:
        model = mltracker.connect(sqlite_uri).experiments.create("e").models.create("m")
        model.metrics.log("loss", 1.0)  # the writer's hooks are installed now
        context = multiprocessing.get_context("fork")
        pool = context.Pool(2)
        actions = [pool.apply(_sigterm_action) for _ in range(2)]
        # What ``with Pool(...)`` does at its end, bounded: a worker that kept a Python
        # handler would never end.
        terminating = threading.Thread(target=pool.terminate, daemon=True)
        terminating.start()
        terminating.join(60)
        stuck = terminating.is_alive()
        if stuck:
            for worker in pool._pool:  # type: ignore[attr-defined]
                os.kill(worker.pid, signal.SIGKILL)
            terminating.join(60)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert actions == ["default", "default"]
    assert not stuck, "Pool.terminate() did not end its workers"


def test_a_batch_too_large_for_the_server_is_split_and_a_refused_point_set_aside(
    sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server with a 1 MB body limit: 600 JSON values of about 3 KB (a dict of per-class
    accuracies) and one value larger than the limit. The batch is cut and halved until the
    server takes it; the one point no server of that limit can take is set aside; no
    point logged after it waits behind it."""
    spool_dir = tmp_path / "spool"
    monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(spool_dir))
    accuracies = {f"class{index}": 0.5 + index / 1000 for index in range(100)}
    with serving(sqlite_uri, max_body_bytes=1_000_000) as url:
        tracker = mltracker.connect(url)
        model = tracker.experiments.create("e").models.create("m")
        for step in range(300):
            model.metrics.log("per_class", accuracies, step=step)
        model.metrics.log("per_class", {"huge": "x" * 2_000_000}, step=300)
        for step in range(301, 600):
            model.metrics.log("per_class", accuracies, step=step)
        tracker.flush()
        steps = [metric.step for metric in model.metrics.list("per_class")]
        tracker.close()
    assert steps == [step for step in range(600) if step != 300]
    refused = list(spool_dir.glob("*.refused"))
    assert len(refused) == 1 and b"huge" in refused[0].read_bytes()
    assert not list(spool_dir.glob("*.spool"))


def test_halves_of_a_batch_stored_before_its_answer_was_lost_are_not_stored_again(
    sqlite_uri: str,
) -> None:
    """The store takes a batch but its answer is lost; the retry is refused as too large
    (a server restarted with a lower limit, say). The writer splits the batch, and the
    store, told what the halves were split from, skips them: every point once."""
    tracker = mltracker.connect(sqlite_uri)
    model = tracker.experiments.create("e").models.create("m")
    store = tracker.store
    original = store.write_points
    calls: list[int] = []

    def answer_lost_then_too_large(points, batch_id=None, **options):  # type: ignore[no-untyped-def]
        calls.append(len(points))
        if len(calls) == 1:
            original(points, batch_id, **options)
            raise mltracker.BackendUnavailableError("the connection closed before the answer")
        if len(calls) == 2:
            raise mltracker.PayloadTooLargeError("the body is larger than the server takes")
        return original(points, batch_id, **options)

    store.write_points = answer_lost_then_too_large  # type: ignore[method-assign]
    for step in range(100):
        model.metrics.log("loss", float(step), step=step)
    with pytest.raises(mltracker.BackendUnavailableError):
        tracker.flush()  # the answer lost: the points stay queued
    tracker.flush()
    store.write_points = original  # type: ignore[method-assign]
    steps = [metric.step for metric in model.metrics.list("loss")]
    tracker.close()
    assert calls[:3] == [100, 100, 50]
    assert steps == list(range(100))


def test_the_writer_cuts_batches_by_their_size(sqlite_uri: str) -> None:
    tracker = mltracker.connect(sqlite_uri)
    writer = tracker.writer
    writer.max_batch_bytes = 100_000
    model = tracker.experiments.create("e").models.create("m")
    sizes: list[int] = []
    store = tracker.store
    original = store.write_points

    def recording(points, batch_id=None, **options):  # type: ignore[no-untyped-def]
        sizes.append(len(points))
        return original(points, batch_id, **options)

    store.write_points = recording  # type: ignore[method-assign]
    for step in range(200):
        model.metrics.log("text", "y" * 3000, step=step)
    tracker.flush()
    tracker.close()
    assert sum(sizes) == 200 and max(sizes) <= 100_000 // 6000 + 1
    assert len(sizes) > 1


IMPORT_ONLY = textwrap.dedent(
    """
    import atexit, os, signal, sys
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    import mltracker
    tracker = mltracker.connect(sys.argv[1])
    after = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    assert before == after, (before, after)
    from mltracker.writer import hooks
    assert hooks._installed_pid is None
    model = tracker.experiments.create("e").models.create("m")
    model.metrics.log("loss", 1.0)
    assert hooks._installed_pid == os.getpid()
    assert signal.getsignal(signal.SIGTERM) is hooks.on_signal
    print("ok")
    """
)


def test_nothing_is_installed_process_wide_until_a_point_is_logged(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY, str(tmp_path / "store.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr


def test_a_forked_child_talks_to_the_server_on_connections_of_its_own(sqlite_uri: str) -> None:
    """A child that read its parent's kept-alive sockets would take the parent's answers."""
    import os

    with serving(sqlite_uri) as url:
        tracker = mltracker.connect(url)
        model = tracker.experiments.create("e").models.create("m")
        tracker.experiments.list()  # a connection is kept alive in the pool now
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for step in range(200):
                    model.metrics.log("child", float(step), step=step)
                    if step % 20 == 0:
                        tracker.experiments.list()
                tracker.flush()
                code = 0
            finally:
                os._exit(code)
        for _ in range(100):
            assert [e.name for e in tracker.experiments.list()] == ["e"]
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert [m.step for m in model.metrics.list("child")] == list(range(200))
        tracker.close()


def test_pool_workers_terminated_as_they_start_all_end(sqlite_uri: str) -> None:
    """``Pool.terminate()`` right after ``Pool()``: a SIGTERM that reaches a worker between
    its fork and its after-fork hook must not be taken by the parent's Python handler."""
    import os
    import threading

    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)
    ]  # a loaded machine widens the window between a worker's fork and its hooks
    previous = signal.signal(signal.SIGTERM, _ignore)
    stuck = 0
    try:
        model = mltracker.connect(sqlite_uri).experiments.create("e").models.create("m")
        model.metrics.log("loss", 1.0)
        context = multiprocessing.get_context("fork")
        for _ in range(60):
            pool = context.Pool(2)
            terminating = threading.Thread(target=pool.terminate, daemon=True)
            terminating.start()
            terminating.join(10)
            if terminating.is_alive():
                stuck += 1
                for worker in pool._pool:  # type: ignore[attr-defined]
                    try:
                        os.kill(worker.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                terminating.join(30)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in busy:
            process.kill()
            process.wait()
    assert stuck == 0, f"{stuck} of 60 pools kept a worker through terminate()"
