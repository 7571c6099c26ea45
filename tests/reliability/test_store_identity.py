"""Spooled points belong to a store, not to a URL: another store that answers at the same
URL later never gets them, and the store they belong to gets them all, once, when it is back.

Real server processes on one port, each over its own SQLite file: server A is up while a
client creates a model and logs; A is killed and the client logs more; server B (another
store) comes up on the same port; another client logs to B. B holds only B's points, and no
client sees a ``NotFoundError``. Then A comes back on the port, and ``mltracker sync``
delivers A's spooled points: A holds each of them exactly once.

Two ways for A's points to be kept: the client closes while A is down (they go to the spool
then), or it is still running when B comes up (they are still in memory, and its close
finds B at the URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from server.helpers import ServerProcess, row_counts, stored_points, sync

BEFORE = 2_000  #: points client A logs while A is up
DURING = 20_000  #: points client A logs while A is down
THEIRS = 3_000  #: points client B logs to B

#: A client: logs ``before`` points and flushes them, waits for the file ``down``, logs
#: ``during`` points, waits for the file ``other`` (if given), closes, and prints what it
#: saw as JSON.
CLIENT = r"""
import json, os, sys, time
import mltracker

url, hash, before, during, down, other = sys.argv[1:7]

def wait_for(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path}")
        time.sleep(0.01)

errors = []
tracker = mltracker.connect(url)
model = tracker.experiments.get_or_create("e").models.get_or_create(hash)
for step in range(int(before)):
    model.metrics.log("loss", float(step), step=step)
tracker.flush()
print("flushed", flush=True)
if down != "-":
    wait_for(down)
for step in range(int(before), int(before) + int(during)):
    try:
        model.metrics.log("loss", float(step), step=step)
    except Exception as error:
        errors.append(type(error).__name__ + ": " + str(error))
if other != "-":
    print("logged", flush=True)
    wait_for(other)
try:
    tracker.close()
except Exception as error:
    errors.append(type(error).__name__ + ": " + str(error))
print(json.dumps({"errors": errors}), flush=True)
"""


class Client:
    """A client process running ``CLIENT``."""

    def __init__(self, tmp_path: Path, url: str, hash: str, *args: str) -> None:
        self.log = tmp_path / f"client-{hash}.log"
        environment = {
            **os.environ,
            "MLTRACKER_RETRY_SECONDS": "1",
            "MLTRACKER_CLOSE_SECONDS": "2",
            "MLTRACKER_SIGNAL_FLUSH_SECONDS": "2",
        }
        with open(self.log, "wb") as stderr:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", CLIENT, url, hash, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=environment,
            )

    def expect(self, line: str) -> None:
        assert self.popen.stdout is not None
        got = self.popen.stdout.readline().strip()
        assert got == line, f"{got!r} instead of {line!r}; stderr:\n{self.stderr()}"

    def result(self) -> list[str]:
        """The errors the client saw (it must end normally)."""
        assert self.popen.stdout is not None
        # From the buffered stream that ``expect`` read lines from: it may hold the last
        # line already (``communicate`` reads the pipe itself, past that buffer).
        out = self.popen.stdout.read()
        self.popen.wait(timeout=180)
        assert self.popen.returncode == 0, self.stderr()
        errors: list[str] = json.loads(out.strip().splitlines()[-1])["errors"]
        return errors

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def end(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.communicate(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("closed_before_b", [True, False], ids=["spooled", "in-memory"])
def test_another_store_at_the_same_url_never_gets_the_spooled_points(
    tmp_path: Path, closed_before_b: bool
) -> None:
    a_db, b_db = tmp_path / "a.db", tmp_path / "b.db"
    down, other = tmp_path / "down", tmp_path / "other"
    spool = tmp_path / "spool"
    server = ServerProcess(str(a_db), log=tmp_path / "a.log")
    port = server.port
    clients: list[Client] = []
    try:
        first = Client(
            tmp_path, server.url, "a", str(BEFORE), str(DURING), str(down),
            "-" if closed_before_b else str(other),
        )  # fmt: skip
        clients.append(first)
        first.expect("flushed")
        server.kill()  # A is down
        down.touch()
        if closed_before_b:
            first_errors = first.result()  # closed while A is down: its points are spooled
            assert len(list(spool.glob("*.spool"))) == 1, first.stderr()
        else:
            first.expect("logged")  # A's points wait in the client's memory

        server = ServerProcess(str(b_db), port=port, log=tmp_path / "b.log")  # another store
        if not closed_before_b:
            other.touch()  # the client closes now, with B at the URL
            first_errors = first.result()
            assert "is now another store" in first.stderr(), first.stderr()
        assert first_errors == [], first_errors

        second = Client(tmp_path, server.url, "b", str(THEIRS), "0", "-", "-")
        clients.append(second)
        second.expect("flushed")
        assert second.result() == [], second.stderr()
        assert "NotFoundError" not in second.stderr() and "deleted" not in second.stderr()
        server.stop()
        server.__exit__()
        assert stored_points(b_db, "b", "loss") == [(step, float(step)) for step in range(THEIRS)]
        assert stored_points(b_db, "a", "loss") == []
        assert row_counts(b_db)["models"] == 1 and row_counts(b_db)["metrics"] == THEIRS
        assert len(list(spool.glob("*.spool"))) == 1  # A's points wait for A

        server = ServerProcess(str(a_db), port=port, log=tmp_path / "a.log")  # A is back
        synced = sync(server.url)
        assert synced["written"] == DURING, synced
        assert synced["spool_files_left"] == [], synced
        server.stop()
    finally:
        server.__exit__()
        for client in clients:
            client.end()

    total = BEFORE + DURING
    assert stored_points(a_db, "a", "loss") == [(step, float(step)) for step in range(total)]
    assert row_counts(a_db)["metrics"] == total
    assert list(spool.glob("*.spool")) == []
