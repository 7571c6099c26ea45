"""A create that races the delete of its owner raises ``NotFoundError`` on every backend
(SPEC §1, §8), never ``AlreadyExistsError`` or a driver's foreign key message.

Another connection deletes the owner in a transaction it holds open; the call starts, finds the
owner (the delete is not committed), and waits on the delete's row lock (PostgreSQL) or the
write lock (SQLite); the delete then commits.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest

import mltracker
from mltracker import Experiment, Model, NotFoundError

from .rowcounts import orphans

pytestmark = pytest.mark.sql_store

#: How many sessions wait for a lock that the session of a given process id holds.
BLOCKED_BY = "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"


@contextmanager
def deleting(uri: str, statement: str, parameter: str) -> Iterator[Callable[[], None]]:
    """Run ``statement`` in a transaction of another connection that stays open; yield a
    function that waits until a call of the library is blocked by it. Commits on leaving."""
    if uri.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(uri) as raw, psycopg.connect(uri, autocommit=True) as watcher:
            raw.execute(statement, (parameter,))
            pid = raw.info.backend_pid

            def wait_blocked() -> None:
                for _ in range(3000):
                    blocked = watcher.execute(BLOCKED_BY, (pid,)).fetchone()
                    if blocked is not None and blocked[0] > 0:
                        return
                    time.sleep(0.01)
                raise AssertionError("the call never waited for the delete")

            yield wait_blocked
            raw.commit()
        return
    with closing(sqlite3.connect(uri, isolation_level=None)) as raw:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(statement.replace("%s", "?"), (uuid.UUID(parameter).hex,))

        def wait_started() -> None:
            # SQLite's write lock makes the call wait whenever it starts: nothing to watch.
            return

        yield wait_started
        raw.execute("COMMIT")


def race(uri: str, statement: str, owner_id: uuid.UUID, call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread while ``statement`` deletes its owner; return what it raised."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - the test judges it
            outcome.append(error)
        else:
            outcome.append(None)

    with deleting(uri, statement, str(owner_id)) as wait_blocked:
        thread = threading.Thread(target=run)
        thread.start()
        wait_blocked()
    thread.join(timeout=60)
    assert not thread.is_alive()
    return outcome[0]


DELETE_EXPERIMENT = "DELETE FROM experiments WHERE id = %s"
DELETE_MODEL = "DELETE FROM models WHERE id = %s"
DELETE_ITERATION = "DELETE FROM iterations WHERE id = %s"


@pytest.fixture
def tracker(uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(uri) as connection:
        yield connection


@pytest.fixture
def experiment(tracker: mltracker.Connection) -> Experiment:
    return tracker.experiments.create("e")


@pytest.fixture
def model(experiment: Experiment) -> Model:
    return experiment.models.create("h")


def test_model_create_racing_experiment_delete_raises_not_found(
    uri: str, experiment: Experiment
) -> None:
    fresh_hash = uuid.uuid4().hex

    error = race(
        uri, DELETE_EXPERIMENT, experiment.id, lambda: experiment.models.create(fresh_hash)
    )

    assert isinstance(error, NotFoundError), repr(error)
    assert "not found" in str(error)
    assert orphans(uri) == {}


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m: m.iterations.create(1), id="iterations.create"),
        pytest.param(lambda m: m.modules.log("adam", {"lr": 0.1}), id="modules.log"),
    ],
)
def test_create_racing_model_delete_raises_not_found(
    uri: str, model: Model, call: Callable[[Model], Any]
) -> None:
    error = race(uri, DELETE_MODEL, model.id, lambda: call(model))

    assert isinstance(error, NotFoundError), repr(error)
    assert "not found" in str(error)
    assert orphans(uri) == {}


def test_iteration_module_log_racing_iteration_delete_raises_not_found(
    uri: str, model: Model
) -> None:
    iteration = model.iterations.create(1)

    error = race(
        uri, DELETE_ITERATION, iteration.id, lambda: iteration.modules.log("adam", {"lr": 0.1})
    )

    assert isinstance(error, NotFoundError), repr(error)
    assert "not found" in str(error)
    assert orphans(uri) == {}


def test_duplicate_hash_still_raises_already_exists(uri: str, experiment: Experiment) -> None:
    experiment.models.create("taken")

    with pytest.raises(mltracker.AlreadyExistsError, match="taken"):
        experiment.models.create("taken")
