"""A store older than runs (version 6, no ``runs`` table), only read: its points read as
points of no run, and a read of a run's points finds none, without upgrading it."""

from __future__ import annotations

import uuid

from contract.rowcounts import execute

import mltracker
from mltracker.connect import close_all
from mltracker.ports.store import MetricFilter, Series, Store
from sql.test_reading_never_writes import raw_version


def test_points_of_a_store_older_than_runs_read_as_of_no_run(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("m")
        store: Store = tracker.store
        train, plain = Series(model.id, "loss", "train"), Series(model.id, "lr", None)
        store.write_points(
            [(train, step, 0, 1.0 / (step + 1), None, float(step)) for step in range(20)]
            + [(plain, 0, 0, 0.1, None, 20.0)]
        )
    close_all()
    cascade = "" if uri.endswith(".db") else " CASCADE"
    execute(uri, f"DROP TABLE runs{cascade}")
    execute(uri, "UPDATE mltracker_schema SET version = 6")

    with mltracker.connect(uri) as tracker:
        store = tracker.store
        listed = store.list_metrics(model.id, MetricFilter())
        thinned = store.metric_buckets(model.id, MetricFilter("loss"), 8)
        latest = store.latest_metrics(model.id, by_run=True)
        of_a_run = store.list_metrics(model.id, MetricFilter(run=uuid.uuid4()))
        latest_of_a_run = store.latest_metrics(model.id, run_id=uuid.uuid4())

    assert len(listed) == 21 and {point.run_id for point in listed} == {None}
    assert len(thinned) <= 8 and {point.run_id for point in thinned} == {None}
    assert [(p.name, p.run_id) for p in latest] == [("loss", None), ("lr", None)]
    assert of_a_run == [] and latest_of_a_run == []
    assert raw_version(uri) == 6
