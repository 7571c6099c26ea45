"""PostgreSQL restarted while a process logs: logging resumes and nothing is lost.

The server is restarted with ``pg_ctlcluster`` (fast mode: every connection is cut), so this
runs where the test owns the local cluster of ``/etc/postgresql``. Whatever happens, the
server is up again when the test ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import mltracker
from mltracker.connect import close_all

from .children import Child, Counters, describe_gaps, integrity_problems, steps_by_model

CLUSTERS = Path("/etc/postgresql")
EVERY = 200


def cluster_version() -> str | None:
    if shutil.which("pg_ctlcluster") is None or not CLUSTERS.is_dir():
        return None
    versions = sorted(
        (p.name for p in CLUSTERS.iterdir() if (p / "main").is_dir()),
        key=lambda v: [int(part) for part in v.split(".") if part.isdigit()],
    )
    return versions[-1] if versions else None


def pg_ctlcluster(version: str, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "--mode=fast", version, "main", action],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def postgres_ready() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], timeout=30, check=False
        ).returncode
        == 0
    )


def make_sure_postgres_is_up(version: str) -> None:
    deadline = time.monotonic() + 120
    started = False
    while not postgres_ready():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back within 120 s")
        if not started and time.monotonic() > deadline - 110:  # 10 s down: start it
            pg_ctlcluster(version, "start")
            started = True
        time.sleep(0.2)


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.postgresql
def test_logging_goes_on_across_a_postgresql_restart(postgres_uri: str, tmp_path: Path) -> None:
    version = cluster_version()
    if version is None or os.geteuid() != 0:
        pytest.skip("needs root and a local pg_ctlcluster cluster to restart")
    with mltracker.connect(postgres_uri) as tracker:
        tracker.experiments.create("steady")
    close_all()
    stop, progress = tmp_path / "stop", tmp_path / "progress"
    counters = Counters(progress, 2, create=True)
    try:
        with Child(
            "steady-logger",
            postgres_uri,
            "restart",
            EVERY,
            0.01,
            0.1,
            str(stop),
            str(progress),
            log=tmp_path / "logger.log",
        ) as logger:
            logger.expect("ready", timeout=60)
            wait_until(lambda: counters[1] >= 10 * EVERY, 60, "the logger flushing")
            try:
                restart = pg_ctlcluster(version, "restart")
            finally:
                make_sure_postgres_is_up(version)
            assert restart.returncode == 0, restart.stderr
            durable_after_restart = counters[1]
            wait_until(
                lambda: counters[1] >= durable_after_restart + 10 * EVERY,
                120,
                f"logging resuming after the restart (log: {logger.stderr()[-2000:]})",
            )
            stop.touch()
            result = logger.result(timeout=180)
    finally:
        counters.close()
        make_sure_postgres_is_up(version)

    steps = steps_by_model(postgres_uri, "restart").get("restart", [])
    assert result["errors"] == [] and result["close_error"] is None, result
    assert steps == list(range(result["logged"])), describe_gaps(steps)
    assert integrity_problems(postgres_uri) == []
    print(
        f"logged {result['logged']} points across the restart; longest flush "
        f"{result['longest_flush']:.2f} s"
    )
