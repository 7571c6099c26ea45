"""Searches against pandas, on every backend (over HTTP too): random sweeps (parameters of every
JSON kind, NaN and infinities, series of mixed values, missing parameters and series) and
random conditions and orders over every operator and aggregate; the store must select and order
the runs exactly as the README's rules, applied to summaries that pandas computes from the
points, do."""

from __future__ import annotations

import math
import os
import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mltracker
from mltracker.search import (
    AGGREGATES,
    And,
    Compare,
    Condition,
    Field,
    In,
    IsNull,
    Like,
    Not,
    Or,
    OrderKey,
)

pandas = pytest.importorskip("pandas")

MISSING = object()
_ALPHABET = "ab%_*?[\\é"
_FLOATS = [0.0, -0.0, 0.25, -1.5, 1.0, 2.5, 1e-3, math.nan, math.inf, -math.inf]

floats = st.one_of(st.sampled_from(_FLOATS), st.floats(-10, 10, width=32))
ints = st.integers(-3, 3)
texts = st.text(alphabet=_ALPHABET, max_size=3)
scalars = st.one_of(floats, ints, st.booleans(), texts)
json_values = st.one_of(scalars, st.none(), st.lists(ints, max_size=2))
points = st.lists(scalars, min_size=1, max_size=6)

runs = st.lists(
    st.fixed_dictionaries(
        {
            "params": st.dictionaries(
                st.sampled_from(["lr", "opt", "batch size"]), json_values, max_size=3
            ),
            "nested": st.one_of(st.none(), json_values, st.fixed_dictionaries({"x": json_values})),
            "loss": st.one_of(st.none(), points),
            "val": st.one_of(st.none(), points),
            "hidden": st.one_of(st.none(), json_values),
            "status": st.sampled_from(["finished", "failed", "killed"]),
        }
    ),
    min_size=1,
    max_size=6,
)

FIELDS = [
    Field("params", ("lr",)),
    Field("params", ("opt",)),
    Field("params", ("batch size",)),
    Field("params", ("nested", "x")),
    Field("modules", ("enc", "h")),
    Field("run", ("status",)),
    Field("run", ("name",)),
    *(Field("metrics", ("loss",), None, aggregate) for aggregate in AGGREGATES),
    *(Field("metrics", ("loss",), "val", aggregate) for aggregate in AGGREGATES),
]
fields = st.sampled_from(FIELDS)
literals = st.one_of(
    st.sampled_from([*_FLOATS, 0, 1, 2, -3, "finished", "failed", "r1"]), ints, texts
)
leaves = st.one_of(
    st.builds(Compare, fields, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), literals),
    st.builds(In, fields, st.lists(literals, min_size=1, max_size=3).map(tuple)),
    st.builds(Like, fields, texts),
    st.builds(IsNull, fields),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=5,
)
orders = st.lists(st.builds(OrderKey, fields, st.booleans()), max_size=2)


