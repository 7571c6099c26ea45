"""``mltracker.codec``: entities as documents in strict JSON, and metric values read back by
their kind."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import mltracker
from mltracker import InvalidArgumentError
from mltracker.codec import (
    KINDS,
    dumps,
    experiment_document,
    iso_time,
    iteration_document,
    json_safe,
    metric_document,
    metric_value,
    model_document,
    module_document,
    value_kind,
)

#: Metric values and their kinds; each comes back exactly from its document.
VALUES = [
    pytest.param(math.nan, "float", id="nan"),
    pytest.param(math.inf, "float", id="inf"),
    pytest.param(-math.inf, "float", id="-inf"),
    pytest.param(-0.0, "float", id="-0.0"),
    pytest.param(1e300, "float", id="huge-float"),
    pytest.param(5e-324, "float", id="subnormal"),
    pytest.param(2**63 - 1, "int", id="int64-max"),
    pytest.param(-(2**63), "int", id="int64-min"),
    pytest.param(2**53 + 1, "int", id="beyond-float"),
    pytest.param(2**100, "int", id="big-int"),
    pytest.param(True, "bool", id="true"),
    pytest.param(False, "bool", id="false"),
    pytest.param("NaN", "str", id="str-NaN"),
    pytest.param("-Infinity", "str", id="str-minus-infinity"),
    pytest.param("é ✓ \x01", "str", id="str-unicode"),
    pytest.param([1, [2.5, {"a": None}], "x"], "json", id="json-list"),
    pytest.param({"k": {"deep": [True, None, -1]}}, "json", id="json-object"),
    pytest.param(None, "json", id="json-null"),
]


def same(left: Any, right: Any) -> bool:
    """Equal with the same type, NaN equal to NaN and -0.0 apart from 0.0."""
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    return type(left) is type(right) and left == right


@pytest.mark.parametrize(("value", "kind"), VALUES)
def test_value_round_trips_through_strict_json_with_its_kind(value: Any, kind: str) -> None:
    text = dumps({"kind": value_kind(value), "value": value})
    parsed = json.loads(text, parse_constant=pytest.fail)  # no NaN/Infinity tokens

    assert parsed["kind"] == kind
    assert same(metric_value(parsed["kind"], parsed["value"]), value)


def test_dumps_writes_non_finite_floats_as_tokens_at_any_depth() -> None:
    document = {"a": [math.nan, {"b": (math.inf, -math.inf)}], "c": 1.5}

    assert dumps(document, indent=None) == (
        '{"a": ["NaN", {"b": ["Infinity", "-Infinity"]}], "c": 1.5}'
    )


def test_json_safe_writes_uuids_datetimes_and_keys_as_text() -> None:
    key = uuid.UUID(int=7)
    moment = datetime(2024, 5, 1, 12, tzinfo=UTC)

    assert json_safe({key: [moment], 3: key}) == {
        str(key): ["2024-05-01T12:00:00+00:00"],
        "3": str(key),
    }


def test_dumps_keeps_non_ascii_text_and_indents_by_default() -> None:
    assert dumps({"name": "é"}) == '{\n  "name": "é"\n}'


def test_dumps_refuses_what_is_not_json() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_nested_non_finite_float_comes_back_as_its_token() -> None:
    parsed = json.loads(dumps([1.0, math.nan]))

    assert metric_value("json", parsed) == [1.0, "NaN"]


def test_float_kind_reads_an_integral_number_as_a_float() -> None:
    assert same(metric_value("float", 2), 2.0)


@pytest.mark.parametrize(
    ("kind", "value", "match"),
    [
        pytest.param("complex", 1, "unknown value kind 'complex'", id="unknown-kind"),
        pytest.param("float", "nan", "not a value of kind float", id="float-other-text"),
        pytest.param("float", True, "not a value of kind float", id="float-bool"),
        pytest.param("int", 1.0, "not a value of kind int", id="int-float"),
        pytest.param("int", False, "not a value of kind int", id="int-bool"),
        pytest.param("bool", 1, "not a value of kind bool", id="bool-int"),
        pytest.param("str", None, "not a value of kind str", id="str-null"),
    ],
)
def test_metric_value_refuses_a_value_that_is_not_of_its_kind(
    kind: str, value: Any, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        metric_value(kind, value)


def test_every_kind_is_named() -> None:
    assert {value_kind(param.values[0]) for param in VALUES} == set(KINDS)


def test_iso_time_is_utc_to_the_microsecond() -> None:
    assert iso_time(1714564800.25) == "2024-05-01T12:00:00.250000+00:00"


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[mltracker.Connection]:
    with mltracker.connect(tmp_path / "store.db") as connection:
        yield connection


def test_documents_of_stored_entities(tracker: mltracker.Connection) -> None:
    experiment = tracker.experiments.create("mnist")
    model = experiment.models.create("abc", name="mlp", description="two layers")
    model.step += 3
    model.modules.log("linear", {"in": 3, "nan": math.nan})
    iteration = model.iterations.create(2)
    iteration.modules.log("sgd", {"lr": 0.1})
    model.metrics.log("loss", math.inf, step=1, phase="train")
    metric = model.metrics.list()[0]
    module = model.modules.list()[0]
    optimizer = iteration.modules.list()[0]

    assert experiment_document(experiment) == {"id": experiment.id, "name": "mnist"}
    assert model_document(model) == {
        "id": model.id,
        "hash": "abc",
        "name": "mlp",
        "description": "two layers",
        "step": 3,
    }
    assert metric_document(metric) == {
        "name": "loss",
        "phase": "train",
        "step": 1,
        "kind": "float",
        "value": math.inf,
        "timestamp": iso_time(metric.timestamp),
    }
    assert json.loads(dumps(module_document(module))) == {
        "id": str(module.id),
        "name": "linear",
        "attributes": {"in": 3, "nan": "NaN"},
    }
    assert iteration_document(iteration) == {
        "id": iteration.id,
        "step": 2,
        "modules": [{"id": optimizer.id, "name": "sgd", "attributes": {"lr": 0.1}}],
    }


def test_model_document_of_a_listed_row_has_the_same_keys(
    tracker: mltracker.Connection,
) -> None:
    experiment = tracker.experiments.create("mnist")
    model = experiment.models.create("abc")
    model.step = 5
    (row,) = tracker.store.list_models(experiment.id)

    assert model_document(row) == model_document(model)
    assert list(model_document(row)) == ["id", "hash", "name", "description", "step"]
