"""Values and names round-trip exactly, with their Python types (SPEC §2)."""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import mltracker
from mltracker import Model
from mltracker.values import MAX_NAME_BYTES

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def identical(got: Any, expected: Any) -> bool:
    """Equal, with the same types all the way down; NaN equals NaN and -0.0 differs from 0.0."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(got)
        return got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)
    if isinstance(expected, list):
        return len(got) == len(expected) and all(map(identical, got, expected))
    if isinstance(expected, dict):
        return list(got) == list(expected) and all(
            identical(got[key], expected[key]) for key in expected
        )
    return bool(got == expected)


@pytest.fixture
def shared(shared_uri: str) -> Iterator[mltracker.Connection]:
    """A connection to the shared store of a backend."""
    with mltracker.connect(shared_uri) as connection:
        yield connection


@pytest.fixture
def model(shared: mltracker.Connection) -> Model:
    """A fresh model in the shared store of a backend."""
    return shared.experiments.create(f"values-{uuid.uuid4()}").models.create("a1b2")


NUMBERS = [
    pytest.param(0.25, id="float"),
    pytest.param(0.1, id="float-inexact-decimal"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(-math.inf, id="-inf"),
    pytest.param(-0.0, id="-0.0"),
    pytest.param(0.0, id="0.0"),
    pytest.param(sys.float_info.max, id="float-max"),
    pytest.param(-sys.float_info.max, id="float-lowest"),
    pytest.param(5e-324, id="float-subnormal"),
    pytest.param(1e-300, id="float-tiny"),
    pytest.param(0, id="int-zero"),
    pytest.param(1, id="int-one"),
    pytest.param(-7, id="int-negative"),
    pytest.param(INT64_MAX, id="int64-max"),
    pytest.param(INT64_MIN, id="int64-min"),
    pytest.param(2**53, id="2**53"),
    pytest.param(2**53 + 1, id="2**53+1"),
    pytest.param(-(2**53) - 1, id="-(2**53+1)"),
    pytest.param(INT64_MAX - 1, id="int64-max-minus-1"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
]


@pytest.mark.parametrize("value", NUMBERS)
def test_log_number_round_trips_with_its_type(model: Model, value: Any) -> None:
    model.metrics.log("m", value, step=1)

    (metric,) = model.metrics.list()

    assert identical(metric.value, value), (metric.value, value)


def test_log_negative_zero_keeps_its_sign(model: Model) -> None:
    model.metrics.log("m", -0.0)

    (metric,) = model.metrics.list()

    assert math.copysign(1.0, metric.value) == -1.0


def test_log_mixed_types_in_one_series_keeps_each(model: Model) -> None:
    values: list[Any] = [1, 1.0, True, math.nan, -0.0, 2**60, "text", [1], {"a": 1}]
    for step, value in enumerate(values):
        model.metrics.log("m", value, step=step)

    got = [m.value for m in model.metrics.list()]

    assert identical(got, values), got


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(np.float64(0.1), 0.1, id="np.float64"),
        pytest.param(np.float32(0.5), 0.5, id="np.float32"),
        pytest.param(np.float32(0.1), float(np.float32(0.1)), id="np.float32-inexact"),
        pytest.param(np.float16(1.5), 1.5, id="np.float16"),
        pytest.param(np.float32(np.nan), math.nan, id="np.float32-nan"),
        pytest.param(np.float64(-np.inf), -math.inf, id="np.float64--inf"),
        pytest.param(np.float32(-0.0), -0.0, id="np.float32--0.0"),
        pytest.param(np.int64(2**62 + 1), 2**62 + 1, id="np.int64"),
        pytest.param(np.int64(INT64_MIN), INT64_MIN, id="np.int64-min"),
        pytest.param(np.int32(-5), -5, id="np.int32"),
        pytest.param(np.uint8(255), 255, id="np.uint8"),
        pytest.param(np.bool_(True), True, id="np.bool_-true"),
        pytest.param(np.bool_(False), False, id="np.bool_-false"),
        pytest.param(np.array(3.5), 3.5, id="0-d-array-float"),
        pytest.param(np.array(7, dtype=np.int64), 7, id="0-d-array-int"),
        pytest.param(np.array(True), True, id="0-d-array-bool"),
    ],
)
def test_log_numpy_scalar_comes_back_as_python_number(
    model: Model, value: Any, expected: Any
) -> None:
    model.metrics.log("m", value)

    (metric,) = model.metrics.list()

    assert identical(metric.value, expected), (metric.value, expected)


JSON_VALUES = [
    pytest.param("text", id="str"),
    pytest.param("", id="empty-str"),
    pytest.param("0.5", id="numeric-str"),
    pytest.param("tab\there\nnewline \\ backslash \"quote\" 'single'", id="escapes-str"),
    pytest.param("héllo wörld 日本語 🚀", id="unicode-str"),
    pytest.param([], id="empty-list"),
    pytest.param({}, id="empty-dict"),
    pytest.param([1, 2.5, "a", None, True, False], id="mixed-list"),
    pytest.param([[1, [2, [3, []]]]], id="nested-lists"),
    pytest.param({"a": {"b": {"c": [1, {"d": None}]}}}, id="nested-dicts"),
    pytest.param({"z": 1, "a": 2, "m": 3}, id="dict-key-order"),
    pytest.param({"precision": 0.9, "recall": 0.8, "labels": ["cat", "dog"]}, id="report"),
    pytest.param([math.nan, math.inf, -math.inf, -0.0], id="special-floats-in-list"),
    pytest.param({"big": 2**53 + 1, "small": INT64_MIN}, id="big-ints-in-dict"),
    pytest.param({"ключ": "值", "🔑": "🚀", "": "empty key"}, id="unicode-keys"),
    pytest.param([None], id="none-in-list"),
]


@pytest.mark.parametrize("value", JSON_VALUES)
def test_log_json_value_round_trips(model: Model, value: Any) -> None:
    model.metrics.log("m", value, step=1, phase="train")

    (metric,) = model.metrics.list()

    assert identical(metric.value, value), (metric.value, value)


def test_log_json_value_with_numpy_scalars_comes_back_as_python(model: Model) -> None:
    model.metrics.log("m", {"f": np.float32(0.5), "i": [np.int64(3)], "b": np.bool_(False)})

    (metric,) = model.metrics.list()

    assert identical(metric.value, {"f": 0.5, "i": [3], "b": False}), metric.value


NAMES = [
    pytest.param("loss", id="ascii"),
    pytest.param("précision", id="accents"),
    pytest.param("损失", id="cjk"),
    pytest.param("📉 loss 🚀", id="emoji"),
    pytest.param("a\u0301", id="combining-mark"),
    pytest.param("\u200b", id="zero-width-space"),
    pytest.param(" ", id="single-space"),
    pytest.param("  padded  ", id="padding-kept"),
    pytest.param('it\'s "quoted"', id="quotes"),
    pytest.param("x'); DROP TABLE metrics; --", id="sql-injection"),
    pytest.param("%s %(name)s %% {0} $1 ?", id="placeholders"),
    pytest.param("back\\slash\ttab\nnewline\r", id="control-chars"),
    pytest.param("\x01\x7f", id="low-control-chars"),
    pytest.param("a" * MAX_NAME_BYTES, id="longest"),
    pytest.param("%", id="percent"),
    pytest.param("_", id="underscore"),
    pytest.param("*", id="star"),
    pytest.param("\U0010ffff", id="max-code-point"),
]


@pytest.mark.parametrize("name", NAMES)
def test_name_round_trips_everywhere(shared: mltracker.Connection, name: str) -> None:
    experiment = shared.experiments.create(name)
    model = experiment.models.create(name, name=name, description=name)
    model.metrics.log(name, 1.0, phase=name)
    model.modules.log(name, {name: name})
    model.iterations.create(0).modules.log(name, {name: [name]})

    found_experiment = shared.experiments.read(name)
    assert found_experiment is not None
    assert (found_experiment.id, found_experiment.name) == (experiment.id, name)
    assert [e.name for e in shared.experiments.list() if e.id == experiment.id] == [name]
    found = found_experiment.models.read(name)
    assert found is not None
    assert (found.hash, found.name, found.description) == (name, name, name)
    assert [(m.name, m.phase) for m in found.metrics.list(name, phase=name)] == [(name, name)]
    assert [(m.name, m.attributes) for m in found.modules.list()] == [(name, {name: name})]
    iteration = found.iterations.get(0)
    assert iteration is not None
    assert [(m.name, m.attributes) for m in iteration.modules.list()] == [(name, {name: [name]})]


#: The longest name allowed, in UTF-8 that does not compress (3 bytes a character).
LONGEST_NAME = "".join(chr(0x4E00 + (index * 7919) % 20000) for index in range(MAX_NAME_BYTES // 3))
PLACES = ["experiment name", "model hash", "model name", "metric name", "phase", "module name"]


def use_names(tracker: mltracker.Connection, name: Callable[[str], str]) -> None:
    experiment = tracker.experiments.create(name("experiment name"))
    model = experiment.models.create(name("model hash"), name=name("model name"))
    model.metrics.log(name("metric name"), 1.0, phase=name("phase"))
    model.modules.log(name("module name"))


@pytest.mark.parametrize("where", PLACES)
def test_longest_incompressible_name_round_trips(tracker: mltracker.Connection, where: str) -> None:
    def name(here: str) -> str:
        return LONGEST_NAME if here in (where, "phase") else here.replace(" ", "-")

    use_names(tracker, name)
    tracker.flush()

    found = tracker.experiments.read(name("experiment name"))
    assert found is not None
    found_model = found.models.read(name("model hash"))
    assert found_model is not None
    assert found_model.name == name("model name")
    assert [(m.name, m.phase) for m in found_model.metrics.list()] == [
        (name("metric name"), name("phase"))
    ]
    assert [m.name for m in found_model.modules.list()] == [name("module name")]


@pytest.mark.parametrize("where", PLACES)
def test_name_over_the_limit_is_refused_at_the_call(
    tracker: mltracker.Connection, where: str
) -> None:
    def name(here: str) -> str:
        return "é" * (MAX_NAME_BYTES // 2 + 1) if here == where else here.replace(" ", "-")

    with pytest.raises(mltracker.InvalidArgumentError, match="the limit is 1024"):
        use_names(tracker, name)
    tracker.flush()
    assert all(m.name != name(where) for e in tracker.experiments.list() for m in e.models.list())


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(np.int64(7), id="np.int64"),
        pytest.param(np.int32(-3), id="np.int32"),
        pytest.param(np.uint8(200), id="np.uint8"),
    ],
)
def test_numpy_integer_step_comes_back_as_int(model: Model, step: Any) -> None:
    model.metrics.log("m", 1.0, step=step)
    model.iterations.create(step)
    model.step = step

    (metric,) = model.metrics.list()
    (iteration,) = model.iterations.list()
    assert identical(metric.step, int(step))
    assert identical(iteration.step, int(step))
    assert isinstance(model.step, int)  # an int subclass: see test_step.py
    assert identical(int(model.step), int(step))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("loss", "Loss", id="case"),
        pytest.param("é", "e\u0301", id="unicode-normal-forms"),
        pytest.param("loss", "loss ", id="trailing-space"),
        pytest.param("%", "_", id="like-wildcards"),
    ],
)
def test_names_are_compared_exactly(tracker: mltracker.Connection, first: str, second: str) -> None:
    tracker.experiments.create(first)
    tracker.experiments.create(second)
    model = tracker.experiments.create("e").models.create(first)
    model.metrics.log(first, 1, phase=first)
    model.metrics.log(second, 2, phase=second)

    found_first = tracker.experiments.read(first)
    assert found_first is not None
    assert found_first.name == first
    assert [m.value for m in model.metrics.list(second)] == [2]
    assert [m.value for m in model.metrics.list(phase=first)] == [1]
    experiment = tracker.experiments.read("e")
    assert experiment is not None
    assert experiment.models.read(second) is None


def test_description_may_be_empty_or_multiline(tracker: mltracker.Connection) -> None:
    models = tracker.experiments.create("e").models
    models.create("h1", description="")
    models.create("h2", description="line one\nline two\n\n  indented ✓")

    assert [m.description for m in models.list()] == ["", "line one\nline two\n\n  indented ✓"]


ATTRIBUTES = [
    pytest.param({"lr": 0.001, "betas": [0.9, 0.999], "amsgrad": False}, id="optimizer"),
    pytest.param({"a": {"b": {"c": {"d": [1, [2, {"e": None}]]}}}}, id="deeply-nested"),
    pytest.param({"none": None, "list_of_none": [None, None]}, id="nones"),
    pytest.param({"int": 1, "float": 1.0, "bool": True}, id="types-kept"),
    pytest.param({"max": INT64_MAX, "min": INT64_MIN, "2**53+1": 2**53 + 1}, id="big-ints"),
    pytest.param({"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}, id="floats"),
    pytest.param({"ключ": "значение", "🔑": "🚀", "": ""}, id="unicode-and-empty"),
    pytest.param({"q": 'it\'s "quoted" \\ back\nslash'}, id="escapes"),
    pytest.param({"z": 1, "a": 2, "m": {"y": 1, "b": 2}}, id="key-order"),
    pytest.param({"sql": "'); DROP TABLE modules; --"}, id="sql-text"),
    pytest.param({"empty_list": [], "empty_dict": {}}, id="empties"),
]


@pytest.mark.parametrize("attributes", ATTRIBUTES)
def test_module_attributes_round_trip(model: Model, attributes: dict[str, Any]) -> None:
    logged = model.modules.log("m", attributes)
    iteration_module = model.iterations.create(1).modules.log("m", attributes)

    (listed,) = model.modules.list()
    iteration = model.iterations.get(1)
    assert iteration is not None
    (iteration_listed,) = iteration.modules.list()

    for module in (logged, listed, iteration_module, iteration_listed):
        assert identical(module.attributes, attributes), module.attributes


def test_module_attributes_with_numpy_scalars_come_back_as_python(model: Model) -> None:
    model.modules.log(
        "m", {"lr": np.float32(0.5), "epochs": np.int64(3), "shuffle": np.bool_(True)}
    )

    (module,) = model.modules.list()

    assert identical(module.attributes, {"lr": 0.5, "epochs": 3, "shuffle": True})
