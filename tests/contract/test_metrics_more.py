"""Metrics: points without a phase (``phase=NO_PHASE``), a timestamp given to ``log``, and
several metrics of one step with ``log_many``."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import pytest

import mltracker
from mltracker import InvalidArgumentError, InvalidTypeError, Model
from mltracker.ports.metrics import NO_PHASE, Metrics

from .rowcounts import dump


@pytest.fixture
def model(connection: mltracker.Connection) -> Model:
    return connection.experiments.create(f"e-{uuid.uuid4()}").models.create("h")


# NO_PHASE -------------------------------------------------------------------------------


@pytest.fixture
def phased(model: Model) -> Model:
    model.metrics.log("loss", 1.0, step=1)
    model.metrics.log("loss", 2.0, step=1, phase="train")
    model.metrics.log("acc", 3.0, step=2)
    model.metrics.log("loss", 4.0, step=2)
    model.metrics.log("loss", 5.0, step=3, phase="validation")
    return model


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param({"phase": NO_PHASE}, [1.0, 3.0, 4.0], id="no-phase"),
        pytest.param({"name": "loss", "phase": NO_PHASE}, [1.0, 4.0], id="name-no-phase"),
        pytest.param({"phase": NO_PHASE, "start_step": 2}, [3.0, 4.0], id="no-phase-steps"),
        pytest.param({"phase": None}, [1.0, 2.0, 3.0, 4.0, 5.0], id="any-phase"),
        pytest.param({"phase": "train"}, [2.0], id="one-phase"),
    ],
)
def test_list_filters_by_phase_or_its_absence(
    phased: Model, arguments: dict[str, Any], expected: list[float]
) -> None:
    assert [point.value for point in phased.metrics.list(**arguments)] == expected


def test_to_pandas_filters_points_without_phase(phased: Model) -> None:
    frame = phased.metrics.to_pandas(phase=NO_PHASE)

    assert frame["value"].tolist() == [1.0, 3.0, 4.0]
    assert frame["phase"].tolist() == [None, None, None]


def test_no_phase_is_reachable_from_every_metrics_collection(model: Model) -> None:
    assert model.metrics.NO_PHASE is NO_PHASE is Metrics.NO_PHASE
    assert repr(NO_PHASE) == "NO_PHASE"


def test_empty_phase_is_still_refused(model: Model) -> None:
    with pytest.raises(InvalidArgumentError, match="phase"):
        model.metrics.list(phase="")


# log(timestamp=...) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "stored"),
    [
        pytest.param(1_700_000_000.125, 1_700_000_000.125, id="float"),
        pytest.param(1_700_000_000, 1_700_000_000.0, id="int"),
        pytest.param(np.float64(12.5), 12.5, id="np.float64"),
        pytest.param(np.int64(7), 7.0, id="np.int64"),
        pytest.param(-86400.0, -86400.0, id="before-1970"),
        pytest.param(0, 0.0, id="epoch"),
    ],
)
def test_log_stores_the_given_timestamp(model: Model, timestamp: Any, stored: float) -> None:
    model.metrics.log("loss", 0.5, step=1, timestamp=timestamp)
    model.metrics.add("acc", 0.9, 1, "train", timestamp)

    points = model.metrics.list()
    assert [(p.name, p.timestamp, type(p.timestamp)) for p in points] == [
        ("loss", stored, float),
        ("acc", stored, float),
    ]


def test_log_without_timestamp_stores_now(model: Model) -> None:
    model.metrics.log("loss", 0.5, timestamp=None)
    model.metrics.log("loss", 0.25)

    assert all(type(p.timestamp) is float and p.timestamp > 1e9 for p in model.metrics.list())


BAD_TIMESTAMPS = [
    pytest.param(math.nan, InvalidArgumentError, "finite", id="nan"),
    pytest.param(math.inf, InvalidArgumentError, "finite", id="inf"),
    pytest.param(-math.inf, InvalidArgumentError, "finite", id="-inf"),
    pytest.param(10**400, InvalidArgumentError, "timestamp", id="huge-int"),
    pytest.param("2024-01-01", InvalidTypeError, "str", id="str"),
    pytest.param(True, InvalidTypeError, "bool", id="bool"),
    pytest.param(1 + 2j, InvalidTypeError, "complex", id="complex"),
    pytest.param([1.0], InvalidTypeError, "list", id="list"),
]


@pytest.mark.parametrize(("timestamp", "error", "fragment"), BAD_TIMESTAMPS)
def test_log_refuses_bad_timestamp_and_logs_nothing(
    connection: mltracker.Connection,
    shared_uri: str,
    model: Model,
    timestamp: Any,
    error: type[Exception],
    fragment: str,
) -> None:
    connection.flush()
    before = dump(shared_uri)

    with pytest.raises(error, match=fragment):
        model.metrics.log("loss", 0.5, timestamp=timestamp)
    with pytest.raises(error, match=fragment):
        model.metrics.log_many({"loss": 0.5}, timestamp=timestamp)
    connection.flush()

    assert dump(shared_uri) == before


# log_many -------------------------------------------------------------------------------


def test_log_many_logs_each_metric_at_one_step_and_time(model: Model) -> None:
    model.metrics.log_many({"loss": 0.25, "acc": 0.75, "n": 3}, step=5, phase="train")

    points = model.metrics.list()
    assert [(p.name, p.value, p.step, p.phase) for p in points] == [
        ("loss", 0.25, 5, "train"),
        ("acc", 0.75, 5, "train"),
        ("n", 3, 5, "train"),
    ]
    assert len({p.timestamp for p in points}) == 1


def test_log_many_with_timestamp_and_no_step_or_phase(model: Model) -> None:
    model.metrics.log_many({"loss": 0.5, "acc": {"top": [1, 5]}}, timestamp=123.5)

    points = model.metrics.list()
    assert [(p.name, p.value, p.step, p.phase, p.timestamp) for p in points] == [
        ("loss", 0.5, None, None, 123.5),
        ("acc", {"top": [1, 5]}, None, None, 123.5),
    ]


def test_log_many_keeps_the_order_of_the_calls(model: Model) -> None:
    model.metrics.log("loss", 1.0, step=0)
    model.metrics.log_many({"acc": 0.5, "loss": 0.9}, step=1)
    model.metrics.log("loss", 0.8, step=2)

    assert [(p.name, p.step) for p in model.metrics.list()] == [
        ("loss", 0),
        ("acc", 1),
        ("loss", 1),
        ("loss", 2),
    ]
    assert [(p.name, p.value) for p in model.metrics.latest()] == [("acc", 0.5), ("loss", 0.8)]


def test_log_many_of_nothing_logs_nothing(connection: mltracker.Connection, model: Model) -> None:
    model.metrics.log_many({}, step=1)

    assert model.metrics.list() == []


@pytest.mark.parametrize(
    ("values", "kwargs", "error", "fragment"),
    [
        pytest.param({"loss": 1.0, "acc": None}, {}, InvalidTypeError, "'acc'", id="none-value"),
        pytest.param({"loss": 1.0, "x": object()}, {}, InvalidTypeError, "object", id="object"),
        pytest.param({"loss": 1.0, "big": 2**63}, {}, InvalidArgumentError, "int64", id="int"),
        pytest.param({"loss": 1.0, "": 2.0}, {}, InvalidArgumentError, "empty", id="empty-name"),
        pytest.param({"loss": 1.0, 3: 2.0}, {}, InvalidTypeError, "name", id="int-name"),
        pytest.param({"loss": 1.0}, {"step": 1.5}, InvalidTypeError, "step", id="float-step"),
        pytest.param({"loss": 1.0}, {"phase": ""}, InvalidArgumentError, "phase", id="phase"),
        pytest.param({}, {"phase": 3}, InvalidTypeError, "phase", id="phase-of-nothing"),
        pytest.param([("loss", 1.0)], {}, InvalidTypeError, "mapping", id="list-of-pairs"),
        pytest.param(None, {}, InvalidTypeError, "mapping", id="None"),
    ],
)
def test_log_many_refuses_any_bad_argument_and_logs_none(
    connection: mltracker.Connection,
    shared_uri: str,
    model: Model,
    values: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    connection.flush()
    before = dump(shared_uri)

    with pytest.raises(error, match=fragment):
        model.metrics.log_many(values, **kwargs)
    connection.flush()

    assert dump(shared_uri) == before
