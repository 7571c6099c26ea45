"""Deleting anything deletes everything it owns, and nothing else (SPEC §1).

The rows are counted with raw driver queries (``rowcounts``), so what the API no longer
shows must really be gone from every table: no orphan rows, ever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import mltracker
from mltracker import Experiment, Model

from .rowcounts import TABLES, orphans, row_counts

#: The rows one model made by ``_populate_model`` owns, per table.
PER_MODEL = {"series": 2, "metrics": 3, "iterations": 2, "modules": 4}


def _populate_model(model: Model) -> None:
    model.metrics.log("loss", 1.0, step=0, phase="train")
    model.metrics.log("loss", 0.5, step=1, phase="train")
    model.metrics.log("acc", 0.9)
    model.modules.log("linear", {"in": 784, "out": 10})
    model.modules.log("relu")
    for step in (1, 2):
        model.iterations.create(step).modules.log("adam", {"lr": 0.1 / step})
    model.step = 2


def _counts(experiments: int, models: int, **changes: int) -> dict[str, int]:
    counts = {"experiments": experiments, "models": models}
    counts.update({table: models * per_model for table, per_model in PER_MODEL.items()})
    for table, change in changes.items():
        counts[table] += change
    return counts


def _contents(model: Model) -> tuple[Any, ...]:
    """What the API shows of a model, to check that it was not touched."""
    return (
        model.step,
        [(m.id, m.name, m.value, m.step, m.phase, m.timestamp) for m in model.metrics.list()],
        [(m.id, m.name, m.attributes) for m in model.modules.list()],
        [
            (i.id, i.step, [(m.id, m.name, m.attributes) for m in i.modules.list()])
            for i in model.iterations.list()
        ],
    )


class Store:
    """Two experiments: ``a`` with models ``a1`` and ``a2``, ``b`` with ``b1`` (whose hash is
    ``a1`` too), each model populated the same way."""

    def __init__(self, tracker: mltracker.Connection) -> None:
        self.tracker = tracker
        self.a = tracker.experiments.create("a")
        self.b = tracker.experiments.create("b")
        self.a1 = self.a.models.create("a1")
        self.a2 = self.a.models.create("a2")
        self.b1 = self.b.models.create("a1")
        for model in (self.a1, self.a2, self.b1):
            _populate_model(model)


@pytest.fixture
def store(tracker: mltracker.Connection) -> Store:
    return Store(tracker)


def test_populated_store_has_expected_rows(store: Store, uri: str) -> None:
    store.tracker.flush()

    assert row_counts(uri) == _counts(experiments=2, models=3)
    assert orphans(uri) == {}


@pytest.mark.parametrize(
    ("action", "expected", "untouched"),
    [
        pytest.param(
            lambda s: s.tracker.experiments.delete(s.a.id),
            _counts(experiments=1, models=1),
            ["b1"],
            id="delete-experiment",
        ),
        pytest.param(
            lambda s: s.a.models.delete(s.a1.id),
            _counts(experiments=2, models=2),
            ["a2", "b1"],
            id="delete-model",
        ),
        pytest.param(
            lambda s: s.a.models.clear(),
            _counts(experiments=2, models=1),
            ["b1"],
            id="clear-models",
        ),
        pytest.param(
            lambda s: s.a1.iterations.remove(s.a1.iterations.list()[0]),
            _counts(experiments=2, models=3, iterations=-1, modules=-1),
            ["a2", "b1"],
            id="remove-iteration",
        ),
        pytest.param(
            lambda s: s.a1.iterations.clear(),
            _counts(experiments=2, models=3, iterations=-2, modules=-2),
            ["a2", "b1"],
            id="clear-iterations",
        ),
        pytest.param(
            lambda s: s.a1.metrics.remove(s.a1.metrics.list()[1]),
            _counts(experiments=2, models=3, metrics=-1),
            ["a2", "b1"],
            id="remove-metric",
        ),
        pytest.param(
            lambda s: s.a1.modules.remove(s.a1.modules.list()[0]),
            _counts(experiments=2, models=3, modules=-1),
            ["a2", "b1"],
            id="remove-model-module",
        ),
        pytest.param(
            lambda s: s.a1.modules.clear(),
            _counts(experiments=2, models=3, modules=-2),
            ["a2", "b1"],
            id="clear-model-modules",
        ),
        pytest.param(
            lambda s: s.a1.iterations.list()[0].modules.clear(),
            _counts(experiments=2, models=3, modules=-1),
            ["a2", "b1"],
            id="clear-iteration-modules",
        ),
        pytest.param(
            lambda s: s.a1.iterations.list()[1].modules.remove(
                s.a1.iterations.list()[1].modules.list()[0]
            ),
            _counts(experiments=2, models=3, modules=-1),
            ["a2", "b1"],
            id="remove-iteration-module",
        ),
    ],
)
def test_delete_removes_owned_rows_and_nothing_else(
    store: Store,
    uri: str,
    action: Callable[[Store], None],
    expected: dict[str, int],
    untouched: list[str],
) -> None:
    models = {"a2": store.a2, "b1": store.b1}
    before = {name: _contents(models[name]) for name in untouched}

    action(store)

    store.tracker.flush()
    assert row_counts(uri) == expected
    assert orphans(uri) == {}
    assert {name: _contents(models[name]) for name in untouched} == before


def test_clear_metrics_removes_every_point_row(store: Store, uri: str) -> None:
    store.a1.metrics.clear()

    store.tracker.flush()
    counts = row_counts(uri)
    assert counts["metrics"] == 2 * PER_MODEL["metrics"]
    assert {table: counts[table] for table in TABLES if table not in ("metrics", "series")} == {
        table: count
        for table, count in _counts(experiments=2, models=3).items()
        if table not in ("metrics", "series")
    }
    assert orphans(uri) == {}


def test_delete_experiment_removes_every_row_of_a_large_model(
    tracker: mltracker.Connection, uri: str
) -> None:
    experiment = tracker.experiments.create("big")
    model = experiment.models.create("h")
    for step in range(5000):
        model.metrics.log("loss", step * 0.5, step=step, phase="train")
        model.metrics.log("acc", step, step=step)
    for step in range(50):
        iteration = model.iterations.create(step)
        iteration.modules.log("adam", {"step": step})
        model.modules.log(f"layer{step}")

    tracker.experiments.delete(experiment.id)

    tracker.flush()
    assert row_counts(uri) == dict.fromkeys(TABLES, 0)


@pytest.mark.parametrize(
    "delete",
    [
        pytest.param(lambda t, e, m: e.models.delete(m.id), id="delete-model"),
        pytest.param(lambda t, e, m: e.models.clear(), id="clear-models"),
        pytest.param(lambda t, e, m: t.experiments.delete(e.id), id="delete-experiment"),
    ],
)
def test_delete_right_after_logging_leaves_no_rows(
    tracker: mltracker.Connection,
    uri: str,
    delete: Callable[[mltracker.Connection, Experiment, Model], None],
) -> None:
    experiment = tracker.experiments.create("e")
    model = experiment.models.create("h")
    for step in range(100):
        model.metrics.log("loss", 1.0, step=step)

    delete(tracker, experiment, model)

    tracker.flush()
    counts = row_counts(uri)
    assert {table: counts[table] for table in TABLES if table != "experiments"} == dict.fromkeys(
        [table for table in TABLES if table != "experiments"], 0
    )
    assert orphans(uri) == {}


def test_delete_experiment_then_recreate_starts_empty(store: Store, uri: str) -> None:
    store.tracker.experiments.delete(store.a.id)

    again = store.tracker.experiments.create("a")
    model = again.models.create("a1")

    assert (model.step, model.metrics.list(), model.modules.list(), model.iterations.list()) == (
        0,
        [],
        [],
        [],
    )
    store.tracker.flush()
    expected = _counts(experiments=2, models=1)
    expected["models"] += 1
    assert row_counts(uri) == expected
