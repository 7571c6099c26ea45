"""``Store.restore`` with runs, on every backend (over HTTP too): a model's runs come with
their ids, times, params, context and exit, and each point, module and iteration with its
run; restoring again changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest

import mltracker
from mltracker import wire
from mltracker.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from mltracker.ports.store import (
    ExperimentRecord,
    IterationRecord,
    MetricRecord,
    ModelRecord,
    ModuleRecord,
    RunRecord,
)

CONTEXT = {"host": "gpu-1", "pid": 7, "command": ["train.py"], "git": None, "environment": {}}


def tree(name: str) -> ExperimentRecord:
    """An experiment with a model of two runs ("a": finished, "b": running), a point of no
    run, a module of each run and an iteration of run "b" with a module."""
    a, b = uuid.uuid4(), uuid.uuid4()
    return ExperimentRecord(
        uuid.uuid4(),
        name,
        [
            ModelRecord(
                uuid.uuid4(),
                "h",
                "mlp",
                None,
                3,
                [
                    MetricRecord("loss", 0.5, 1, "train", 100.0, uuid.uuid4(), a),
                    MetricRecord("loss", float("nan"), 2, "train", 101.0, uuid.uuid4(), a),
                    MetricRecord("loss", 0.25, 1, "train", 200.0, uuid.uuid4(), b),
                    MetricRecord("note", "no run", None, None, 50.0, uuid.uuid4()),
                ],
                [
                    ModuleRecord(uuid.uuid4(), "encoder", {"units": 8}, a),
                    ModuleRecord(uuid.uuid4(), "decoder", {"units": 4}, b),
                ],
                [IterationRecord(uuid.uuid4(), 1, [ModuleRecord(uuid.uuid4(), "sgd", {})], b)],
                [
                    RunRecord(
                        a,
                        "first",
                        "failed",
                        90.0,
                        ended_at=150.0,
                        heartbeat_at=150.0,
                        timeout=60.0,
                        params={"lr": 0.1, "layers": [64, 64]},
                        context=CONTEXT,
                        exit="ValueError: diverged",
                    ),
                    RunRecord(b, None, "running", 190.0, heartbeat_at=210.0),
                ],
            )
        ],
    )


def model_of(connection: mltracker.Connection, record: ExperimentRecord) -> Any:
    experiment = connection.experiments.read(record.name)
    assert experiment is not None
    model = experiment.models.read("h")
    assert model is not None
    return model


def test_runs_come_with_their_fields_and_what_belongs_to_each(
    connection: mltracker.Connection,
) -> None:
    record = tree(f"e-{uuid.uuid4()}")
    [model_record] = record.models
    a, b = (run.id for run in model_record.runs)

    report = connection.store.restore([record])

    assert report.added["runs"] == 2
    model = model_of(connection, record)
    first, second = model.runs.list()
    assert (first.id, first.name, first.status, first.exit) == (
        a,
        "first",
        "failed",
        "ValueError: diverged",
    )
    assert (first.started_at, first.ended_at, first.heartbeat_at) == (90.0, 150.0, 150.0)
    assert first.params == {"lr": 0.1, "layers": [64, 64]}
    assert (first.host, first.pid, first.command) == ("gpu-1", 7, ["train.py"])
    assert (second.id, second.name, second.started_at, second.ended_at) == (b, None, 190.0, None)
    # Without a heartbeat since 210 s after the epoch and no timeout, it reads as running.
    assert second.status == "running"
    points = model.metrics.list()
    assert [(p.id, p.run_id) for p in points] == [
        (point.id, point.run) for point in model_record.metrics
    ]
    assert [p.value for p in first.metrics.list()][0] == 0.5
    assert [p.value for p in second.metrics.list()] == [0.25]
    assert [m.name for m in first.modules.list()] == ["encoder"]
    assert [m.name for m in second.modules.list()] == ["decoder"]
    assert [m.name for m in model.modules.list()] == ["encoder", "decoder"]
    assert [i.step for i in first.iterations.list()] == []
    [iteration] = second.iterations.list()
    assert [m.name for m in iteration.modules.list()] == ["sgd"]


def test_restoring_twice_changes_nothing(connection: mltracker.Connection) -> None:
    record = tree(f"e-{uuid.uuid4()}")
    first = connection.store.restore([record])
    model = model_of(connection, record)
    before = [(p.id, p.run_id, p.timestamp) for p in model.metrics.list()]
    runs_before = [(r.id, r.status, r.started_at, r.ended_at) for r in model.runs.list()]

    again = connection.store.restore([record])

    assert sum(again.added.values()) == sum(again.updated.values()) == 0
    assert again.skipped == first.added
    assert [(p.id, p.run_id, p.timestamp) for p in model.metrics.list()] == before
    assert [(r.id, r.status, r.started_at, r.ended_at) for r in model.runs.list()] == runs_before


def test_a_run_there_takes_the_records_status_and_keeps_its_times(
    connection: mltracker.Connection,
) -> None:
    record = tree(f"e-{uuid.uuid4()}")
    connection.store.restore([record])
    [model_record] = record.models
    running = model_record.runs[1]
    ended = replace(
        running,
        name="second",
        status="finished",
        started_at=500.0,
        ended_at=600.0,
        heartbeat_at=600.0,
        params={"epochs": 3},
    )

    report = connection.store.restore(
        [replace(record, models=[replace(model_record, runs=[model_record.runs[0], ended])])]
    )

    assert (report.updated["runs"], report.skipped["runs"]) == (1, 1)
    run = model_of(connection, record).runs.read(running.id)
    assert (run.name, run.status, run.params) == ("second", "finished", {"epochs": 3})
    # Its start stays; the end it lacked is taken; the later heartbeat.
    assert (run.started_at, run.ended_at, run.heartbeat_at) == (190.0, 600.0, 600.0)


def test_a_row_of_a_run_its_model_does_not_have_is_refused_and_nothing_is_added(
    connection: mltracker.Connection,
) -> None:
    record = tree(f"e-{uuid.uuid4()}")
    [model_record] = record.models
    stray = UUID("00000000-0000-4000-8000-0000000000ff")
    points = [*model_record.metrics, MetricRecord("loss", 1.0, 9, None, 1.0, None, stray)]
    bad = replace(record, models=[replace(model_record, metrics=points)])

    with pytest.raises(NotFoundError, match=f"run {stray}"):
        connection.store.restore([bad])

    assert connection.experiments.read(record.name) is None


def test_a_run_of_another_model_is_refused(connection: mltracker.Connection) -> None:
    record = tree(f"e-{uuid.uuid4()}")
    connection.store.restore([record])
    [model_record] = record.models
    other = ModelRecord(uuid.uuid4(), "other", None, None, 0, [], [], [], [model_record.runs[0]])

    with pytest.raises(AlreadyExistsError, match="of another model"):
        connection.store.restore([replace(record, models=[model_record, other])])

    experiment = connection.experiments.read(record.name)
    assert experiment is not None
    assert [m.hash for m in experiment.models.list()] == ["h"]


def test_records_travel_the_wire_with_their_runs() -> None:
    record = tree("wire")
    [model] = record.models
    run = replace(model.runs[0], params={"nan": float("nan"), "inf": float("inf")})
    record = replace(record, models=[replace(model, runs=[run, model.runs[1]])])

    [back] = wire.records_from_document(wire.records_document([record]))

    assert repr(back) == repr(record)  # NaN compared as text


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param({"status": "crashed"}, "run status must be one of", id="status"),
        pytest.param({"started_at": "noon"}, "run start must be a float", id="start"),
        pytest.param({"params_json": "[1]"}, "params_json must be a dict", id="params"),
        pytest.param({"id": "x"}, "run id must be a UUID", id="id"),
    ],
)
def test_a_run_record_the_library_would_not_take_is_refused(
    change: dict[str, Any], fragment: str
) -> None:
    document = wire.records_document([tree("wire")])
    run = document[0]["models"][0]["runs"][0]
    run.update(change)

    with pytest.raises(InvalidArgumentError, match=fragment):
        wire.records_from_document(document)


def test_records_of_a_client_before_runs_have_none() -> None:
    document = wire.records_document([tree("wire")])
    model = document[0]["models"][0]
    del model["runs"]
    for point in model["metrics"]:
        del point["run"]

    [back] = wire.records_from_document(document)

    assert back.models[0].runs == []
    assert {point.run for point in back.models[0].metrics} == {None}
