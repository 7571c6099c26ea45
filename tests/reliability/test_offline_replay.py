"""A training job that starts, runs and ends while its store is away (a SQLite store locked
by another connection, a tracking server that is down): it never raises, its writes go to a
spool file at the end, and ``mltracker sync`` or the next process that writes to the store
replays them, every one once and in the order the job made them. And a job whose server's
answers are lost, each loss followed by an outage: the writes it could not see answered are
replayed later, and none applies twice.

The job is a real process (``tests/writer/training_loop.py``), the server a real
``mltracker server`` on a port of its own, restarted on the same port; what is stored is read
from the SQLite file with sqlite3.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import serving
from server.helpers import ServerProcess, sync
from writer import training_loop
from writer.training_loop import EXPERIMENT, MODEL, problems, train

import mltracker
from mltracker.connect import close_all

from .dropping_proxy import DroppingProxy

TRAINING_LOOP = Path(training_loop.__file__)

EPOCHS = 25
#: Created before the job, so that the store exists (and can be locked).
FIRST = "first"

Outage = Callable[[Path, bool], AbstractContextManager[tuple[str, Callable[[], None]]]]


def _prepare(uri: str, existing: bool) -> None:
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create(FIRST)
        if existing:  # a job run again: its experiment and model are in the store
            tracker.experiments.create(EXPERIMENT).models.create(MODEL, name="net")
    close_all()


@contextmanager
def _locked_sqlite(path: Path, existing: bool) -> Iterator[tuple[str, Callable[[], None]]]:
    uri = str(path)
    _prepare(uri, existing)
    blocker = sqlite3.connect(uri, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    def release() -> None:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")

    try:
        yield uri, release
    finally:
        release()
        blocker.close()


@contextmanager
def _server_down(path: Path, existing: bool) -> Iterator[tuple[str, Callable[[], None]]]:
    servers = [ServerProcess(str(path), log=path.with_suffix(".log"))]
    url = servers[0].url
    try:
        _prepare(url, existing)
        servers[0].stop()

        def release() -> None:
            servers.append(ServerProcess(str(path), port=servers[0].port, log=servers[0].log))

        yield url, release
    finally:
        for server in servers:
            server.__exit__()


OUTAGES = [
    pytest.param(_locked_sqlite, id="sqlite-locked"),
    pytest.param(_server_down, id="http-down"),
]


def _job(uri: str, epochs: int) -> dict[str, object]:
    """Run the training loop in a process of its own; what it printed."""
    environment = {
        **os.environ,
        "MLTRACKER_RETRY_SECONDS": "0.3",
        "MLTRACKER_CLOSE_SECONDS": "2",
    }
    done = subprocess.run(
        [sys.executable, str(TRAINING_LOOP), uri, str(epochs)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    result["stderr"] = done.stderr
    return result


def _next_process_writes(uri: str) -> None:
    """Another job that writes to the store: it replays what is spooled first."""
    script = (
        "import sys, mltracker\n"
        "with mltracker.connect(sys.argv[1]) as tracker:\n"
        "    tracker.experiments.get_or_create('next').models.get_or_create('m')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, uri],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "existing", [pytest.param(False, id="new"), pytest.param(True, id="rerun")]
)
@pytest.mark.parametrize("replay", ["sync", "next-process"])
@pytest.mark.parametrize("outage", OUTAGES)
def test_a_job_that_ends_while_the_store_is_away_is_replayed_once_in_order(
    outage: Outage, replay: str, existing: bool, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    spool = tmp_path / "spool"
    with outage(path, existing) as (uri, release):
        job = _job(uri, EPOCHS)
        assert job["error"] is None, job
        assert job["seen"] == list(range(1, EPOCHS + 1)), job
        assert "could not be written" in str(job["stderr"]), job["stderr"]
        assert list(spool.glob("*.spool")), "the job left its writes in a spool file"

        release()
        if replay == "sync":
            synced = sync(uri)
            assert synced["spool_files_left"] == [], synced
            assert synced["written"] == EPOCHS * 4, synced
            assert synced["written_operations"] >= 4 * EPOCHS, synced
        else:
            _next_process_writes(uri)

    after = [FIRST, EXPERIMENT] + (["next"] if replay == "next-process" else [])
    assert problems(str(path), EPOCHS, experiments=after) == []
    assert list(spool.glob("*.spool")) == []
    assert list(spool.glob("*.refused")) == []


@pytest.mark.timeout(600)
def test_answers_lost_before_outages_never_apply_a_write_twice(
    sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every 9th answer is lost and the server is then out of reach for longer than the
    retry budget: the write it answered is queued as not done, and replayed (with its id).
    The loop goes on (an epoch takes a moment, as training does) until 5 answers were lost."""
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.2")
    with serving(sqlite_uri) as url:
        port = urlsplit(url).port
        assert port is not None
        with DroppingProxy(port, every=9, outage=0.5) as proxy:
            tracker = mltracker.connect(proxy.url)
            seen = train(tracker, 2_000, pause=0.02, enough=lambda: proxy.dropped >= 5)
            tracker.close()  # what is left after its bound goes to the spool
        close_all()
        synced = sync(url)  # the rest, straight to the server
        assert synced["spool_files_left"] == [], synced
    assert proxy.dropped >= 5 and proxy.turned_away > 0, (proxy.dropped, proxy.turned_away)
    assert seen == list(range(1, len(seen) + 1))
    assert problems(sqlite_uri, len(seen)) == []
