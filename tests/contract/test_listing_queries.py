"""Listing many models costs a constant number of queries: ``Store.list_models`` gives each
model's step, ``Store.latest_metrics_of_models`` the latest points of many models at once."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import mltracker
from mltracker import Experiment
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import metrics as sql_metrics
from mltracker.backends.sql.store import SqlStore

pytestmark = pytest.mark.sql_store


def sql(connection: mltracker.Connection) -> SqlStore:
    store = connection.store
    assert isinstance(store, SqlStore)
    return store


def populate(experiment: Experiment, count: int) -> None:
    for number in range(count):
        model = experiment.models.create(f"h{number}", name=f"m{number}")
        model.step = number * 10
        if number % 3 == 2:
            continue  # some models have no points
        for step in range(4):
            model.metrics.log("loss", 1.0 / (step + 1 + number), step=step, phase="train")
            model.metrics.log("acc", step * number, step=step)
        model.metrics.log("grad", math.nan, step=4)
        model.metrics.log("note", {"text": f"model {number}"}, step=4, phase="train")


class Counter:
    """Counts the statements a store sends: through SQLAlchemy and on the driver's cursor."""

    def __init__(self, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        sa.event.listen(store.engine, "before_cursor_execute", self._count)
        driver_execute = engines.driver_execute

        def counted(connection: Any, statement: Any) -> Any:
            self.count += 1
            return driver_execute(connection, statement)

        monkeypatch.setattr(engines, "driver_execute", counted)
        self._store = store

    def _count(self, *_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        sa.event.remove(self._store.engine, "before_cursor_execute", self._count)


@pytest.fixture
def counter(connection: mltracker.Connection, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    counter = Counter(sql(connection), monkeypatch)
    yield counter
    counter.close()


def test_list_models_gives_each_step(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    populate(experiment, 5)

    rows = sql(connection).list_models(experiment.id)

    assert [(row.hash, row.name, row.step) for row in rows] == [
        (f"h{n}", f"m{n}", n * 10) for n in range(5)
    ]
    assert [row.id for row in rows] == [model.id for model in experiment.models.list()]
    assert [row.created_at for row in rows] == [m.created_at for m in experiment.models.list()]


def test_latest_metrics_of_models_equals_latest_of_each(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    populate(experiment, 7)
    models = experiment.models.list()
    unknown = uuid.uuid4()

    latest = sql(connection).latest_metrics_of_models([m.id for m in models] + [unknown])

    assert list(latest) == [m.id for m in models] + [unknown]
    assert latest[unknown] == []
    for model in models:
        expected = model.metrics.latest()
        got = latest[model.id]
        assert got == expected
        assert [(p.name, p.phase, p.step, p.timestamp, p.id) for p in got] == [
            (p.name, p.phase, p.step, p.timestamp, p.id) for p in expected
        ]
        assert [repr(p.value) for p in got] == [repr(p.value) for p in expected]
    assert [p.name for p in latest[models[0].id]] == ["loss", "acc", "grad", "note"]
    assert latest[models[2].id] == []


def test_latest_metrics_of_models_reads_in_chunks(
    connection: mltracker.Connection, experiment: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(experiment, 8)
    models = experiment.models.list()
    expected = {m.id: m.metrics.latest() for m in models}
    monkeypatch.setattr(sql_metrics, "_IDS_PER_QUERY", 3)

    assert sql(connection).latest_metrics_of_models([m.id for m in models]) == expected


def test_latest_is_the_last_logged_not_the_highest_step(experiment: Experiment) -> None:
    model = experiment.models.create("h")
    model.metrics.log("loss", 0.1, step=9)
    model.metrics.log("loss", 0.5, step=2)

    assert [(p.value, p.step) for p in model.metrics.latest()] == [(0.5, 2)]


@pytest.mark.parametrize("count", [3, 30])
def test_listing_models_with_step_and_latest_costs_the_same_for_any_count(
    connection: mltracker.Connection, experiment: Experiment, counter: Counter, count: int
) -> None:
    populate(experiment, count)
    connection.flush()
    store = sql(connection)
    counter.count = 0

    rows = store.list_models(experiment.id)
    store.latest_metrics_of_models([row.id for row in rows])

    assert len(rows) == count
    assert counter.count <= 5
