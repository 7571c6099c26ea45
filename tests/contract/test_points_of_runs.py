"""Each point read names the run that logged it, on every backend: in a list, in a budgeted
read (a series of each run thinned apart) and in the latest points of each run (what the
dashboard draws a line per run from)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

import mltracker
from mltracker import Model
from mltracker.ports.store import MetricFilter, Store

RATES = (0.1, 0.05, 0.01)


@pytest.fixture
def sweep(connection: mltracker.Connection) -> tuple[Model, list[uuid.UUID]]:
    """A model with three runs of "loss" (phases train and validation, 40 steps each)."""
    model = connection.experiments.create(f"e-{uuid.uuid4()}").models.create("sweep")
    ids = []
    for index, lr in enumerate(RATES):
        with model.runs.start(name=f"lr={lr}", params={"lr": lr}) as run:
            for step in range(40):
                run.metrics.log("loss", index + 1 / (step + 1), step=step, phase="train")
                run.metrics.log("loss", index + 2 / (step + 1), step=step, phase="validation")
            ids.append(run.id)
    connection.flush()
    return model, ids


def test_listed_points_name_their_run(
    connection: mltracker.Connection, sweep: tuple[Model, list[uuid.UUID]]
) -> None:
    model, ids = sweep
    store: Store = connection.store

    points = store.list_metrics(model.id, MetricFilter("loss"))

    assert Counter(point.run_id for point in points) == {run_id: 80 for run_id in ids}
    for index, run_id in enumerate(ids):
        values = [p.value for p in points if p.run_id == run_id and p.phase == "train"]
        assert values == [index + 1 / (step + 1) for step in range(40)]
    one = store.list_metrics(model.id, MetricFilter("loss", "train", run=ids[1]))
    assert {point.run_id for point in one} == {ids[1]}
    assert [point.run_id for point in model.metrics.list("loss", phase="train")] == [
        run_id for run_id in ids for _step in range(40)
    ]


def test_a_budgeted_read_thins_each_run_apart(
    connection: mltracker.Connection, sweep: tuple[Model, list[uuid.UUID]]
) -> None:
    model, ids = sweep
    store: Store = connection.store

    points = store.metric_buckets(model.id, MetricFilter("loss", "train"), 8)

    per_run = Counter(point.run_id for point in points)
    assert set(per_run) == set(ids)
    assert all(count <= 8 for count in per_run.values())
    for index, run_id in enumerate(ids):
        steps = [p.step for p in points if p.run_id == run_id]
        assert steps[0] == 0 and steps[-1] == 39  # each run's own first and last point
        assert max(p.value for p in points if p.run_id == run_id) == index + 1.0
    only = store.metric_buckets(model.id, MetricFilter("loss", "train", run=ids[2]), 8)
    assert {point.run_id for point in only} == {ids[2]}


def test_the_latest_points_of_each_run(
    connection: mltracker.Connection, sweep: tuple[Model, list[uuid.UUID]]
) -> None:
    model, ids = sweep
    store: Store = connection.store

    merged = store.latest_metrics(model.id)
    by_run = store.latest_metrics(model.id, by_run=True)
    of_models = store.latest_metrics_of_models([model.id], by_run=True)[model.id]

    assert [(p.phase, p.run_id, p.step) for p in merged] == [
        ("train", ids[2], 39),
        ("validation", ids[2], 39),
    ]
    expected = [(phase, run_id, 39) for run_id in ids for phase in ("train", "validation")]
    assert [(p.phase, p.run_id, p.step) for p in by_run] == expected
    assert [(p.phase, p.run_id, p.step) for p in of_models] == expected
    assert [p.value for p in by_run] == [index + k / 40 for index in range(3) for k in (1, 2)]


def test_points_of_no_run_read_as_such_beside_runs(connection: mltracker.Connection) -> None:
    """Points written without a run (as a writer that predates runs does) read with run
    ``None``, a series apart from the runs' series of the same name and phase."""
    from mltracker.ports.store import Series

    model = connection.experiments.create(f"e-{uuid.uuid4()}").models.create("mixed")
    with model.runs.start(name="one") as run:
        run.metrics.log("loss", 1.0, step=0)
    connection.flush()
    store: Store = connection.store
    bare = Series(model.id, "loss", None)
    store.write_points([(bare, 0, 0, 2.0, None, 1.0), (bare, 1, 0, 3.0, None, 2.0)], None)

    points = store.list_metrics(model.id, MetricFilter("loss"))
    latest = store.latest_metrics(model.id, by_run=True)

    assert [(p.value, p.run_id) for p in points] == [(1.0, run.id), (2.0, None), (3.0, None)]
    assert [(p.value, p.run_id) for p in latest] == [(1.0, run.id), (3.0, None)]
    assert [(p.value, p.run_id) for p in store.latest_metrics(model.id)] == [(3.0, None)]
