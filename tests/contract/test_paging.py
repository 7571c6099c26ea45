"""Paging through a model's points: ``list(after=..., limit=...)`` and ``iterate()``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import mltracker
from mltracker import InvalidArgumentError, InvalidTypeError, Model


@pytest.fixture
def model(connection: mltracker.Connection) -> Model:
    model = connection.experiments.create(f"e-{uuid.uuid4()}").models.create("h")
    for step in range(10):
        model.metrics.log("loss", step / 10, step=step, phase="train")
        if step % 3 == 0:
            model.metrics.log("acc", step, step=step)
    return model


def _values(points: list[Any]) -> list[tuple[str, Any]]:
    return [(point.name, point.value) for point in points]


def test_list_with_limit_returns_the_first_points(model: Model) -> None:
    assert _values(model.metrics.list(limit=3)) == [("loss", 0.0), ("acc", 0), ("loss", 0.1)]


def test_list_after_a_point_continues_after_it(model: Model) -> None:
    everything = model.metrics.list()
    page = model.metrics.list(limit=5)

    rest = model.metrics.list(after=page[-1])

    assert page + rest == everything


def test_pages_of_a_filtered_list_cover_it_once(model: Model) -> None:
    pages: list[Any] = []
    after = None
    while True:
        page = model.metrics.list("loss", phase="train", start_step=2, after=after, limit=3)
        if not page:
            break
        pages.extend(page)
        after = page[-1]

    assert pages == model.metrics.list("loss", phase="train", start_step=2)
    assert [point.step for point in pages] == list(range(2, 10))


def test_list_after_the_last_point_returns_nothing_until_more_is_logged(model: Model) -> None:
    last = model.metrics.list()[-1]
    assert model.metrics.list(after=last) == []

    model.metrics.log("loss", 5.0, step=10, phase="train")

    assert _values(model.metrics.list(after=last)) == [("loss", 5.0)]


def test_list_with_limit_zero_returns_an_empty_list(model: Model) -> None:
    assert model.metrics.list(limit=0) == []


@pytest.mark.parametrize("page_size", [1, 3, 4, 14, 100])
def test_iterate_yields_what_list_returns(model: Model, page_size: int) -> None:
    assert list(model.metrics.iterate(page_size=page_size)) == model.metrics.list()


def test_iterate_filters_like_list(model: Model) -> None:
    found = list(model.metrics.iterate("acc", start_step=3, page_size=1))

    assert _values(found) == [("acc", 3), ("acc", 6), ("acc", 9)]


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        pytest.param({"limit": -1}, InvalidArgumentError, "limit", id="negative-limit"),
        pytest.param({"limit": 2.5}, InvalidTypeError, "limit", id="float-limit"),
        pytest.param({"after": 3}, InvalidTypeError, "after", id="after-an-int"),
    ],
)
def test_list_refuses_bad_paging_arguments(
    model: Model, arguments: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        model.metrics.list(**arguments)


def test_iterate_refuses_a_page_size_below_one(model: Model) -> None:
    with pytest.raises(InvalidArgumentError, match="page_size"):
        next(model.metrics.iterate(page_size=0))
