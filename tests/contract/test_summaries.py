"""The summary of each series of a run, on every backend (over HTTP too): kept as points are
written, the same as one computed from the points, after removes, clears, imports and
concurrent writers."""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

import pytest

import mltracker
from mltracker import Experiment
from mltracker.entities import Summary
from mltracker.errors import InvalidArgumentError
from mltracker.ports.store import (
    ExperimentRecord,
    MetricFilter,
    MetricRecord,
    ModelRecord,
    RunRecord,
    Series,
)
from mltracker.values import encode_value

_NUMBERS = (int, float, bool)


def expected(values: list[Any], steps: list[int | None]) -> dict[str, Any]:
    """A summary computed from the points, as the README defines it."""
    numbers = [
        (float(value), step)
        for value, step in zip(values, steps, strict=True)
        if isinstance(value, _NUMBERS) and not (isinstance(value, float) and math.isnan(value))
    ]
    low = min(numbers, key=lambda pair: pair[0]) if numbers else (None, None)
    high = max(numbers, key=lambda pair: pair[0]) if numbers else (None, None)
    return {
        "count": len(values),
        "nan_count": sum(1 for v in values if isinstance(v, float) and math.isnan(v)),
        "first": values[0],
        "last": values[-1],
        "first_step": steps[0],
        "last_step": steps[-1],
        "min": low[0],
        "max": high[0],
        "argmin": low[1],
        "argmax": high[1],
    }


