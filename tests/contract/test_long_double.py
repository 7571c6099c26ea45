"""NumPy's extended-precision scalars (``longdouble``, ``clongdouble``): a ``longdouble`` that a
float holds exactly is stored as that float; any other is refused with a typed error, at the
call, changing nothing (SPEC §2)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import mltracker
from mltracker import InvalidArgumentError, InvalidTypeError, Model

from .rowcounts import dump


@pytest.fixture
def shared(shared_uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(shared_uri) as connection:
        yield connection


@pytest.fixture
def model(shared: mltracker.Connection) -> Model:
    return shared.experiments.create(f"long-double-{uuid.uuid4()}").models.create("h")


EXACT = [
    pytest.param(np.longdouble(0.5), 0.5, id="half"),
    pytest.param(np.longdouble(-3), -3.0, id="integral"),
    pytest.param(np.longdouble("inf"), math.inf, id="inf"),
    pytest.param(np.longdouble("-inf"), -math.inf, id="-inf"),
    pytest.param(np.array(np.longdouble(0.25)), 0.25, id="0-d-array"),
]


@pytest.mark.parametrize(("value", "expected"), EXACT)
def test_log_exact_longdouble_stores_the_float(model: Model, value: Any, expected: float) -> None:
    model.metrics.log("loss", value)

    [point] = model.metrics.list()
    assert type(point.value) is float
    assert point.value == expected


def test_log_longdouble_nan_stores_nan(model: Model) -> None:
    model.metrics.log("loss", np.longdouble("nan"))

    [point] = model.metrics.list()
    assert type(point.value) is float
    assert math.isnan(point.value)


@pytest.mark.parametrize(("value", "expected"), EXACT)
def test_log_module_with_exact_longdouble_stores_the_float(
    model: Model, value: Any, expected: float
) -> None:
    model.modules.log("adam", {"lr": value, "nested": [{"eps": value}]})

    [module] = model.modules.list()
    assert module.attributes == {"lr": expected, "nested": [{"eps": expected}]}
    assert type(module.attributes["lr"]) is float


INEXACT = [
    pytest.param(np.longdouble(1) / 3, InvalidArgumentError, "float cannot hold", id="third"),
    pytest.param(np.longdouble("1e-4000"), InvalidArgumentError, "float cannot", id="tiny"),
    pytest.param(np.longdouble("1e4000"), InvalidArgumentError, "float cannot", id="huge"),
    pytest.param(np.clongdouble(1 + 2j), InvalidTypeError, "complex", id="clongdouble"),
    pytest.param(np.clongdouble(1), InvalidTypeError, "complex", id="clongdouble-real"),
    pytest.param(np.array(np.clongdouble(1j)), InvalidTypeError, "complex", id="0-d-complex"),
]

CALLS: list[Any] = [
    pytest.param(lambda m, v: m.metrics.log("loss", v), id="metrics.log"),
    pytest.param(lambda m, v: m.metrics.log("loss", {"inside": [v]}), id="metrics.log-json"),
    pytest.param(lambda m, v: m.modules.log("adam", {"lr": v}), id="modules.log"),
    pytest.param(lambda m, v: m.modules.log("adam", {"a": {"b": [v]}}), id="modules.log-nested"),
    pytest.param(
        lambda m, v: m.iterations.list()[0].modules.log("adam", {"lr": v}),
        id="iteration.modules.log",
    ),
]


@pytest.mark.parametrize(("value", "error", "fragment"), INEXACT)
@pytest.mark.parametrize("call", CALLS)
def test_inexact_or_complex_long_double_is_refused_with_a_typed_error(
    shared: mltracker.Connection,
    shared_uri: str,
    model: Model,
    call: Callable[[Model, Any], Any],
    value: Any,
    error: type[Exception],
    fragment: str,
) -> None:
    model.iterations.create(1)
    before = dump(shared_uri)

    with pytest.raises(error, match=fragment):
        call(model, value)
    shared.flush()

    assert dump(shared_uri) == before
