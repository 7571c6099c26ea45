"""A training loop whose store is away from its first call to its last: a SQLite store
locked by another connection, or a tracking server that is down. Getting the experiment and
the model, ``model.step += 1``, ``model.step = ...``, ``modules.log``, ``iterations.create`` and
``metrics.log`` never raise and never wait out the store's retry budget; ``model.step``
answers what the loop wrote; reads say at once that they need the store. When the store is
back, every write is stored once, in the order the loop made it, into the experiment and the
model that the store held already.

Each case runs with a short retry budget (the code before these writes were queued raised
``BackendUnavailableError`` in the loop) and with a budget of an hour (it waited for the store
in the loop: the test could not end before its timeout).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from server.helpers import ServerProcess

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.connect import close_all

from .training_loop import EXPERIMENT, MODEL, problems, train

EPOCHS = 30
#: A retry budget that the loop would meet at once, and one it could never wait out.
BUDGETS = [pytest.param(0.2, id="short-retry"), pytest.param(3600.0, id="hour-of-retries")]

#: A store that is away until ``release()``: its URI, and how to bring it back.
Outage = Callable[[Path], AbstractContextManager[tuple[str, Callable[[], None]]]]


def _prepare(uri: str) -> None:
    """The experiment and model exist before the job starts (a job run again)."""
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create(EXPERIMENT).models.create(MODEL, name="net")
    close_all()  # the job is a new process: it knows nothing of the store


@contextmanager
def _locked_sqlite(path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A SQLite store whose write lock another connection holds until ``release()``."""
    uri = str(path)
    _prepare(uri)
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
def _server_down(path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """The URL of a tracking server of a SQLite store, stopped; ``release()`` starts it
    again on the same port."""
    servers = [ServerProcess(str(path), log=path.with_suffix(".log"))]
    url = servers[0].url
    try:
        _prepare(url)
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


@pytest.fixture
def retry_budget(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> float:
    budget = float(request.param)
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", str(budget))
    monkeypatch.setattr(engines, "RETRY_SECONDS", budget)
    return budget


@pytest.mark.timeout(300)
@pytest.mark.parametrize("retry_budget", BUDGETS, indirect=True)
@pytest.mark.parametrize("outage", OUTAGES)
def test_a_training_loop_runs_whole_while_the_store_is_away_and_lands_once_in_order(
    outage: Outage,
    retry_budget: float,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "store.db"
    with outage(path) as (uri, release):
        tracker = mltracker.connect(uri)
        seen = train(tracker, EPOCHS)  # never raises, never waits for the store

        assert seen == list(range(1, EPOCHS + 1)), "model.step answers what the loop wrote"
        assert tracker.writer.pending > 0, "the store took nothing"
        experiment = tracker.experiments.get_or_create(EXPERIMENT)
        model = experiment.models.get_or_create(MODEL)
        assert model.step == 0, "a model first got while the store is away starts at 0"
        with pytest.raises(mltracker.BackendUnavailableError, match="reads need the store"):
            model.metrics.list()
        with pytest.raises(mltracker.BackendUnavailableError, match="reads need the store"):
            tracker.experiments.list()

        release()
        tracker.close()
    assert problems(str(path), EPOCHS) == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.timeout(300)
@pytest.mark.parametrize("retry_budget", BUDGETS[:1], indirect=True)
@pytest.mark.parametrize("outage", OUTAGES)
def test_handles_made_while_away_reach_what_the_store_held_once_it_is_back(
    outage: Outage,
    retry_budget: float,
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    with outage(path) as (uri, release):
        tracker = mltracker.connect(uri)
        # A write the store cannot take (a locked SQLite store still answers reads, and so
        # finds what exists): from here on the writer knows the store is away.
        tracker.experiments.get_or_create("new")
        experiment = tracker.experiments.get_or_create(EXPERIMENT)
        model = experiment.models.get_or_create(MODEL)
        model.metrics.log("accuracy", 0.5, step=1)
        module = model.modules.log("head", {"units": 3})
        release()

        stored_experiment = tracker.experiments.read(EXPERIMENT)
        assert stored_experiment is not None
        stored_model = stored_experiment.models.read(MODEL)
        assert stored_model is not None
        assert (experiment.id, model.id) != (stored_experiment.id, stored_model.id)
        # Calls through the handles made while away reach the stored experiment and model.
        assert [m.id for m in model.modules.list()] == [module.id]
        assert [p.value for p in model.metrics.list("accuracy")] == [0.5]
        assert [m.hash for m in experiment.models.list()] == [MODEL]
        model.step = 7
        assert stored_model.step == 7
        tracker.close()