def fields(summary: Summary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    found = {key: getattr(summary, key) for key in expected([0.0], [0])}
    for key in ("first", "last"):  # NaN != NaN: compare a marker
        if isinstance(found[key], float) and math.isnan(found[key]):
            found[key] = "<nan>"
    return found


def same(values: list[Any], steps: list[int | None]) -> dict[str, Any]:
    return fields(Summary(None, "", None, **expected(values, steps)))  # type: ignore[return-value]


def test_a_summary_of_every_kind_of_value(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("mixed")
    logged: list[Any] = [3.0, 1, float("nan"), True, "text", {"a": [1]}, -2.5, -2.5, 7, "end"]
    steps = list(range(10, 20))
    with model.runs.start(name="mixed") as run:
        for value, step in zip(logged, steps, strict=True):
            run.metrics.log("loss", value, step=step, phase="validation")

    summary = run.summary("loss", phase="validation")

    assert summary is not None
    assert fields(summary) == same(logged, steps)
    assert (summary.min, summary.argmin, summary.max, summary.argmax) == (-2.5, 16, 7.0, 18)
    assert (summary.run_id, summary.name, summary.phase) == (run.id, "loss", "validation")
    assert run.summary("loss") is None  # no point without a phase
    assert run.summary("other", phase="validation") is None


def test_ties_go_to_the_first_point_and_batches_combine(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    model = experiment.models.get_or_create("ties")
    run = model.runs.start(name="ties")
    logged = [2.0, 1.0, 5.0, 1.0, 5.0, 0.5, 9.0, 0.5]
    for step, value in enumerate(logged):
        run.metrics.log("loss", value, step=step)
        connection.flush()  # one batch per point
    run.finish()

    summary = run.summary("loss")

    assert summary is not None
    assert fields(summary) == same(logged, list(range(8)))
    assert (summary.argmin, summary.argmax) == (5, 6)


def test_a_series_without_numbers_has_no_min(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("words")
    with model.runs.start() as run:
        run.metrics.log("note", "a", step=1)
        run.metrics.log("note", float("nan"), step=2)

    summary = run.summary("note")

    assert summary is not None
    assert (summary.count, summary.nan_count, summary.first) == (2, 1, "a")
    assert math.isnan(summary.last)
    assert (summary.min, summary.max, summary.argmin, summary.argmax) == (None,) * 4


def test_points_without_steps_and_infinities(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("inf")
    with model.runs.start() as run:
        for value in (1.0, float("inf"), float("-inf"), 2**60):
            run.metrics.log("x", value)

    summary = run.summary("x")

    assert summary is not None
    assert (summary.min, summary.max) == (-math.inf, math.inf)
    assert (summary.argmin, summary.first_step, summary.last) == (None, None, 2**60)


def test_the_summary_without_a_name_is_the_last_values(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("last")
    with model.runs.start() as run:
        run.metrics.log("loss", 1.0, step=0)
        run.metrics.log("loss", 0.5, step=1)
        run.metrics.log("acc", 0.9, step=1, phase="validation")

    assert run.summary() == {"loss": 0.5, "validation/acc": 0.9}
    with pytest.raises(InvalidArgumentError):
        run.summary(phase="validation")  # type: ignore[call-overload]


def test_removing_a_point_rebuilds_its_summary(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("remove")
    with model.runs.start() as run:
        for step, value in enumerate([3.0, 0.1, 2.0, 4.0]):
            run.metrics.log("loss", value, step=step)

    points = model.metrics.list("loss")
    model.metrics.remove(points[1])  # the minimum
    model.metrics.remove(points[3])  # the last

    assert fields(run.summary("loss")) == same([3.0, 2.0], [0, 2])


def test_clearing_the_points_leaves_no_summary_and_new_points_start_one(
    experiment: Experiment,
) -> None:
    model = experiment.models.get_or_create("clear")
    with model.runs.start() as run:
        run.metrics.log("loss", 1.0, step=0)
    model.metrics.clear()

    assert run.summary("loss") is None

    with model.runs.start(resume=run) as again:
        again.metrics.log("loss", 5.0, step=7)

    assert fields(run.summary("loss")) == same([5.0], [7])


def test_an_import_summarises_what_it_wrote(connection: mltracker.Connection) -> None:
    run_id = uuid.uuid4()
    values: list[Any] = [0.5, float("nan"), 0.25, "x"]
    record = ExperimentRecord(
        uuid.uuid4(),
        f"imported-{uuid.uuid4()}",
        [
            ModelRecord(
                uuid.uuid4(),
                "h",
                None,
                None,
                0,
                [
                    MetricRecord("loss", value, step, "train", 100.0 + step, uuid.uuid4(), run_id)
                    for step, value in enumerate(values)
                ],
                [],
                [],
                [RunRecord(run_id, "imported", "finished", 90.0, ended_at=150.0)],
            )
        ],
    )
    connection.store.restore([record])
    experiment = connection.experiments.read(record.name)
    assert experiment is not None
    (run,) = experiment.runs.list()

    assert fields(run.summary("loss", phase="train")) == same(values, [0, 1, 2, 3])

    connection.store.restore([record])  # again: nothing changes

    assert fields(run.summary("loss", phase="train")) == same(values, [0, 1, 2, 3])


def test_reading_summaries_of_runs_that_are_not_there(connection: mltracker.Connection) -> None:
    assert connection.store.read_summaries([uuid.uuid4()]) == []
    assert connection.store.read_summaries([]) == []


@pytest.mark.sql_store
def test_concurrent_writers_of_one_series_keep_a_right_summary(shared_uri: str) -> None:
    with mltracker.connect(shared_uri) as tracker:
        model = tracker.experiments.create(f"e-{uuid.uuid4()}").models.create("racing")
        run = model.runs.start(name="shared")
        run.metrics.log("warmup", 0.0)
        tracker.flush()
        model_id, run_id = model.id, run.id
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            store = mltracker.connect(shared_uri).store
            entry = Series(model_id, "loss", None, run_id)
            for batch in range(20):
                points = [
                    (entry, batch * 100 + i, *encoded(float((worker * 7 + batch * 3 + i) % 11)))
                    for i in range(5)
                ]
                store.write_points(points, None)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    with mltracker.connect(shared_uri) as tracker:
        points = tracker.store.list_metrics(model_id, MetricFilter())
        loss = [point for point in points if point.name == "loss"]
        (summary,) = [s for s in tracker.store.read_summaries([run_id]) if s.name == "loss"]

    assert fields(summary) == same([p.value for p in loss], [p.step for p in loss])


def encoded(value: float) -> tuple[Any, ...]:
    return (*encode_value(value), 1.0)


def test_a_rewind_summarises_the_points_that_stay(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("rewound")
    with model.runs.start(name="first") as run:
        for step, value in enumerate([5.0, 4.0, 3.0, 0.5, 0.25]):
            run.metrics.log("loss", value, step=step)

    before = run.summary("loss")
    assert before is not None and (before.min, before.count) == (0.25, 5)

    with model.runs.start(resume=run, rewind=3) as again:
        again.metrics.log("loss", 2.0, step=3)

    assert fields(run.summary("loss")) == same([5.0, 4.0, 3.0, 2.0], [0, 1, 2, 3])
    assert [found.name for found in experiment.runs.search("metrics.loss.min = 2")] == ["first"]