# Text ---------------------------------------------------------------------------------------
def literal_text(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return repr(value)


def condition_text(condition: Condition) -> str:
    if isinstance(condition, Not):
        return f"NOT ({condition_text(condition.operand)})"
    if isinstance(condition, And | Or):
        word = " AND " if isinstance(condition, And) else " or "
        return word.join(f"({condition_text(operand)})" for operand in condition.operands)
    field = str(condition.field)
    if isinstance(condition, Compare):
        return f"{field} {condition.operator} {literal_text(condition.value)}"
    if isinstance(condition, In):
        return f"{field} in ({', '.join(map(literal_text, condition.values))})"
    if isinstance(condition, Like):
        return f"{field} LIKE {literal_text(condition.pattern)}"
    return f"{field} IS NULL"


def order_text(order: list[OrderKey]) -> str:
    return ", ".join(f"{key.field} {'DESC' if key.descending else 'asc'}" for key in order)


# The reference ------------------------------------------------------------------------------
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


def summaries(sweep: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """The summary of each run's series, computed by pandas from the points."""
    rows = [
        {"run": index, "series": series, "step": step * 2 - 3, "value": value}
        for index, run in enumerate(sweep)
        for series in ("loss", "val")
        if run[series] is not None
        for step, value in enumerate(run[series])
    ]
    found: dict[tuple[int, str], dict[str, Any]] = {}
    if not rows:
        return found
    frame = pandas.DataFrame(rows)
    frame["nan"] = frame["value"].map(lambda v: isinstance(v, float) and math.isnan(v))
    frame["number"] = frame["value"].map(lambda v: float(v) if is_number(v) else None)
    for (run, series), group in frame.groupby(["run", "series"], sort=False):
        numbers = group["number"].dropna()
        summary = {
            "count": int(len(group)),
            "nan_count": int(group["nan"].sum()),
            "first": group["value"].iloc[0],
            "last": group["value"].iloc[-1],
            "min": float(numbers.min()) if len(numbers) else MISSING,
            "max": float(numbers.max()) if len(numbers) else MISSING,
            "argmin": int(group["step"][numbers.idxmin()]) if len(numbers) else MISSING,
            "argmax": int(group["step"][numbers.idxmax()]) if len(numbers) else MISSING,
        }
        found[run, series] = summary
    return found


def value_of(sweep: list[dict[str, Any]], index: int, field: Field, kept: Any) -> Any:
    run = sweep[index]
    if field.namespace == "params":
        if field.path == ("nested", "x"):
            nested = run["nested"]
            value = nested.get("x", MISSING) if isinstance(nested, dict) else MISSING
        else:
            value = run["params"].get(field.path[0], MISSING)
        return MISSING if value is None else value
    if field.namespace == "modules":
        value = run["hidden"]
        if value is None:  # the model's latest, of any run
            logged = [each["hidden"] for each in sweep if each["hidden"] is not None]
            value = logged[-1] if logged else MISSING
        return MISSING if value is None else value
    if field.namespace == "run":
        return run["status"] if field.path == ("status",) else f"r{index}"
    series = "val" if field.phase == "val" else "loss"
    summary = kept.get((index, series))
    return MISSING if summary is None else summary[field.aggregate]


def kind_of(value: Any) -> tuple[int, Any]:
    """(0, number), (1, string), (2, None) for other values, (3, None) for missing ones."""
    if value is MISSING:
        return 3, None
    if is_number(value):
        return 0, float(value)
    if isinstance(value, str):
        return 1, value
    return 2, None


def equal(value: Any, literal: Any) -> bool:
    kind, plain = kind_of(value)
    if isinstance(literal, str):
        return kind == 1 and plain == literal
    return kind == 0 and not math.isnan(literal) and plain == float(literal)


def holds(condition: Condition, value_for: Any) -> bool | None:
    if isinstance(condition, Not):
        found = holds(condition.operand, value_for)
        return None if found is None else not found
    if isinstance(condition, And | Or):
        results = [holds(operand, value_for) for operand in condition.operands]
        decisive = isinstance(condition, Or)
        if decisive in results:
            return decisive
        return None if None in results else not decisive
    value = value_for(condition.field)
    if isinstance(condition, IsNull):
        return value is MISSING
    if value is MISSING:
        return None
    if isinstance(condition, In):
        return any(equal(value, literal) for literal in condition.values)
    kind, plain = kind_of(value)
    if isinstance(condition, Like):
        pattern = "".join(
            ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in condition.pattern
        )
        return kind == 1 and re.fullmatch(pattern, plain, re.DOTALL) is not None
    operator, literal = condition.operator, condition.value
    if operator in ("=", "!="):
        return equal(value, literal) == (operator == "=")
    if isinstance(literal, str):
        if kind != 1:
            return False
    elif kind != 0 or math.isnan(literal):
        return False
    else:
        literal = float(literal)
    return {
        "<": plain < literal,
        "<=": plain <= literal,
        ">": plain > literal,
        ">=": plain >= literal,
    }[operator]


def ordered(indexes: list[int], order: list[OrderKey], value_for: Any) -> list[int]:
    found = sorted(indexes)
    for key in reversed(order):

        def sort_key(index: int, field: Field = key.field) -> tuple[float, str]:
            kind, plain = kind_of(value_for(index, field))
            return (plain if kind == 0 else 0.0, plain if kind == 1 else "")

        found.sort(key=sort_key, reverse=key.descending)
        found.sort(key=lambda index, field=key.field: kind_of(value_for(index, field))[0])
    return found


# The test -----------------------------------------------------------------------------------
def fill(connection: mltracker.Connection, sweep: list[dict[str, Any]]) -> Any:
    experiment = connection.experiments.create(f"diff-{uuid.uuid4()}")
    model = experiment.models.create("net")
    for index, each in enumerate(sweep):
        params = dict(each["params"])
        if each["nested"] is not None:
            params["nested"] = each["nested"]
        run = model.runs.start(name=f"r{index}", params=params)
        for series, phase in (("loss", None), ("val", "val")):
            for step, value in enumerate(each[series] or []):
                run.metrics.log("loss", value, step=step * 2 - 3, phase=phase)
        if each["hidden"] is not None:
            model.modules.log("enc", {"h": each["hidden"]})
        run.finish(each["status"])
    return experiment


@settings(
    max_examples=int(os.environ.get("MLTRACKER_SEARCH_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sweep=runs, data=st.data())
def test_searches_select_and_order_as_pandas_does(
    connection: mltracker.Connection, sweep: list[dict[str, Any]], data: st.DataObject
) -> None:
    experiment = fill(connection, sweep)
    kept = summaries(sweep)
    for _ in range(15):
        condition = data.draw(conditions, label="where")
        order = data.draw(orders, label="order_by")
        where, order_by = condition_text(condition), order_text(order)

        selected = [
            index
            for index in range(len(sweep))
            if holds(condition, lambda field, i=index: value_of(sweep, i, field, kept)) is True
        ]
        wanted = ordered(selected, order, lambda index, field: value_of(sweep, index, field, kept))
        found = experiment.runs.search(where, order_by=order_by or None)

        assert [run.name for run in found] == [f"r{index}" for index in wanted], (
            where,
            order_by,
            sweep,
        )
