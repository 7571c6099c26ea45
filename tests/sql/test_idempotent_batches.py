"""A metric batch carries an id: writing it again (a retry after a lost acknowledgement, or
a client that resends) stores nothing twice."""

from __future__ import annotations

import time
import uuid

import mltracker
from mltracker.ports.store import Point, Series
from mltracker.values import FLOAT


def points(model_id: uuid.UUID, count: int) -> list[Point]:
    series = Series(model_id, "loss", "train")
    return [(series, step, FLOAT, step * 0.5, None, time.time()) for step in range(count)]


def test_a_batch_written_twice_is_stored_once(tracker: mltracker.Connection) -> None:
    model = tracker.experiments.create("e").models.create("m")
    batch = points(model.id, 100)
    batch_id = uuid.uuid4()
    tracker.store.write_points(batch, batch_id)
    tracker.store.write_points(batch, batch_id)
    assert [p.step for p in model.metrics.list()] == list(range(100))


def test_batches_of_other_ids_are_all_stored(tracker: mltracker.Connection) -> None:
    model = tracker.experiments.create("e").models.create("m")
    tracker.store.write_points(points(model.id, 10), uuid.uuid4())
    tracker.store.write_points(points(model.id, 10), uuid.uuid4())
    tracker.store.write_points(points(model.id, 10))  # no id: no check
    assert len(model.metrics.list()) == 30


def test_the_writer_of_each_batch_is_kept_and_listed_newest_first(
    tracker: mltracker.Connection,
) -> None:
    model = tracker.experiments.create("e").models.create("m")
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    tracker.store.write_points(points(model.id, 2), first, writer="alice")
    tracker.store.write_points(points(model.id, 2), second)
    tracker.store.write_points(points(model.id, 2), third, writer="bob")
    tracker.store.write_points(points(model.id, 2), writer="bob")  # no id: kept under a new one
    tracker.store.write_points(points(model.id, 2), first, writer="mallory")  # a repeat: skipped
    batches = tracker.store.list_batches()
    assert [batch.writer for batch in batches] == ["bob", "bob", None, "alice"]
    assert [batch.id for batch in batches[1:]] == [third, second, first]
    assert batches[0].id not in (first, second, third)
    assert all(isinstance(batch.written_at, float) for batch in batches)
    assert [batch.id for batch in tracker.store.list_batches(writer="alice")] == [first]
    assert tracker.store.list_batches(writer="mallory") == []
    assert len(tracker.store.list_batches(limit=1)) == 1
    assert len(model.metrics.list()) == 8
