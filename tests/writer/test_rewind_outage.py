"""A run resumed with a rewind while its tracking server is down: the resumption (with its
step) is queued and spooled with the points, and once the server is back the next process
replays it in order, once: the run's curve has one value per step."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from server.helpers import ServerProcess

import mltracker
from mltracker.connect import close_all
from mltracker.operations import Decoder, IdMap, ResumeRun, encode_entry
from mltracker.ports.store import Point, Series
from mltracker.spool import Spool
from mltracker.values import FLOAT
from mltracker.writer import MetricWriter


def _curve(uri: str) -> tuple[list[tuple[int | None, float]], list[int | None]]:
    """The stored curve of ``loss`` of model "m", and the steps of its superseded points."""
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        live = [(p.step, p.value) for p in model.metrics.list("loss")]
        every = model.metrics.list("loss", superseded=True)
        return live, [p.step for p in every if p.superseded]


@pytest.mark.timeout(180)
def test_a_resumption_with_rewind_made_while_the_server_is_down_is_replayed_once(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    log = tmp_path / "server.log"
    server = ServerProcess(str(store), log=log)
    servers = [server]
    try:
        with mltracker.connect(server.url) as tracker:  # the run that crashed at step 9
            model = tracker.experiments.create("e").models.create("m")
            with model.runs.start(name="crashed") as run:
                for step in range(10):
                    run.metrics.log("loss", float(step), step=step)
        close_all()
        server.stop()

        script = textwrap.dedent(
            f"""
            import uuid
            import mltracker
            from mltracker.integrations import runs
            tracker = mltracker.connect({server.url!r})
            model = tracker.experiments.get_or_create("e").models.get_or_create("m")
            run = runs.resume(model, uuid.UUID({str(run.id)!r}), rewind=5)
            for step in range(5, 8):
                run.metrics.log("loss", 100.0 + step, step=step)
            """
        )
        environment = {"MLTRACKER_RETRY_SECONDS": "0.2", "MLTRACKER_WRITE_WAIT_SECONDS": "0.2"}
        child = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **environment},
        )
        assert child.returncode == 0, child.stderr
        assert "could not be written" in child.stderr  # spooled
        spools = list((tmp_path / "spool").glob("**/*.spool"))
        assert len(spools) == 1
        assert '"rewind":5' in spools[0].read_text().replace(" ", "")

        servers.append(ServerProcess(str(store), port=server.port, log=log))
        with mltracker.connect(server.url) as tracker:  # the next process to write
            tracker.experiments.get_or_create("other").models.get_or_create("x").metrics.log(
                "loss", 1.0, step=0
            )
        close_all()
        live, superseded = _curve(server.url)
        assert live == [(step, float(step)) for step in range(5)] + [
            (step, 100.0 + step) for step in range(5, 8)
        ]
        assert superseded == [5, 6, 7, 8, 9]
        assert not list((tmp_path / "spool").glob("**/*.spool"))
    finally:
        for each in servers:
            each.__exit__()


def test_the_rewind_of_a_resumption_goes_through_the_spool_as_it_was() -> None:
    operation = ResumeRun(uuid.uuid4(), uuid.uuid4(), 1_700_000_000.25, 60.0, 96, 1_699_999_999.5)
    record = encode_entry(operation, IdMap())
    decoded = Decoder().entry(operation.id, record)

    assert isinstance(decoded, ResumeRun)
    assert (decoded.id, decoded.run_id, decoded.at, decoded.timeout) == (
        operation.id,
        operation.run_id,
        operation.at,
        operation.timeout,
    )
    assert (decoded.rewind, decoded.since) == (96, 1_699_999_999.5)
    # A resumption without a rewind is spooled as before rewinds.
    plain = ResumeRun(uuid.uuid4(), uuid.uuid4(), 1.0, None)
    assert "rewind" not in encode_entry(plain, IdMap())["args"]
    decoded_plain = Decoder().entry(plain.id, encode_entry(plain, IdMap()))
    assert isinstance(decoded_plain, ResumeRun) and decoded_plain.rewind is None


def test_a_spooled_resumption_the_store_already_took_supersedes_nothing_more(
    sqlite_uri: str,
) -> None:
    """A crash between the store taking a resumption with rewind (and the points logged
    after it) and the spool forgetting them: the next process replays the spool, and the
    points logged after the resumption stay the run's values."""
    with mltracker.connect(sqlite_uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        with model.runs.start(name="crashed") as run:
            for step in range(6):
                run.metrics.log("loss", float(step), step=step)
    store = tracker.store
    series = Series(model.id, "loss", None, run.id)
    resumption = ResumeRun(uuid.uuid4(), run.id, time.time(), None, 3)
    points: list[Point] = [(series, step, FLOAT, step * 10.0, None, time.time()) for step in (3, 4)]
    batch_id = uuid.uuid4()
    spool = Spool.create(store.store_id(), store.uri)
    spool.append([(resumption.id, resumption), (batch_id, points)])
    resumption.apply(store, IdMap())  # taken, and the points after it...
    store.write_points(points, batch_id)
    spool.release()  # ...then the process died: the lock goes with it

    fresh = MetricWriter(store)  # the next process: its first write adopts the spool
    fresh.append((series, 5, FLOAT, 50.0, None, time.time()))
    fresh.flush()

    assert not spool.path.exists()
    with mltracker.connect(sqlite_uri) as tracker:
        stored = tracker.experiments.read("e").models.read("m")  # type: ignore[union-attr]
        assert [(p.step, p.value) for p in stored.metrics.list("loss")] == [  # type: ignore[union-attr]
            (0, 0.0),
            (1, 1.0),
            (2, 2.0),
            (3, 30.0),
            (4, 40.0),
            (5, 50.0),
        ]
        every = stored.metrics.list("loss", superseded=True)  # type: ignore[union-attr]
        assert [p.step for p in every if p.superseded] == [3, 4, 5]
