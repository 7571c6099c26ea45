"""Bad input, property-based: every input is stored and read back exactly, or refused.

Names, metric values, steps and module attributes are drawn from wide strategies (Unicode,
quotes and SQL, very long text, NUL, lone surrogates; NaN, infinities, -0.0, int64 extremes
and beyond, NumPy scalars and arrays, nested JSON, tuples, sets, objects that JSON cannot
hold; negative, repeated, out-of-order and out-of-range steps, floats, bools). Each call
either stores its input, which then reads back exactly (NumPy scalars as the Python number
they hold), or raises ``InvalidArgumentError`` (or its ``InvalidTypeError`` child) at the
call itself; and what was stored before is unchanged (a snapshot before, compared after).
One store per backend serves the whole module.
"""

from __future__ import annotations

import datetime
import itertools
import math
import random
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mltracker
from mltracker import AlreadyExistsError, InvalidArgumentError

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
serial = itertools.count()


# What "exactly" means -------------------------------------------------------------------------
def exact(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down; NaN equals NaN and -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(exact(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(exact(a[key], b[key]) for key in a)
    return bool(a == b)


def plain(value: Any) -> Any:
    """What an accepted value reads back as: NumPy scalars become the Python number they hold."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return plain(value.item())
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


# Strategies -----------------------------------------------------------------------------------
SURROGATES = st.characters(categories=["Cs"])


def long_text(seed: int, length: int) -> str:
    """Random Unicode (no NUL, no surrogates): text no database can compress much."""
    rng = random.Random(seed)
    ranges = [(0x20, 0x7E), (0xA0, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF)]
    return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(length))


LONG_TEXT = st.one_of(
    st.builds(long_text, st.integers(0, 2**32), st.integers(700, 12_000)),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "é", "'", "😀"]), st.integers(1_000, 50_000)
    ),
)
SPECIAL_NAMES = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 3,
    "'",
    '"',
    "''",
    "`",
    ";",
    "--",
    "/*",
    "\\",
    "\\x00",
    "'; DROP TABLE metrics; --",
    "Robert'); DROP TABLE experiments;--",
    '" OR 1=1 --',
    "%s",
    "%(name)s",
    "?",
    ":name",
    "$1",
    "{}",
    "{0}",
    "NULL",
    "null",
    "None",
    "NaN",
    "\t\n\r",
    "\x7f",
    "\ufeff",
    "\u202e\u0644\u0627",
    "😀" * 3,
    "\U0010ffff",
    "ß",
    "İ",
    "Ω",
]
NOT_STR = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(max_size=8),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
    st.tuples(st.text(max_size=3)),
    st.just(object()),
    st.just(np.str_("numpy text")),
    st.just(b"bytes"),
)
NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(SPECIAL_NAMES),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), SURROGATES, st.text(max_size=5)),
    st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=5), st.text(max_size=5)),
    LONG_TEXT,
    NOT_STR,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT_EDGES = st.sampled_from(
    [
        0,
        -1,
        1,
        2**53,
        2**53 + 1,
        -(2**53) - 1,
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**63) - 1,
        2**64,
        -(2**100),
        10**30,
    ]
)
FLOAT_EDGES = st.sampled_from(
    [
        math.nan,
        -math.nan,
        math.inf,
        -math.inf,
        -0.0,
        0.0,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        1e16,
        2.0**53 + 2,
    ]
)
NUMPY_SCALARS = st.one_of(
    st.builds(np.float64, st.floats()),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(np.float16, st.floats(width=16)),
    st.builds(np.int64, INT64),
    st.builds(np.int32, st.integers(-(2**31), 2**31 - 1)),
    st.builds(np.int8, st.integers(-128, 127)),
    st.builds(np.uint64, st.integers(0, 2**64 - 1)),
    st.builds(np.bool_, st.booleans()),
    st.builds(np.array, st.floats()),  # a 0-d array, as a 0-d tensor would be
    st.builds(np.array, INT64),
    st.just(np.str_("numpy text")),
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    FLOAT_EDGES,
    st.integers(),
    INT_EDGES,
    st.text(max_size=10),
    NUMPY_SCALARS,
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def self_referencing() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


NOT_JSON = st.one_of(
    st.just(None),
    st.builds(object),
    st.just({1, 2}),
    st.just(frozenset()),
    st.just(b"bytes"),
    st.just(bytearray(b"x")),
    st.just(1 + 2j),
    st.just(Decimal("1.1")),
    st.just(Fraction(1, 3)),
    st.just(datetime.datetime(2024, 1, 1)),
    st.just(lambda: 1),
    st.just(range(3)),
    st.just(Ellipsis),
    st.just(np.complex128(1 + 2j)),
    st.just(np.datetime64("2024-01-01")),
    st.just(np.array([1.0, 2.0])),
    st.just(np.array([])),
    st.just(uuid.uuid4()),
    st.tuples(st.integers()),
    st.tuples(),
    st.lists(st.tuples(st.integers()), min_size=1, max_size=2),
    st.sets(st.integers(), max_size=3),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
    st.just({None: 1}),
    st.just({(1, 2): 3}),
    st.just({"a": {1, 2}}),
    st.just({"a": (1,)}),
    st.just({"a\x00": 1}),
    st.just({"\ud800": 1}),
    st.just(["\x00"]),
    st.just("a\ud800b"),
    st.just(deep(250)),
    st.just(self_referencing()),
    st.just({"a": [object()]}),
)
VALUES = st.one_of(
    st.floats(),
    FLOAT_EDGES,
    st.integers(-(2**70), 2**70),
    INT_EDGES,
    st.booleans(),
    NUMPY_SCALARS,
    JSON,
    st.text(max_size=20),
    NOT_JSON,
)
STEPS = st.one_of(
    INT64,
    INT_EDGES,
    st.integers(-(2**70), 2**70),
    st.none(),
    st.floats(),
    st.booleans(),
    st.builds(np.int64, INT64),
    st.builds(np.int32, st.integers(-(2**31), 2**31 - 1)),
    st.builds(np.uint64, st.integers(0, 2**64 - 1)),
    st.builds(np.bool_, st.booleans()),
    st.builds(np.float64, st.floats()),
    st.builds(np.array, INT64),
    st.just(np.array([1])),
    st.just(np.array(2.5)),
    st.just(np.array([1, 2])),
    st.text(max_size=3),
    st.just(Decimal(3)),
    st.just(Fraction(3, 1)),
    st.just(3 + 0j),
)
ATTRIBUTES = st.one_of(
    st.dictionaries(st.text(max_size=12), JSON, max_size=5),
    st.dictionaries(st.sampled_from(SPECIAL_NAMES), JSON, max_size=3),
    st.builds(lambda key, value: {key: value}, LONG_TEXT, JSON),
    st.builds(lambda value: {"bad": value}, NOT_JSON),
    st.none(),
    st.lists(JSON, max_size=2),
    st.text(max_size=5),
    st.integers(),
    st.tuples(st.text(max_size=3), st.integers()),
    st.just(np.array(1.0)),
    st.just({"deep": deep(250)}),
)


# The store ------------------------------------------------------------------------------------
@pytest.fixture
def tracker(module_uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(module_uri) as connection:
        yield connection


@pytest.fixture
def experiment(tracker: mltracker.Connection) -> mltracker.Experiment:
    return tracker.experiments.create(f"bad input {next(serial)} {uuid.uuid4().hex[:8]}")


@pytest.fixture
def model(experiment: mltracker.Experiment) -> mltracker.Model:
    return experiment.models.create("model")


def flush(tracker: mltracker.Connection) -> None:
    """Flush; if that fails, drop the queued points, so that the next examples do not inherit
    this example's failure (the failure itself is still raised)."""
    try:
        tracker.flush()
    except BaseException:
        tracker.writer._queue.clear()
        raise


def refused_or_stored(
    snapshot: Callable[[], list[Any]],
    call: Callable[[], object],
    stored: Callable[[], Any],
    *,
    duplicate: bool = False,
) -> str:
    """Make ``call``; it is refused at the call and changes nothing, or it appends ``stored()``
    to what ``snapshot()`` shows, exactly. A duplicate may be refused as already existing."""
    before = snapshot()
    try:
        call()
    except InvalidArgumentError:
        assert exact(snapshot(), before), "a refused call changed what was stored"
        return "refused"
    except AlreadyExistsError:
        assert duplicate, "AlreadyExistsError for something that did not exist"
        assert exact(snapshot(), before)
        return "exists"
    after = snapshot()
    expected = before + [stored()]
    assert exact(after, expected), f"stored {after[len(before) :]!r}, expected {expected[-1]!r}"
    return "stored"


# Names ----------------------------------------------------------------------------------------
NAME_PLACES = [
    "experiment",
    "model hash",
    "model name",
    "model description",
    "metric name",
    "phase",
    "module name",
]


@SETTINGS
@given(place=st.sampled_from(NAME_PLACES), name=NAMES)
def test_names(
    tracker: mltracker.Connection,
    experiment: mltracker.Experiment,
    model: mltracker.Model,
    place: str,
    name: Any,
) -> None:
    experiments, models = tracker.experiments, experiment.models
    hash = f"h{next(serial)}"
    if place == "experiment":
        names = lambda: [e.name for e in experiments.list()]  # noqa: E731
        refused_or_stored(
            names,
            lambda: experiments.create(name),
            lambda: plain(name),
            duplicate=plain(name) in names(),
        )
        return
    if place == "model hash":
        hashes = lambda: [m.hash for m in models.list()]  # noqa: E731
        refused_or_stored(
            hashes,
            lambda: models.create(name),
            lambda: plain(name),
            duplicate=plain(name) in hashes(),
        )
        return
    if place in ("model name", "model description"):
        column = "name" if place == "model name" else "description"
        rows = lambda: [(m.hash, getattr(m, column)) for m in models.list()]  # noqa: E731
        refused_or_stored(
            rows, lambda: models.create(hash, **{column: name}), lambda: (hash, plain(name))
        )
        return
    if place == "module name":
        modules = lambda: [(m.name, m.attributes) for m in model.modules.list()]  # noqa: E731
        refused_or_stored(
            modules, lambda: model.modules.log(name, {"k": 1}), lambda: (plain(name), {"k": 1})
        )
        return
    step = next(serial)
    points = lambda: [(p.name, p.phase, p.step, p.value) for p in model.metrics.list()]  # noqa: E731
    if place == "metric name":
        call = lambda: (model.metrics.log(name, 1.5, step=step), flush(tracker))  # noqa: E731
        refused_or_stored(points, call, lambda: (plain(name), None, step, 1.5))
    else:
        call = lambda: (model.metrics.log("loss", 1.5, step=step, phase=name), flush(tracker))  # noqa: E731
        refused_or_stored(points, call, lambda: ("loss", plain(name), step, 1.5))


# Values ---------------------------------------------------------------------------------------
@SETTINGS
@given(value=VALUES)
def test_metric_values(tracker: mltracker.Connection, model: mltracker.Model, value: Any) -> None:
    step = next(serial)
    points = lambda: [(p.name, p.phase, p.step, p.value) for p in model.metrics.list()]  # noqa: E731
    refused_or_stored(
        points,
        lambda: (model.metrics.log("value", value, step=step), flush(tracker)),
        lambda: ("value", None, step, plain(value)),
    )


# Steps ----------------------------------------------------------------------------------------
@SETTINGS
@given(steps=st.lists(STEPS, min_size=1, max_size=6))
def test_metric_steps(
    tracker: mltracker.Connection, model: mltracker.Model, steps: list[Any]
) -> None:
    """Logged one after another, in their order: negative, repeated, out of order are kept."""
    points = lambda: [(p.step, p.value) for p in model.metrics.list()]  # noqa: E731
    before, accepted = points(), []
    for step in steps:
        value = float(next(serial))
        try:
            model.metrics.log("loss", value, step=step)
        except InvalidArgumentError:
            continue
        accepted.append((plain(step), value))
    flush(tracker)
    assert exact(points(), before + accepted)


@SETTINGS
@given(step=STEPS)
def test_iteration_and_model_steps(
    experiment: mltracker.Experiment, model: mltracker.Model, step: Any
) -> None:
    iterations = lambda: [i.step for i in model.iterations.list()]  # noqa: E731
    refused_or_stored(iterations, lambda: model.iterations.create(step), lambda: plain(step))

    stored_step = lambda: experiment.models.read("model").step  # noqa: E731
    before = stored_step()
    try:
        model.step = step
    except InvalidArgumentError:
        assert stored_step() == before, "a refused step changed the model's step"
        return
    stored = stored_step()
    assert isinstance(stored, int)  # an int subclass that remembers its read (test_step.py)
    assert exact(int(stored), plain(step))


# Attributes -----------------------------------------------------------------------------------
@SETTINGS
@given(attributes=ATTRIBUTES, on_iteration=st.booleans())
def test_module_attributes(model: mltracker.Model, attributes: Any, on_iteration: bool) -> None:
    owner = model.iterations.create(0) if on_iteration else model
    modules = lambda: [(m.name, m.attributes) for m in owner.modules.list()]  # noqa: E731
    refused_or_stored(
        modules,
        lambda: owner.modules.log("module", attributes),
        lambda: ("module", {} if attributes is None else plain(attributes)),
    )
