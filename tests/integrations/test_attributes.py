"""``to_attributes``: hyper-parameters and configs of any kind as JSON module attributes."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
from pathlib import Path
from typing import Any

import pytest

from mltracker.integrations.attributes import MAX_ARRAY_ELEMENTS, to_attributes, to_json


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Settings:
    lr: float
    layers: tuple[int, ...]


class Config:
    def to_dict(self) -> dict[str, Any]:
        return {"hidden": 16}


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


def test_to_attributes_of_plain_and_nested_values() -> None:
    assert to_attributes(
        {
            "lr": 0.1,
            "layers": (8, 8),
            "tags": {"b", "a"},
            "path": Path("/data"),
            "color": Color.RED,
            "loss": math.inf,
            "nested": {1: None},
        }
    ) == {
        "lr": 0.1,
        "layers": [8, 8],
        "tags": ["a", "b"],
        "path": "/data",
        "color": "red",
        "loss": math.inf,
        "nested": {"1": None},
    }


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(argparse.Namespace(lr=0.1), {"lr": 0.1}, id="namespace"),
        pytest.param(Settings(0.1, (2,)), {"lr": 0.1, "layers": [2]}, id="dataclass"),
        pytest.param(Config(), {"hidden": 16}, id="to-dict"),
        pytest.param(3, {"value": 3}, id="not-a-mapping"),
        pytest.param({"f": Opaque()}, {"f": "Opaque()"}, id="repr"),
        pytest.param({"f": json.dumps}, {"f": "json.dumps"}, id="function"),
        pytest.param({"f": Path}, {"f": "pathlib.Path"}, id="class"),
        pytest.param({"f": int}, {"f": "int"}, id="builtin-class"),
    ],
)
def test_to_attributes_of_containers(settings: object, expected: dict[str, Any]) -> None:
    assert to_attributes(settings) == expected


def test_numpy_values_and_arrays() -> None:
    numpy = pytest.importorskip("numpy")
    assert to_json(numpy.float32(0.5)) == 0.5
    assert type(to_json(numpy.int64(3))) is int
    assert to_json(numpy.bool_(True)) is True
    assert to_json(numpy.arange(3)) == [0, 1, 2]
    big = to_json(numpy.zeros((MAX_ARRAY_ELEMENTS + 1,)))
    assert big == f"ndarray(shape=[{MAX_ARRAY_ELEMENTS + 1}], dtype=float64)"


def test_deep_nesting_ends_in_a_repr() -> None:
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep]
    assert isinstance(json.dumps(to_json(deep)), str)
