"""``wire.encoded_size``: at least the real size of a batch's body, and at most twice it."""

from __future__ import annotations

import json
import math
import random
from uuid import UUID, uuid4

import orjson
import pytest

from mltracker import values, wire
from mltracker.ports.store import Point, Series


def _points(logged: list[tuple[Series, int | None, object]]) -> list[Point]:
    start = 1_733_400_000.0
    points: list[Point] = []
    for index, (series, step, value) in enumerate(logged):
        kind, number, text = values.encode_value(value)
        points.append((series, step, kind, number, text, start + index * 0.0137))
    return points


def _json_value(rng: random.Random) -> dict[str, object]:
    """A JSON metric value of about 3 KB: text with quotes, accents and newlines."""
    return {
        f"key {i}": [f'"q{i}" é\n\\ {rng.random()}', rng.randint(-(10**9), 10**9), None]
        for i in range(60)
    }


_model = uuid4()
_loss = Series(_model, "loss", None)
_other = Series(_model, 'accuracy "top-1"', "validation")
_rng = random.Random(7)
BATCHES = [
    pytest.param(_points([(_loss, s, _rng.random()) for s in range(5_000)]), id="floats"),
    pytest.param(_points([(_loss, s % 7, s % 3) for s in range(5_000)]), id="small ints"),
    pytest.param(_points([(_loss, 0, 0.5)] * 2_000), id="short floats"),
    pytest.param(_points([(_loss, s, _json_value(_rng)) for s in range(300)]), id="json 3 KB"),
    pytest.param(
        _points([(_loss, None, "text\x01\x1f\u2028 ünïcode 😀 " * 40) for _ in range(300)]),
        id="strings with control characters",
    ),
    pytest.param(
        _points(
            [
                (_loss if s % 2 else _other, -(2**63) + s, v)
                for s, v in enumerate(
                    [math.nan, math.inf, -math.inf, -0.0, 2**63 - 1, True, False, 5e-324] * 200
                )
            ]
        ),
        id="exact values and two series",
    ),
    pytest.param(
        _points(
            [(Series(uuid4(), f"metric {i}", f"phase {i}"), i, float(i)) for i in range(1_000)]
        ),
        id="a series per point",
    ),
    pytest.param([], id="empty"),
]


@pytest.mark.parametrize("points", BATCHES)
def test_encoded_size_is_at_least_the_body_and_at_most_twice_it(points: list[Point]) -> None:
    body = orjson.dumps(wire.points_document(points, uuid4()))
    estimate = wire.encoded_size(points)
    assert len(body) <= estimate <= 2 * len(body), (len(body), estimate)
    assert json.loads(body)  # the body measured is the one sent


def test_point_size_bounds_a_point_in_any_batch() -> None:
    points = _points([(_loss, s, _rng.random()) for s in range(100)])
    empty = wire.encoded_size([])
    assert empty == len(orjson.dumps(wire.points_document([], UUID(int=0))))
    by_point = empty + wire.series_size(_loss) + sum(map(wire.point_size, points))
    assert wire.encoded_size(points) <= by_point <= 2 * wire.encoded_size(points)
