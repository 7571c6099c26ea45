"""A run resumed from an earlier checkpoint rewinds, on every backend: its points from the
checkpoint's step on are superseded (kept, marked, left out of reads unless asked for), once
per resumption, and the points it logs from then on are its values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import mltracker
from mltracker import Experiment, Model
from mltracker.errors import InvalidArgumentError, NotFoundError
from mltracker.export import export_rows
from mltracker.ports.store import (
    ExperimentRecord,
    MetricFilter,
    MetricRecord,
    ModelRecord,
    Rewind,
    RunRecord,
    Store,
)


def _crashed_run(model: Model, steps: int = 10, name: str = "loss") -> mltracker.Run:
    """A run that logged ``steps`` points (the value is the step) and ended."""
    with model.runs.start(name="first") as run:
        for step in range(steps):
            run.metrics.log(name, float(step), step=step)
    return run


def _curve(points: list[Any]) -> list[tuple[int | None, Any]]:
    return [(point.step, point.value) for point in points]


def test_a_resume_with_rewind_supersedes_the_points_from_that_step_on(
    experiment: Experiment,
) -> None:
    model = experiment.models.get_or_create("rewound")
    run = _crashed_run(model)
    with model.runs.start(resume=run, rewind=6) as again:
        for step in range(6, 8):
            again.metrics.log("loss", 100.0 + step, step=step)

    expected = [(step, float(step)) for step in range(6)] + [(6, 106.0), (7, 107.0)]
    assert _curve(model.metrics.list("loss")) == expected
    assert _curve(run.metrics.list("loss")) == expected
    assert _curve(model.metrics.list("loss", run=run)) == expected
    assert not any(point.superseded for point in model.metrics.list())
    assert _curve(model.metrics.list("loss", start_step=5, limit=2)) == [(5, 5.0), (6, 106.0)]
    assert _curve(list(model.metrics.iterate("loss", page_size=3))) == expected
    assert _curve(model.metrics.latest()) == [(7, 107.0)]
    assert _curve(run.metrics.latest()) == [(7, 107.0)]
    assert run.reload().summary() == {"loss": 107.0}
    assert model.runs.read(run.id).status == "finished"  # type: ignore[union-attr]


def test_superseded_points_are_read_when_asked_for_in_logged_order_and_marked(
    experiment: Experiment,
) -> None:
    model = experiment.models.get_or_create("asked")
    run = _crashed_run(model, steps=5)
    with model.runs.start(resume=run, rewind=3) as again:
        again.metrics.log("loss", 33.0, step=3)

    every = model.metrics.list("loss", superseded=True)
    assert [(p.step, p.value, p.superseded) for p in every] == [
        (0, 0.0, False),
        (1, 1.0, False),
        (2, 2.0, False),
        (3, 3.0, True),
        (4, 4.0, True),
        (3, 33.0, False),
    ]
    assert len({point.ordinal for point in every}) == len(every)  # never an ordinal twice
    assert len({point.id for point in every}) == len(every)
    assert all(point.run_id == run.id for point in every)
    assert [p.superseded for p in run.metrics.list("loss", superseded=True)] == [
        p.superseded for p in every
    ]
    # Paged like any read.
    first = model.metrics.list("loss", superseded=True, limit=4)
    rest = model.metrics.list("loss", superseded=True, after=first[-1])
    assert first + rest == every
    assert [p.step for p in model.metrics.list("loss", superseded=True, start_step=3)] == [3, 4, 3]


def test_other_runs_and_points_without_a_step_are_not_superseded(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("others")
    with model.runs.start(name="other") as other:
        for step in range(10):
            other.metrics.log("loss", -float(step), step=step)
    run = _crashed_run(model)
    with model.runs.start(resume=run, rewind=2):
        pass
    with model.runs.start(name="later") as later:
        later.metrics.log("note", "no step")

    assert _curve(run.metrics.list("loss")) == [(0, 0.0), (1, 1.0)]
    assert len(other.metrics.list("loss")) == 10
    assert [p.value for p in later.metrics.list("note")] == ["no step"]


def test_points_without_a_step_stay_when_their_run_rewinds(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("stepless")
    with model.runs.start() as run:
        run.metrics.log("lr", 0.1)
        run.metrics.log("loss", 1.0, step=5)
    with model.runs.start(resume=run, rewind=0):
        pass

    assert _curve(model.metrics.list()) == [(None, 0.1)]
    assert _curve(model.metrics.list(superseded=True)) == [(None, 0.1), (5, 1.0)]


def test_latest_after_a_rewind_is_the_latest_point_not_superseded(
    experiment: Experiment, connection: mltracker.Connection
) -> None:
    model = experiment.models.get_or_create("latest")
    run = _crashed_run(model)
    with model.runs.start(resume=run, rewind=4):
        pass  # a resumption that crashed again before it logged

    assert _curve(model.metrics.latest()) == [(3, 3.0)]
    assert _curve(run.metrics.latest()) == [(3, 3.0)]
    store: Store = connection.store
    assert _curve(store.latest_metrics(model.id, by_run=True)) == [(3, 3.0)]
    assert _curve(store.latest_metrics_of_models([model.id])[model.id]) == [(3, 3.0)]


def test_budgeted_and_columnar_reads_leave_superseded_points_out(
    experiment: Experiment, connection: mltracker.Connection
) -> None:
    model = experiment.models.get_or_create("budgets")
    run = _crashed_run(model, steps=50)
    with model.runs.start(resume=run, rewind=20) as again:
        again.metrics.log("loss", 1000.0, step=20)

    store: Store = connection.store
    thinned = store.metric_buckets(model.id, MetricFilter("loss"), 5)
    assert all(point.value != 49.0 for point in thinned)
    assert max(point.value for point in thinned) == 1000.0
    columns = store.metric_columns(model.id, MetricFilter("loss"))
    assert columns.step == list(range(21))
    rows = list(export_rows(experiment, [model]))
    assert [row.step for row in rows] == list(range(21))


def test_a_retried_resumption_supersedes_nothing_logged_after_the_first(
    experiment: Experiment, connection: mltracker.Connection
) -> None:
    model = experiment.models.get_or_create("retried")
    run = _crashed_run(model, steps=6)
    store: Store = connection.store
    rewind = Rewind(uuid.uuid4(), 2)
    store.resume_run(run.id, 1_000.0, None, rewind)
    with model.runs.start(resume=run) as again:  # the new values of steps 2 and 3
        again.metrics.log("loss", 20.0, step=2)
        again.metrics.log("loss", 30.0, step=3)
    store.resume_run(run.id, 1_000.0, None, rewind)  # the same resumption again: a replay

    assert _curve(model.metrics.list("loss")) == [(0, 0.0), (1, 1.0), (2, 20.0), (3, 30.0)]
    superseded = [p.step for p in model.metrics.list("loss", superseded=True) if p.superseded]
    assert superseded == [2, 3, 4, 5]
    # Another resumption rewinds again.
    store.resume_run(run.id, 1_001.0, None, Rewind(uuid.uuid4(), 3))
    assert _curve(model.metrics.list("loss")) == [(0, 0.0), (1, 1.0), (2, 20.0)]


def test_a_rewind_since_a_time_supersedes_only_the_points_logged_after_it(
    experiment: Experiment, connection: mltracker.Connection
) -> None:
    model = experiment.models.get_or_create("since")
    with model.runs.start() as run:
        run.metrics.log("val", 0.5, step=4, timestamp=100.0)  # before the checkpoint
        run.metrics.log("loss", 4.0, step=4, timestamp=102.0)  # after it
    store: Store = connection.store
    store.resume_run(run.id, 200.0, None, Rewind(uuid.uuid4(), 4, since=101.0))

    assert _curve(model.metrics.list()) == [(4, 0.5)]


def test_a_rewind_of_the_last_run_by_name_and_by_id(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("by-id")
    run = _crashed_run(model, steps=4)
    with model.runs.start(resume="last", rewind=3):
        pass
    with model.runs.start(resume=str(run.id), rewind=2):
        pass

    assert _curve(model.metrics.list()) == [(0, 0.0), (1, 1.0)]
    assert len(model.metrics.list(superseded=True)) == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rewind": -1}, "at least 0"),
        ({"rewind": 2**63}, "int64"),
        ({"rewind": "3"}, "rewind must be an int"),
        ({"rewind": 2.0}, "rewind must be an int"),
        ({"rewind": True}, "rewind must be an int"),
        ({"rewind": 3, "resume": None}, "with resume"),
    ],
)
def test_bad_rewinds_are_refused_at_the_call_and_change_nothing(
    experiment: Experiment, arguments: dict[str, Any], message: str
) -> None:
    model = experiment.models.get_or_create(f"bad-{uuid.uuid4().hex[:6]}")
    run = _crashed_run(model, steps=3)
    given = {"resume": run, **arguments}
    with pytest.raises(InvalidArgumentError, match=message):
        model.runs.start(**given)

    assert _curve(model.metrics.list(superseded=True)) == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert [found.status for found in model.runs.list()] == ["finished"]
    with pytest.raises(InvalidArgumentError, match="superseded must be a bool"):
        model.metrics.list(superseded="yes")  # type: ignore[arg-type]


def test_a_rewind_of_a_run_that_is_not_there_is_not_found(
    experiment: Experiment, connection: mltracker.Connection
) -> None:
    store: Store = connection.store
    with pytest.raises(NotFoundError):
        store.resume_run(uuid.uuid4(), 1.0, None, Rewind(uuid.uuid4(), 0))


def test_clearing_and_deleting_take_superseded_points_along(
    experiment: Experiment, connection: mltracker.Connection
) -> None:
    model = experiment.models.get_or_create("cleared")
    run = _crashed_run(model, steps=4)
    with model.runs.start(resume=run, rewind=1):
        pass
    model.metrics.clear()
    assert model.metrics.list(superseded=True) == []

    second = experiment.models.get_or_create("deleted")
    run = _crashed_run(second, steps=4)
    with second.runs.start(resume=run, rewind=1):
        pass
    store: Store = connection.store
    experiment.models.delete(second.id)
    assert store.list_metrics(second.id, MetricFilter(superseded=True)) == []


def test_arrow_and_pandas_reads_leave_superseded_points_out(experiment: Experiment) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    model = experiment.models.get_or_create("arrow")
    run = _crashed_run(model, steps=8)
    with model.runs.start(resume=run, rewind=5) as again:
        again.metrics.log("loss", 55.0, step=5)

    table = model.metrics.to_arrow("loss")
    assert table.column("step").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert table.column("value").to_pylist()[-1] == 55.0
    assert model.metrics.to_pandas("loss")["step"].tolist() == [0, 1, 2, 3, 4, 5]


def test_a_restore_keeps_superseded_points_as_they_are(
    connection: mltracker.Connection,
) -> None:
    run_id = uuid.uuid4()
    name = f"restored-{uuid.uuid4()}"
    records = [
        MetricRecord("loss", float(step), step, None, 1_000.0 + step, uuid.uuid4(), run_id)
        for step in range(5)
    ]
    model = ModelRecord(
        uuid.uuid4(),
        "h",
        None,
        None,
        None,
        records,
        [],
        [],
        [RunRecord(run_id, "imported", "finished", 1_000.0, 1_010.0)],
    )
    tree = [ExperimentRecord(uuid.uuid4(), name, [model])]
    store: Store = connection.store
    store.restore(tree)
    store.resume_run(run_id, 2_000.0, None, Rewind(uuid.uuid4(), 3))
    before = store.list_metrics(model.id, MetricFilter(superseded=True))

    report = store.restore(tree)  # again: the superseded points stay superseded

    assert report.skipped["metrics"] == 5 and not report.added.get("metrics")
    after = store.list_metrics(model.id, MetricFilter(superseded=True))
    assert [(p.id, p.step, p.superseded) for p in after] == [
        (p.id, p.step, p.superseded) for p in before
    ]
    assert [p.superseded for p in after] == [False, False, False, True, True]
    assert [p.id for p in after] == [record.id for record in records]
