"""A tracking server killed with SIGKILL and restarted under its clients: every point is
stored once, in order. And a client whose spool cannot be written: it says so.

The server is ``mltracker server`` over a SQLite file, in a process of its own, restarted on
the same port (a client's spool belongs to the server's URL). Clients retry for 2 s
(``MLTRACKER_RETRY_SECONDS``), then keep their points in memory, and two of them, with a
small ``max_pending``, in their spool; whatever is left when they end is delivered by
``mltracker sync``.
"""

from __future__ import annotations

import os
import random
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from server.helpers import ServerProcess, sync

import mltracker
from mltracker.connect import close_all

from .children import Child, Counters, describe_gaps, integrity_problems, steps_by_model

CLIENTS = 4
POINTS = 50_000
KILLS = 4


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.005)


def create_experiment(url: str) -> None:
    with mltracker.connect(url) as tracker:
        tracker.experiments.create("killed")
    close_all()


@pytest.mark.slow
def test_every_point_is_stored_once_in_order_while_the_server_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, log = tmp_path / "store.db", tmp_path / "server.log"
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    go, progress = tmp_path / "go", tmp_path / "progress"
    counters = Counters(progress, CLIENTS, create=True)
    server = ServerProcess(str(path), log=log)
    kills: list[int] = []
    spooled: list[int] = []  # spool files when the server comes back, for the record
    spool = tmp_path / "spool"
    try:
        create_experiment(server.url)
        monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "2")
        with ExitStack() as stack:
            clients = [
                stack.enter_context(
                    Child(
                        "http-logger",
                        server.url,
                        index,
                        POINTS,
                        500,
                        0.15,
                        2_000 if index % 2 else 100_000,
                        str(go),
                        str(progress),
                        log=tmp_path / f"client-{index}.log",
                    )
                )
                for index in range(CLIENTS)
            ]
            for client in clients:
                client.expect("ready", timeout=120)
            go.touch()

            # Kill at random moments of the clients' progress, so that every kill lands
            # while they log, however fast this machine is.
            def logged() -> int:
                return sum(counters[index] for index in range(CLIENTS))

            for moment in sorted(rng.uniform(0.05, 0.85) for _ in range(KILLS)):
                target = int(moment * CLIENTS * POINTS)
                wait_until(lambda: logged() >= target, 120, "the clients")  # noqa: B023
                server.kill()
                kills.append(logged())
                time.sleep(rng.uniform(0.05, 1.5))  # down for a while
                spooled.append(len(list(spool.glob("*.spool"))))
                server = ServerProcess(str(path), port=server.port, log=log)
            results = [client.result(timeout=180) for client in clients]
        synced = sync(server.url)
        assert synced["spool_files_left"] == [], synced
        server.stop()
    finally:
        server.__exit__()
        counters.close()

    context = (
        f"seed {seed}, killed at {kills} points logged, spool files then {spooled}, "
        f"sync {synced}, clients {results}"
    )
    assert len(kills) == KILLS
    assert all(result["error_count"] == 0 for result in results), context
    steps = steps_by_model(str(path))
    for index in range(CLIENTS):
        stored = steps.get(f"h{index}", [])
        assert stored == list(range(POINTS)), f"h{index}: {describe_gaps(stored)}; {context}"
    assert integrity_problems(str(path)) == []
    assert list(spool.glob("*.spool")) == []
    print(context)


@pytest.mark.slow
def test_a_client_whose_spool_cannot_be_written_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool folder cannot be created (a regular file is in its way; the tests run as
    root, for whom a read-only folder is no obstacle): logging goes on, ``close()`` raises a
    typed error, and stderr says that the points are lost (nothing is lost silently)."""
    path = tmp_path / "store.db"
    in_the_way = tmp_path / "not-a-folder"
    in_the_way.write_text("")
    go, progress = tmp_path / "go", tmp_path / "progress"
    Counters(progress, 1, create=True).close()
    with ServerProcess(str(path), log=tmp_path / "server.log") as server:
        create_experiment(server.url)
        monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "1")
        monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(in_the_way / "spool"))
        with Child(
            "http-logger",
            server.url,
            0,
            3_000,
            500,
            0.0,
            1_000,
            str(go),
            str(progress),
            log=tmp_path / "client.log",
        ) as client:
            client.expect("ready", timeout=60)
            server.stop()
            go.touch()
            result = client.result(timeout=120)
            stderr = client.stderr()
    assert result["error_count"] == 0, result  # logging never raised
    assert result["close_error"]["type"] == "BackendUnavailableError", result
    assert result["close_error"]["mltracker"], result
    assert f"cannot spool metric points to {in_the_way / 'spool'}" in stderr, stderr
    assert "Not a directory" in stderr, stderr
    assert "LOST 3000 metric points" in stderr, stderr
