"""A run's status as another process reads it, after its process ended every way there is:
a clean exit, an exception, ``sys.exit(3)``, SIGTERM, SIGINT, SIGHUP, ``kill -9``, and an
outage of the tracking server in the middle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server.helpers import ServerProcess, sync

import mltracker
from mltracker.connect import close_all

#: A training process: an implicit run of one model; it logs, says ``ready``, then does what
#: its argument says.
_TRAINING = textwrap.dedent(
    """
    import sys, time
    import mltracker
    how = sys.argv[2]
    tracker = mltracker.connect(sys.argv[1])
    model = tracker.experiments.get_or_create("e").models.get_or_create("m")
    for step in range(20):
        model.metrics.log("loss", 1.0 / (step + 1), step=step)
    tracker.flush()
    print("ready", flush=True)
    if how == "exception":
        raise RuntimeError("out of patience")
    if how == "exit3":
        sys.exit(3)
    if how == "wait":
        while True:
            model.metrics.log("tick", time.time())
            time.sleep(0.05)
    """
)


def _start(uri: str, how: str, tmp_path: Path, **environment: str) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(_TRAINING)
    child = subprocess.Popen(
        [sys.executable, str(script), uri, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLTRACKER_SPOOL_DIR": str(tmp_path / "spool"), **environment},
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "ready", child.stderr.read() if child.stderr else line
    return child


def _runs(uri: str) -> list[mltracker.Run]:
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        return model.runs.list()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "store.db")
    close_all()


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("clean", ("finished", None)),
        ("exception", ("failed", "RuntimeError: out of patience")),
        ("exit3", ("failed", "exit status 3")),
    ],
)
def test_a_process_that_ends_by_itself(
    store: str, tmp_path: Path, how: str, expected: tuple[str, str | None]
) -> None:
    child = _start(store, how, tmp_path)
    child.communicate(timeout=60)

    (run,) = _runs(store)
    assert (run.status, run.exit) == expected
    assert run.ended_at is not None
    assert [p.step for p in run.metrics.list("loss")] == list(range(20))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_kills_the_run_and_keeps_its_name(
    store: str, tmp_path: Path, signum: signal.Signals
) -> None:
    child = _start(store, "wait", tmp_path)
    child.send_signal(signum)
    child.communicate(timeout=60)

    (run,) = _runs(store)
    assert (run.status, run.exit) == ("killed", signum.name)
    assert [p.step for p in run.metrics.list("loss")] == list(range(20))


def test_kill_9_reads_as_crashed_after_the_timeout(store: str, tmp_path: Path) -> None:
    child = _start(store, "wait", tmp_path, MLTRACKER_RUN_TIMEOUT="1")
    (running,) = _runs(store)
    assert running.status == "running"

    child.kill()
    child.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while _runs(store)[0].status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)

    (run,) = _runs(store)
    assert run.status == "crashed"
    assert run.ended_at is None


def test_a_live_run_keeps_beating(store: str, tmp_path: Path) -> None:
    child = _start(store, "wait", tmp_path, MLTRACKER_RUN_TIMEOUT="3")
    try:
        first = _runs(store)[0].heartbeat_at
        assert first is not None
        deadline = time.monotonic() + 30
        while _runs(store)[0].heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.1)
        (run,) = _runs(store)
        assert run.heartbeat_at is not None and run.heartbeat_at > first
        time.sleep(4)  # longer than the timeout: it still beats, so it is not crashed
        assert _runs(store)[0].status == "running"
    finally:
        child.terminate()
        child.communicate(timeout=60)


def test_an_end_made_during_an_outage_arrives_with_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(tmp_path / "spool"))
    store = str(tmp_path / "served.db")
    with ServerProcess(store, log=tmp_path / "server.log") as server:
        child = _start(
            server.url,
            "wait",
            tmp_path,
            MLTRACKER_WRITE_WAIT_SECONDS="0.2",
            MLTRACKER_CLOSE_SECONDS="1",
            MLTRACKER_SIGNAL_FLUSH_SECONDS="1",
        )
        port = server.port
        server.kill()  # the server goes away mid-run
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)  # the run ends while the store is away
        child.communicate(timeout=60)

    with ServerProcess(store, port=port, log=tmp_path / "server2.log") as server:
        # Before the spool is replayed the end has not arrived: the run still runs.
        assert _runs(store)[0].status in ("running", "crashed")
        sync(server.url)
        (run,) = _runs(store)
        assert (run.status, run.exit) == ("killed", "SIGTERM")
        assert [p.step for p in run.metrics.list("loss")] == list(range(20))


_POOL = textwrap.dedent(
    """
    import multiprocessing, sys
    import mltracker

    def task(index):
        model = mltracker.get_experiment("e", sys.argv[1]).models.get_or_create("m")
        for step in range(50):
            model.metrics.log("loss", float(step), step=step)
        return index

    if __name__ == "__main__":
        with multiprocessing.get_context("fork").Pool(2) as pool:  # terminate() at the end
            print(pool.map(task, range(4), chunksize=1), flush=True)
    """
)


def test_the_runs_of_pool_tasks_end_before_their_results_are_back(
    store: str, tmp_path: Path
) -> None:
    script = tmp_path / "pool.py"
    script.write_text(_POOL)
    done = subprocess.run(
        [sys.executable, str(script), store], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    runs = _runs(store)
    assert [run.status for run in runs] == ["finished"] * 4  # one per task, none left running
    assert sum(len(run.metrics.list("loss")) for run in runs) == 4 * 50
