"""A restore finds or creates its series as the fast path does: a series that another writer
creates, or a model that another writer deletes, while the restore runs is no crash.

PostgreSQL only: on SQLite a restore holds the write lock, so no other writer runs meanwhile.
Another store writes while the restore is about to insert its series (a hook on the
restoring store's engine), and commits before that insert reaches the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import mltracker
from mltracker import NotFoundError
from mltracker.backends.sql.store import SqlStore
from mltracker.ports.store import ExperimentRecord, MetricRecord, ModelRecord, Series
from mltracker.values import FLOAT


@pytest.fixture
def tracker(postgres_uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(postgres_uri) as connection:
        yield connection


@pytest.fixture
def other(postgres_uri: str) -> Iterator[SqlStore]:
    """Another writer: a store of its own over the same database."""
    store = SqlStore(postgres_uri)
    try:
        yield store
    finally:
        store.close()


def before_series_insert(store: SqlStore, action: Callable[[], None]) -> None:
    """Run ``action`` once, just before ``store`` sends its first insert into ``series``."""
    done = False

    def hook(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal done
        if not done and statement.startswith("INSERT INTO series"):
            done = True
            action()

    sa.event.listen(store.engine, "before_cursor_execute", hook)


def restore_points(tracker: mltracker.Connection, steps: range) -> ExperimentRecord:
    """A record of the experiment ``e`` and its model ``m`` as they are stored, with points."""
    experiment = tracker.experiments.read("e")
    assert experiment is not None
    model = experiment.models.read("m")
    assert model is not None
    points = [MetricRecord("loss", step * 0.5, step, "train", time.time()) for step in steps]
    record = ModelRecord(model.id, "m", None, None, None, points, [], [])
    return ExperimentRecord(experiment.id, "e", [record])


def test_a_restore_takes_the_series_another_writer_just_created(
    tracker: mltracker.Connection, other: SqlStore
) -> None:
    model = tracker.experiments.create("e").models.create("m")
    store = tracker.store
    assert isinstance(store, SqlStore)
    series = Series(model.id, "loss", "train")
    before_series_insert(
        store, lambda: other.write_points([(series, 0, FLOAT, 0.0, None, time.time())])
    )

    report = store.restore([restore_points(tracker, range(1, 4))])

    assert report.added["metrics"] == 3
    assert [(p.name, p.phase, p.step) for p in model.metrics.list()] == [
        ("loss", "train", step) for step in range(4)
    ]
    with store.engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM series")).scalar_one()
    assert count == 1


def test_a_restore_into_a_model_deleted_meanwhile_says_so(
    tracker: mltracker.Connection, other: SqlStore
) -> None:
    experiment = tracker.experiments.create("e")
    model = experiment.models.create("m")
    store = tracker.store
    assert isinstance(store, SqlStore)
    record = restore_points(tracker, range(3))
    before_series_insert(store, lambda: other.delete_model(experiment.id, model.id))

    with pytest.raises(NotFoundError, match=f"model {model.id} not found"):
        store.restore([record])

    assert experiment.models.list() == []
