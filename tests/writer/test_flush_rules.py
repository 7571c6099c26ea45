"""When queued metric points reach the store: every flush trigger of SPEC §4."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from mltracker.entities import Model


def stored_points(path: str) -> int:
    """Count points with a connection of our own, which flushes nothing."""
    with closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("SELECT count(*) FROM metrics").fetchone()[0])


@pytest.fixture
def tracker(sqlite_uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(sqlite_uri) as connection:
        connection.writer.interval = 3600.0  # no background flush unless a test asks
        yield connection


@pytest.fixture
def model(tracker: mltracker.Connection) -> Model:
    return tracker.experiments.create("flush").models.create("m")  # type: ignore[return-value]


def log_points(model: Model, count: int = 10) -> None:
    for step in range(count):
        model.metrics.log("loss", step / 10, step=step)


def test_log_returns_before_anything_is_stored(model: Model, sqlite_uri: str) -> None:
    log_points(model)
    assert stored_points(sqlite_uri) == 0


TRIGGERS: list[tuple[str, Callable[[mltracker.Connection, Model], object]]] = [
    ("flush", lambda tracker, model: tracker.flush()),
    ("close", lambda tracker, model: tracker.close()),
    ("metrics.list", lambda tracker, model: model.metrics.list()),
    ("read step", lambda tracker, model: model.step),
    ("write step", lambda tracker, model: setattr(model, "step", 3)),
    ("modules.log", lambda tracker, model: model.modules.log("layer")),
    ("modules.list", lambda tracker, model: model.modules.list()),
    ("iterations.create", lambda tracker, model: model.iterations.create(1)),
    ("experiments.list", lambda tracker, model: tracker.experiments.list()),
    ("experiments.create", lambda tracker, model: tracker.experiments.create("other")),
    ("models.create", lambda tracker, model: tracker.experiments.list()[0].models.create("x")),
]


@pytest.mark.parametrize("trigger", [pytest.param(action, id=name) for name, action in TRIGGERS])
def test_flush_happens_before_each_trigger_returns(
    tracker: mltracker.Connection,
    model: Model,
    sqlite_uri: str,
    trigger: Callable[[mltracker.Connection, Model], object],
) -> None:
    log_points(model)
    trigger(tracker, model)
    assert stored_points(sqlite_uri) == 10


def test_flush_on_leaving_with_block(sqlite_uri: str) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        tracker.writer.interval = 3600.0
        model = tracker.experiments.create("e").models.create("m")
        log_points(model, 25)
        assert stored_points(sqlite_uri) == 0
    assert stored_points(sqlite_uri) == 25


def test_background_flush_within_the_interval(
    tracker: mltracker.Connection, model: Model, sqlite_uri: str
) -> None:
    tracker.writer.interval = 0.05
    log_points(model, 5)
    deadline = time.monotonic() + 30  # a bound for a stuck writer, not a timing assertion
    while stored_points(sqlite_uri) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stored_points(sqlite_uri) == 5


def test_synchronous_write_sees_a_prefix_of_logged_points(
    tracker: mltracker.Connection, model: Model, sqlite_uri: str
) -> None:
    for step in range(50):
        model.metrics.log("loss", float(step), step=step)
        if step % 10 == 9:
            model.modules.log(f"checkpoint-{step}")
            with closing(sqlite3.connect(sqlite_uri)) as connection:
                steps = [
                    row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")
                ]
            assert steps == list(range(step + 1))


def test_backpressure_bounds_the_queue(
    tracker: mltracker.Connection, model: Model, sqlite_uri: str
) -> None:
    tracker.writer.max_pending = 100
    high_water = 0
    for step in range(1_000):
        model.metrics.log("loss", float(step), step=step)
        high_water = max(high_water, tracker.writer.pending)
    assert high_water < 100
    assert stored_points(sqlite_uri) >= 900


def test_flush_with_nothing_queued_is_a_no_op(
    tracker: mltracker.Connection, sqlite_uri: str
) -> None:
    tracker.flush()
    tracker.flush()
    assert not Path(sqlite_uri).exists()  # nothing was written: not even the store was created


def test_points_keep_their_order_across_batches(
    tracker: mltracker.Connection, model: Model
) -> None:
    tracker.writer.batch_size = 7
    tracker.writer.max_pending = 30
    log_points(model, 200)
    assert [point.step for point in model.metrics.list("loss")] == list(range(200))


def test_points_of_a_deleted_model_are_reported(
    tracker: mltracker.Connection, sqlite_uri: str
) -> None:
    experiment = tracker.experiments.create("e")
    kept = experiment.models.create("kept")
    doomed = experiment.models.create("doomed")
    doomed.metrics.log("loss", 1.0)
    tracker.flush()
    experiment.models.delete(doomed.id)
    doomed.metrics.log("loss", 2.0)
    kept.metrics.log("loss", 3.0)
    with pytest.raises(mltracker.NotFoundError, match="deleted models"):
        tracker.flush()
    assert [point.value for point in kept.metrics.list()] == [3.0]
    assert stored_points(sqlite_uri) == 1


def test_unlogged_store_file_is_untouched_by_exit(tmp_path: Path) -> None:
    # Opening and closing without logging writes nothing: no store is created.
    path = str(tmp_path / "empty.db")
    mltracker.connect(path).close()
    assert not Path(path).exists()
