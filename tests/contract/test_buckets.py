"""Point budgets computed by the store (``Store.metric_buckets``, the ``budget`` of the
server's metrics route): exact below the budget, spikes and non-finite values kept at every
budget, the same points on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

import pytest

import mltracker
from mltracker import InvalidArgumentError, Model
from mltracker.ports.store import MIN_BUDGET, MetricFilter, Store

BUDGETS = [5, 6, 8, 13, 40, 101, 400, 999]


@pytest.fixture
def model(connection: mltracker.Connection) -> Model:
    return connection.experiments.create(f"e-{uuid.uuid4()}").models.create("h")


def _buckets(
    connection: mltracker.Connection, model: Model, budget: int, **where: Any
) -> list[Any]:
    store: Store = connection.store
    return store.metric_buckets(model.id, MetricFilter(**where), budget)


def _log_series(model: Model, values: list[Any], name: str = "loss", **options: Any) -> None:
    for step, value in enumerate(values):
        model.metrics.log(name, value, step=step, **options)


def _smooth(count: int) -> list[float]:
    return [math.sin(step / 50) for step in range(count)]


@pytest.mark.parametrize("count", [1, 5, 6, 100])
def test_series_within_the_budget_come_back_whole(
    connection: mltracker.Connection, model: Model, count: int
) -> None:
    _log_series(model, _smooth(count))
    _log_series(model, [1, "text", True, float("nan")], name="acc")

    found = _buckets(connection, model, max(count, MIN_BUDGET))

    assert found == model.metrics.list()
    assert [point.value for point in found[-4:]][:3] == [1, "text", True]


@pytest.mark.parametrize("budget", BUDGETS)
def test_single_point_spikes_survive_at_every_budget(
    connection: mltracker.Connection, model: Model, budget: int
) -> None:
    values = _smooth(1000)
    values[377] = 50.0
    values[641] = -50.0
    _log_series(model, values)

    found = _buckets(connection, model, budget)

    steps = [point.step for point in found]
    assert 377 in steps and 641 in steps
    assert len(found) <= budget
    assert steps[0] == 0 and steps[-1] == 999
    assert steps == sorted(steps)


@pytest.mark.parametrize("budget", BUDGETS)
def test_nan_and_infinities_stay_visible_at_every_budget(
    connection: mltracker.Connection, model: Model, budget: int
) -> None:
    values = _smooth(1000)
    values[100] = float("nan")
    values[500] = float("inf")
    values[900] = float("-inf")
    _log_series(model, values)

    found = {point.step: point.value for point in _buckets(connection, model, budget)}

    assert math.isnan(found[100])
    assert found[500] == float("inf") and found[900] == float("-inf")
    assert len(found) <= budget


def test_each_series_gets_its_own_budget(connection: mltracker.Connection, model: Model) -> None:
    for step in range(300):
        model.metrics.log("loss", math.cos(step), step=step, phase="train")
        model.metrics.log("loss", math.sin(step), step=step, phase="eval")
        if step % 100 == 0:
            model.metrics.log("lr", 0.1 / (step + 1), step=step)

    found = _buckets(connection, model, 40)

    by_series: dict[tuple[str, str | None], int] = {}
    for point in found:
        by_series[(point.name, point.phase)] = by_series.get((point.name, point.phase), 0) + 1
    assert by_series[("lr", None)] == 3
    assert 4 < by_series[("loss", "train")] <= 40 and 4 < by_series[("loss", "eval")] <= 40
    assert [point.ordinal for point in found] == sorted(point.ordinal for point in found)
    assert _buckets(connection, model, 40, name="lr") == model.metrics.list("lr")


def test_the_step_range_is_cut_into_buckets(connection: mltracker.Connection, model: Model) -> None:
    values = _smooth(2000)
    values[1500] = 9.0
    values[200] = 9.0  # outside the range asked for
    _log_series(model, values)

    found = _buckets(connection, model, 20, start_step=1000, stop_step=1800)

    steps = [point.step for point in found]
    assert 1500 in steps and 200 not in steps
    assert min(steps) == 1000 and max(steps) == 1799
    assert len(found) <= 20


def test_points_after_a_cursor_are_thinned(connection: mltracker.Connection, model: Model) -> None:
    _log_series(model, _smooth(1000))
    cursor = model.metrics.list(limit=600)[-1]

    found = _buckets(connection, model, 20, after=cursor.ordinal)

    assert min(point.step for point in found) == 600
    assert len(found) <= 20


def test_series_without_steps_are_cut_by_logged_order(
    connection: mltracker.Connection, model: Model
) -> None:
    for index, value in enumerate(_smooth(500)):
        model.metrics.log("loss", 7.0 if index == 333 else value)

    found = _buckets(connection, model, 20)

    assert 7.0 in [point.value for point in found]
    assert len(found) <= 20


def test_points_that_are_not_numbers_are_kept_as_first_or_last(
    connection: mltracker.Connection, model: Model
) -> None:
    _log_series(model, ["text", *_smooth(200), {"end": True}])

    found = _buckets(connection, model, 8)

    assert found[0].value == "text" and found[-1].value == {"end": True}
    assert len(found) <= 8


def test_equal_values_keep_the_first_of_them(
    connection: mltracker.Connection, model: Model
) -> None:
    _log_series(model, [1.0] * 100)

    found = _buckets(connection, model, 8)

    # Two buckets of 50 steps: each keeps its first point (also its lowest and highest)
    # and its last.
    assert [point.step for point in found] == [0, 49, 50, 99]


@pytest.mark.parametrize("budget", [-1, 0, 2, MIN_BUDGET - 1])
def test_a_budget_below_the_minimum_is_refused(
    connection: mltracker.Connection, model: Model, budget: int
) -> None:
    _log_series(model, _smooth(10))

    with pytest.raises(InvalidArgumentError, match="budget"):
        _buckets(connection, model, budget)


def _random_series(seed: int) -> list[tuple[Any, int | None]]:
    """Values with ties, spikes, NaN and infinities, at repeated and out-of-order steps."""
    chooser = random.Random(seed)
    points: list[tuple[Any, int | None]] = []
    for index in range(3000):
        value: Any = round(chooser.gauss(0, 1), 1)  # many ties
        draw = chooser.random()
        if draw < 0.01:
            value = chooser.choice([float("nan"), float("inf"), float("-inf"), 1e300, -1e300])
        elif draw < 0.02:
            value = chooser.choice([7, True, "text"])
        step = index // 2 if chooser.random() < 0.9 else chooser.randrange(-50, 2000)
        points.append((value, step))
    return points


@pytest.mark.postgresql
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sqlite_and_postgresql_keep_the_same_points(
    sqlite_uri: str, postgres_uri: str, seed: int
) -> None:
    chosen: list[list[list[tuple[Any, ...]]]] = []
    for uri in (sqlite_uri, postgres_uri):
        with mltracker.connect(uri) as tracker:
            model = tracker.experiments.create("e").models.create("h")
            for value, step in _random_series(seed):
                model.metrics.log("loss", value, step=step, phase="train")
            for index in range(700):
                model.metrics.log("acc", float(index % 7), step=None)
            tracker.flush()
            store: Store = tracker.store
            chosen.append(
                [
                    [
                        (point.name, point.step, repr(point.value))
                        for point in store.metric_buckets(model.id, MetricFilter(), budget)
                    ]
                    for budget in (5, 64, 301, 2999)
                ]
            )

    assert chosen[0] == chosen[1]
    assert all(len(found) > 0 for found in chosen[0])
