"""The integrations while their tracking server is away: a tiny Lightning fit, Hugging Face
``Trainer.train`` and plain PyTorch loop (``tests/integrations/away_job.py``, each in a
process of its own) run to their end and exit 0 while no server listens on their URL, or after
theirs was killed at the end of the first epoch. What they logged waits in a spool file; once
a server listens on that port again, ``mltracker sync`` delivers it: every point once, the
modules, the iterations and the model's step.

The jobs run with a retry budget of 600 s and the test's timeout is 120 s: a job that waited
for the store at the start or at the end of training (before these were bounded) could not
finish in time. The server is a real ``mltracker server`` on a port of its own; what is stored
is read from its SQLite file.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import mltracker
from tests.integrations import away_job
from tests.server.helpers import ServerProcess, sync

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(away_job.__file__)
EPOCHS, BATCHES = away_job.EPOCHS, away_job.BATCHES

FRAMEWORKS = [
    pytest.param("lightning", id="lightning"),
    pytest.param("transformers", id="transformers"),
    pytest.param("torch", id="torch"),
]
#: The steps of the iterations each job makes: one when training begins and after each epoch
#: (the plain loop logs its optimizer at the start of each epoch).
ITERATIONS = {
    "lightning": [0, BATCHES, 2 * BATCHES],
    "transformers": [0, BATCHES, 2 * BATCHES],
    "torch": [0, BATCHES],
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Job:
    result: dict[str, object]
    stderr: str


def _run(framework: str, uri: str, server_pid: int | None = None) -> Job:
    """Run the job to its end; it must exit 0 (well before the test's timeout)."""
    pytest.importorskip({"torch": "torch"}.get(framework, framework))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        # Longer than the test may take: waiting for the store anywhere would be seen.
        "MLTRACKER_RETRY_SECONDS": "600",
        "MLTRACKER_CLOSE_SECONDS": "2",
    }
    arguments = [framework, uri] + ([] if server_pid is None else [str(server_pid)])
    done = subprocess.run(
        [sys.executable, str(JOB), *arguments],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return Job(json.loads(done.stdout.strip().splitlines()[-1]), done.stderr)


@contextmanager
def _server(path: Path, port: int = 0) -> Iterator[ServerProcess]:
    with ServerProcess(str(path), port=port, log=path.with_suffix(".log")) as server:
        yield server


def _check_delivered(framework: str, job: Job, path: Path) -> None:
    """The store at ``path`` holds every point of the job once, its modules, its
    iterations and its step."""
    with mltracker.connect(str(path)) as tracker:
        experiment = tracker.experiments.read(away_job.EXPERIMENT)
        assert experiment is not None
        [model] = experiment.models.list()
        assert model.hash == job.result["hash"]
        points = model.metrics.list()
        logged = Counter(job.result["steps"])  # type: ignore[arg-type]
        assert len(points) == sum(logged.values())
        assert Counter(-1 if p.step is None else p.step for p in points) == logged
        assert [m.name for m in model.modules.list()] == job.result["modules"]
        assert [i.step for i in model.iterations.list()] == ITERATIONS[framework]
        assert model.step == EPOCHS * BATCHES


def _spooled(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "spool").glob("*.spool"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_training_ends_while_no_server_listens_and_sync_delivers_it_once(
    framework: str, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    job = _run(framework, url)
    assert "could not be written" in job.stderr, job.stderr[-4000:]
    assert _spooled(tmp_path), "the job left its writes in a spool file"

    path = tmp_path / "fresh.db"
    with _server(path, port):
        synced = sync(url)
        assert synced["spool_files_left"] == [], synced
        assert synced["written"] == len(job.result["steps"]), synced  # type: ignore[arg-type]
    _check_delivered(framework, job, path)
    assert _spooled(tmp_path) == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("framework", FRAMEWORKS[:2])  # a plain loop ends with no flush
def test_training_ends_after_its_server_was_killed_and_sync_delivers_the_rest_once(
    framework: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    with _server(path) as first:
        url, port = first.url, first.port
        job = _run(framework, url, first.popen.pid)
    assert first.popen.poll() is not None, "the job killed its server"
    assert _spooled(tmp_path), "the job left its writes in a spool file"

    with _server(path, port):
        synced = sync(url)
        assert synced["spool_files_left"] == [], synced
    _check_delivered(framework, job, path)
    assert _spooled(tmp_path) == []
