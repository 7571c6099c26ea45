"""Exports and ``--json`` keep what a value is: a ``kind`` next to each value, strict JSON."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pytest

import mltracker

from .helpers import invoke, parse_json

BIG = 4611686018427387905  # 2**62 + 1: no float64 holds it
VALUES: list[tuple[Any, str]] = [
    (1.0, "float"),
    (1, "int"),
    (True, "bool"),
    (math.nan, "float"),
    ("NaN", "str"),
    (BIG, "int"),
    (-0.0, "float"),
    ({"x": math.inf, "y": [1, "a"]}, "json"),
    ([1, 2], "json"),
]


@pytest.fixture
def store(uri: str) -> str:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("kinds").models.create("h")
        for step, (value, _kind) in enumerate(VALUES):
            model.metrics.log("m", value, step=step)
    return uri


def test_csv_has_kind_and_exact_values(store: str) -> None:
    result = invoke("--uri", store, "export", "kinds", "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["kind"], row["value"]) for row in rows] == [
        ("float", "1.0"),
        ("int", "1"),
        ("bool", "true"),
        ("float", "nan"),
        ("str", "NaN"),
        ("int", str(BIG)),
        ("float", "-0.0"),
        ("json", '{"x": "Infinity", "y": [1, "a"]}'),
        ("json", "[1, 2]"),
    ]


def test_jsonl_is_strict_and_has_kind(store: str) -> None:
    result = invoke("--uri", store, "export", "kinds", "--format", "jsonl")

    points = [parse_json(line) for line in result.stdout.splitlines()]
    assert [(point["kind"], point["value"]) for point in points] == [
        ("float", 1.0),
        ("int", 1),
        ("bool", True),
        ("float", "NaN"),
        ("str", "NaN"),
        ("int", BIG),
        ("float", -0.0),
        ("json", {"x": "Infinity", "y": [1, "a"]}),
        ("json", [1, 2]),
    ]
    assert type(points[1]["value"]) is int and type(points[0]["value"]) is float


def test_parquet_keeps_kind_and_exact_text(store: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    target = tmp_path / "points.parquet"
    assert invoke("--uri", store, "export", "kinds", "-o", str(target)).exit_code == 0

    rows = pq.read_table(target).to_pylist()
    assert [(row["kind"], row["value_text"]) for row in rows] == [
        ("float", None),
        ("int", None),
        ("bool", None),
        ("float", None),
        ("str", "NaN"),
        ("int", str(BIG)),
        ("float", None),
        ("json", '{"x": "Infinity", "y": [1, "a"]}'),
        ("json", "[1, 2]"),
    ]
    assert int(rows[5]["value_text"]) == BIG
    assert rows[2]["value"] == 1.0 and math.isnan(rows[3]["value"])
    assert rows[4]["value"] is None
    assert math.copysign(1.0, rows[6]["value"]) == -1.0


def test_metrics_list_json_has_kind(store: str) -> None:
    result = invoke("--uri", store, "--json", "metrics", "list", "kinds", "h")

    points = parse_json(result.stdout)
    assert [point["kind"] for point in points] == [kind for _value, kind in VALUES]
    assert [point["value"] for point in points][3:5] == ["NaN", "NaN"]


def test_imported_int_beyond_int64_is_exported_exactly(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "original" / "quirks.json"
    store = str(tmp_path / "store.db")
    invoke("--uri", store, "import", str(data))

    result = invoke("--uri", store, "export", "quirks", "floats", "--format", "jsonl")

    points = [parse_json(line) for line in result.stdout.splitlines()]
    assert [(p["kind"], p["value"]) for p in points if p["name"] == "big"] == [
        ("int", 2**70),
        ("int", -(2**64) - 1),
    ]
