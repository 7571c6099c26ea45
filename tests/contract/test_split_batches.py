"""A batch split from another (``part_of``) is skipped when the store wrote the batch it
came from, and stored otherwise: the writer's halves after a lost answer never duplicate."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
import urllib3

import mltracker
from mltracker import Experiment, wire
from mltracker.ports.store import Point, Series
from mltracker.values import FLOAT


def _points(model_id: uuid.UUID, steps: range) -> list[Point]:
    series = Series(model_id, "loss", "train")
    return [(series, step, FLOAT, step * 0.5, None, time.time()) for step in steps]


def test_halves_of_a_written_batch_are_skipped(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    model = experiment.models.create("m")
    whole = uuid.uuid4()
    connection.store.write_points(_points(model.id, range(10)), whole)
    first, second = uuid.uuid4(), uuid.uuid4()
    connection.store.write_points(_points(model.id, range(5)), first, part_of=[whole])
    connection.store.write_points(_points(model.id, range(5, 10)), second, part_of=[whole])
    assert [point.step for point in model.metrics.list("loss")] == list(range(10))


def test_a_quarter_is_skipped_when_its_grandparent_was_written(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    model = experiment.models.create("m")
    whole, half = uuid.uuid4(), uuid.uuid4()
    connection.store.write_points(_points(model.id, range(8)), whole)
    quarter = _points(model.id, range(2))
    connection.store.write_points(quarter, uuid.uuid4(), part_of=[whole, half])
    assert len(model.metrics.list("loss")) == 8


def test_parts_of_a_batch_never_written_are_stored_once_each(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    model = experiment.models.create("m")
    whole, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for _ in range(2):  # a retry of each half
        connection.store.write_points(_points(model.id, range(5)), first, part_of=[whole])
        connection.store.write_points(_points(model.id, range(5, 10)), second, part_of=[whole])
    assert [point.step for point in model.metrics.list("loss")] == list(range(10))


def test_part_of_that_is_not_a_list_of_ids_is_refused_and_nothing_stored(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    """A body whose ``part_of`` is not a list of batch ids: 422, nothing of it stored."""
    if not connection.uri.startswith("http"):
        pytest.skip("a body sent to a server")
    model = experiment.models.create("m")
    for part_of in (["not an id"], "a text", [str(uuid.uuid4())] * 65):
        document = wire.points_document(_points(model.id, range(2)), uuid.uuid4())
        document["part_of"] = part_of
        answer = urllib3.request(
            "POST",
            connection.uri + "/api/v1/points",
            body=orjson.dumps(document),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status == 422, answer.data
        assert b"part_of" in answer.data
    assert model.metrics.list("loss") == []
