"""The Metrics collection of a model: log/add, list and its filters, remove, clear (SPEC §1).

Logging is buffered; every read flushes first, so no test here calls ``flush()``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import mltracker
from mltracker import Experiment, Model, NotFoundError


@pytest.fixture
def experiment(shared_uri: str) -> Iterator[Experiment]:
    """A fresh experiment in the store this module shares."""
    with mltracker.connect(shared_uri) as tracker:
        yield tracker.experiments.create(f"experiment-{uuid.uuid4()}")


@pytest.fixture
def model(experiment: Experiment) -> Model:
    return experiment.models.create("a1b2")


def _points(model: Model, **where: Any) -> list[tuple[str, Any, int | None, str | None]]:
    return [(m.name, m.value, m.step, m.phase) for m in model.metrics.list(**where)]


def test_log_then_list_returns_point_without_flush(model: Model) -> None:
    model.metrics.log("loss", 0.25, step=1, phase="train")

    assert _points(model) == [("loss", 0.25, 1, "train")]


def test_log_returns_none(model: Model) -> None:
    assert model.metrics.log("loss", 0.25) is None


def test_log_many_then_list_returns_all_without_flush(model: Model) -> None:
    for step in range(1000):
        model.metrics.log("loss", step / 1000, step=step)

    listed = model.metrics.list()

    assert [(m.value, m.step) for m in listed] == [(s / 1000, s) for s in range(1000)]


def test_log_defaults_step_and_phase_to_none(model: Model) -> None:
    model.metrics.log("loss", 1.5)

    assert _points(model) == [("loss", 1.5, None, None)]


def test_log_accepts_keyword_arguments(model: Model) -> None:
    model.metrics.log(name="acc", value=0.9, step=3, phase="validation")

    assert _points(model) == [("acc", 0.9, 3, "validation")]


def test_log_accepts_positional_step_and_phase(model: Model) -> None:
    model.metrics.log("acc", 0.9, 3, "validation")

    assert _points(model) == [("acc", 0.9, 3, "validation")]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("acc", 0.5), id="name-value"),
        pytest.param(("acc", 0.5, 2), id="with-step"),
        pytest.param(("acc", 0.5, 2, "test"), id="with-phase"),
    ],
)
def test_add_is_an_alias_of_log(model: Model, args: tuple[Any, ...]) -> None:
    model.metrics.add(*args)
    model.metrics.log(*args)

    first, second = _points(model)
    assert first == second
    assert first[: len(args)] == args


def test_log_records_timestamp_of_the_call(model: Model) -> None:
    before = time.time()
    model.metrics.log("loss", 1.0)
    after = time.time()

    (metric,) = model.metrics.list()

    assert isinstance(metric.timestamp, float)
    assert before <= metric.timestamp <= after


def test_log_gives_each_point_a_distinct_uuid(model: Model) -> None:
    for step in range(3):
        model.metrics.log("loss", 1.0, step=0)
        model.metrics.log("acc", 1.0, step=step)

    ids = [m.id for m in model.metrics.list()]

    assert all(isinstance(metric_id, uuid.UUID) for metric_id in ids)
    assert len(set(ids)) == 6


def test_list_gives_stable_ids_across_reads(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    model.metrics.log("loss", 2.0)

    assert [m.id for m in model.metrics.list()] == [m.id for m in model.metrics.list()]


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([3, 1, 2], id="out-of-order"),
        pytest.param([1, 1, 1], id="repeated"),
        pytest.param([-3, -1, -2], id="negative"),
        pytest.param([None, 5, None, 0], id="mixed-none"),
        pytest.param([2**63 - 1, -(2**63), 0], id="int64-extremes"),
    ],
)
def test_log_keeps_every_step_as_given(model: Model, steps: list[int | None]) -> None:
    for value, step in enumerate(steps):
        model.metrics.log("loss", value, step=step)

    assert [(m.value, m.step) for m in model.metrics.list()] == list(enumerate(steps))


def test_list_returns_points_in_logged_order_across_names_and_phases(model: Model) -> None:
    logged = [
        ("loss", 1.0, 0, "train"),
        ("acc", 0.1, 0, "train"),
        ("loss", 2.0, 0, "validation"),
        ("loss", 0.5, 1, "train"),
        ("acc", 0.2, None, None),
        ("loss", 0.25, 2, "train"),
        ("acc", 0.3, 1, "train"),
    ]
    for point in logged:
        model.metrics.log(*point)

    assert _points(model) == logged


def test_list_interleaves_points_logged_through_two_models(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")

    for step in range(4):
        first.metrics.log("loss", step, step=step)
        second.metrics.log("loss", -step, step=step)

    assert [m.value for m in first.metrics.list()] == [0, 1, 2, 3]
    assert [m.value for m in second.metrics.list()] == [0, -1, -2, -3]


def test_list_empty_model_is_empty(model: Model) -> None:
    assert model.metrics.list() == []


_SERIES = [
    ("loss", 0.9, None, None),
    ("loss", 1.0, 0, "train"),
    ("acc", 0.1, 0, "train"),
    ("loss", 2.0, 0, "validation"),
    ("loss", 0.5, 1, "train"),
    ("acc", 0.2, 1, "validation"),
    ("loss", 0.25, 2, "train"),
    ("loss", 0.7, -1, "train"),
    ("acc", 0.3, 5, None),
]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param({}, _SERIES, id="no-filter"),
        pytest.param({"name": "acc"}, [p for p in _SERIES if p[0] == "acc"], id="name"),
        pytest.param({"name": "missing"}, [], id="missing-name"),
        pytest.param({"phase": "train"}, [p for p in _SERIES if p[3] == "train"], id="phase"),
        pytest.param({"phase": "test"}, [], id="missing-phase"),
        pytest.param(
            {"name": "loss", "phase": "validation"},
            [("loss", 2.0, 0, "validation")],
            id="name-and-phase",
        ),
        pytest.param(
            {"start_step": 1},
            [p for p in _SERIES if p[2] is not None and p[2] >= 1],
            id="start-step-inclusive",
        ),
        pytest.param(
            {"stop_step": 1},
            [p for p in _SERIES if p[2] is not None and p[2] < 1],
            id="stop-step-exclusive",
        ),
        pytest.param(
            {"start_step": 0, "stop_step": 2},
            [p for p in _SERIES if p[2] is not None and 0 <= p[2] < 2],
            id="step-range",
        ),
        pytest.param({"start_step": 3, "stop_step": 3}, [], id="empty-step-range"),
        pytest.param(
            {"name": "loss", "phase": "train", "start_step": 0, "stop_step": 2},
            [("loss", 1.0, 0, "train"), ("loss", 0.5, 1, "train")],
            id="all-filters",
        ),
        pytest.param(
            {"start_step": -(2**63), "stop_step": 2**63 - 1},
            [p for p in _SERIES if p[2] is not None],
            id="int64-bounds",
        ),
    ],
)
def test_list_filters(model: Model, where: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    for point in _SERIES:
        model.metrics.log(*point)

    assert _points(model, **where) == expected


def test_list_name_can_be_given_positionally(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    model.metrics.log("acc", 2.0)

    assert [m.value for m in model.metrics.list("acc")] == [2.0]


def test_list_only_shows_points_of_its_model(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    first.metrics.log("loss", 1.0)

    assert second.metrics.list() == []
    assert second.metrics.list("loss") == []


def test_list_returns_snapshots(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    (before,) = model.metrics.list()

    model.metrics.clear()

    assert (before.name, before.value) == ("loss", 1.0)


def test_remove_deletes_only_that_point(model: Model) -> None:
    for step in range(3):
        model.metrics.log("loss", float(step), step=step)
    middle = model.metrics.list()[1]

    model.metrics.remove(middle)

    assert [m.step for m in model.metrics.list()] == [0, 2]


def test_remove_point_from_a_filtered_list(model: Model) -> None:
    model.metrics.log("loss", 1.0, phase="train")
    model.metrics.log("acc", 2.0, phase="validation")
    (acc,) = model.metrics.list(name="acc")

    model.metrics.remove(acc)

    assert _points(model) == [("loss", 1.0, None, "train")]


def test_remove_then_log_keeps_logged_order(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    model.metrics.log("loss", 2.0)
    model.metrics.remove(model.metrics.list()[0])

    model.metrics.log("loss", 3.0)

    assert [m.value for m in model.metrics.list()] == [2.0, 3.0]


def test_log_after_remove_gives_a_new_id(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    (removed,) = model.metrics.list()
    model.metrics.remove(removed)

    model.metrics.log("loss", 2.0)

    (logged,) = model.metrics.list()
    assert logged.id != removed.id


def test_log_after_clear_gives_new_ids(model: Model) -> None:
    for step in range(3):
        model.metrics.log("loss", 1.0, step=step)
    cleared = {m.id for m in model.metrics.list()}
    model.metrics.clear()

    for step in range(3):
        model.metrics.log("loss", 2.0, step=step)

    assert cleared.isdisjoint(m.id for m in model.metrics.list())


def test_remove_twice_raises_not_found(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    (metric,) = model.metrics.list()
    model.metrics.remove(metric)

    with pytest.raises(NotFoundError, match="not found"):
        model.metrics.remove(metric)


def test_remove_metric_of_another_model_raises_not_found(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    first.metrics.log("loss", 1.0)
    second.metrics.log("loss", 2.0)
    (foreign,) = first.metrics.list()

    with pytest.raises(NotFoundError, match="not found"):
        second.metrics.remove(foreign)

    assert [m.value for m in first.metrics.list()] == [1.0]
    assert [m.value for m in second.metrics.list()] == [2.0]


def test_remove_metric_of_cleared_model_raises_not_found(model: Model) -> None:
    model.metrics.log("loss", 1.0)
    (metric,) = model.metrics.list()
    model.metrics.clear()

    with pytest.raises(NotFoundError, match="not found"):
        model.metrics.remove(metric)


def test_clear_removes_every_point(model: Model) -> None:
    for step in range(5):
        model.metrics.log("loss", 1.0, step=step, phase="train")
        model.metrics.log("acc", 1.0, step=step)

    model.metrics.clear()

    assert model.metrics.list() == []
    assert model.metrics.list("loss") == []


def test_clear_includes_points_not_yet_flushed(model: Model) -> None:
    model.metrics.log("loss", 1.0)

    model.metrics.clear()

    assert model.metrics.list() == []


def test_clear_empty_model_is_fine(model: Model) -> None:
    model.metrics.clear()

    assert model.metrics.list() == []


def test_clear_leaves_metrics_of_other_models(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    first.metrics.log("loss", 1.0)
    second.metrics.log("loss", 2.0)

    first.metrics.clear()

    assert [m.value for m in second.metrics.list()] == [2.0]


def test_log_after_clear_is_listed(model: Model) -> None:
    model.metrics.log("loss", 1.0, phase="train")
    model.metrics.clear()

    model.metrics.log("loss", 2.0, phase="train")

    assert _points(model) == [("loss", 2.0, None, "train")]


def test_log_then_read_through_another_handle_of_same_uri(shared_uri: str) -> None:
    name = f"handles-{uuid.uuid4()}"
    with mltracker.connect(shared_uri) as writer, mltracker.connect(shared_uri) as reader:
        writer.experiments.create(name).models.create("h").metrics.log("loss", 0.5)

        experiment = reader.experiments.read(name)
        assert experiment is not None
        model = experiment.models.read("h")
        assert model is not None
        assert [m.value for m in model.metrics.list()] == [0.5]


def test_latest_returns_last_point_of_each_series_in_logged_order(model: Model) -> None:
    model.metrics.log("loss", 1.0, step=0, phase="train")
    model.metrics.log("loss", 2.0, step=0, phase="validation")
    model.metrics.log("acc", 0.1, step=0)
    model.metrics.log("loss", 0.5, step=1, phase="train")
    model.metrics.log("acc", 0.2, step=1)

    assert [(m.name, m.value, m.step, m.phase) for m in model.metrics.latest()] == [
        ("loss", 2.0, 0, "validation"),
        ("loss", 0.5, 1, "train"),
        ("acc", 0.2, 1, None),
    ]


def test_latest_of_model_without_points_is_empty(model: Model) -> None:
    assert model.metrics.latest() == []


def test_latest_after_removing_last_point_returns_the_one_before(model: Model) -> None:
    model.metrics.log("loss", 1.0, step=0)
    model.metrics.log("loss", 2.0, step=1)
    model.metrics.remove(model.metrics.list()[-1])

    assert [(m.value, m.step) for m in model.metrics.latest()] == [(1.0, 0)]
