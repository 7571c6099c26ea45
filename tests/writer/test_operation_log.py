"""The writer's log of operations besides metric points: every kind survives a spool file as it
was made, in order with the points; a line of a kind this version does not know is set aside
and the others are written; a queued write that the store refuses when it is back is set
aside (or, its model gone, reported) and the writes after it go on."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import mltracker
from mltracker import operations
from mltracker.backends.sql import engine as engines
from mltracker.operations import (
    IF_CHANGED,
    IF_EMPTY,
    AddStep,
    BeatRun,
    CreateIteration,
    EndRun,
    GetExperiment,
    GetModel,
    IdMap,
    LogModule,
    LogModulesIf,
    Operation,
    ResumeRun,
    StartRun,
    WriteStep,
)
from mltracker.ports.store import ModuleOwner, RunStart, Series
from mltracker.spool import Spool, store_key


def _fields(operation: Operation) -> dict[str, object]:
    return {"kind": operation.kind, "id": operation.id, **operation.arguments(IdMap())}


MODEL_ID, EXPERIMENT_ID = uuid.uuid4(), uuid.uuid4()
KINDS = [
    pytest.param(GetExperiment(uuid.uuid4(), "ex\u00e9 \U0001f600"), id="experiment.get"),
    pytest.param(GetModel(uuid.uuid4(), EXPERIMENT_ID, "h", None, "d\nx"), id="model.get"),
    pytest.param(WriteStep(uuid.uuid4(), MODEL_ID, -(2**63)), id="step.write"),
    pytest.param(AddStep(uuid.uuid4(), MODEL_ID, 2**63 - 1), id="step.add"),
    pytest.param(
        LogModule(uuid.uuid4(), ModuleOwner("iteration", uuid.uuid4()), "m", '{"a": NaN}'),
        id="module.log",
    ),
    pytest.param(CreateIteration(uuid.uuid4(), MODEL_ID, 7), id="iteration.create"),
    pytest.param(
        CreateIteration(uuid.uuid4(), MODEL_ID, 8, uuid.uuid4()), id="iteration.create-run"
    ),
    pytest.param(
        LogModule(uuid.uuid4(), ModuleOwner("run", uuid.uuid4()), "opt", '{"lr": 0.1}'),
        id="module.log-run",
    ),
    pytest.param(
        StartRun(
            RunStart(uuid.uuid4(), MODEL_ID, "lr=0.1", '{"lr": 0.1}', '{"host": "h"}', 1.5, 60.0)
        ),
        id="run.start",
    ),
    pytest.param(
        StartRun(RunStart(uuid.uuid4(), MODEL_ID, None, "{}", "{}", 0.1, None)),
        id="run.start-bare",
    ),
    pytest.param(ResumeRun(uuid.uuid4(), uuid.uuid4(), 2.25, 30.0), id="run.resume"),
    pytest.param(BeatRun(uuid.uuid4(), uuid.uuid4(), 1e9 + 0.1), id="run.beat"),
    pytest.param(EndRun(uuid.uuid4(), uuid.uuid4(), "killed", "SIGTERM", 1e9 + 0.3), id="run.end"),
    pytest.param(
        LogModulesIf(
            uuid.uuid4(), ModuleOwner("model", MODEL_ID), IF_EMPTY, [("a", "{}"), ("b", "[1]")]
        ),
        id="modules.log_if-empty",
    ),
    pytest.param(
        LogModulesIf(uuid.uuid4(), ModuleOwner("iteration", MODEL_ID), IF_CHANGED, [("c", "{}")]),
        id="modules.log_if-changed",
    ),
]


def test_every_kind_is_registered_with_its_name() -> None:
    assert sorted(operations.KINDS) == sorted({p.values[0].kind for p in KINDS})
    with pytest.raises(ValueError, match="registered already"):
        operations.kind("step.add")(AddStep)


@pytest.mark.parametrize("operation", KINDS)
def test_every_kind_comes_back_from_a_spool_file_as_it_was_made(operation: Operation) -> None:
    point = (Series(MODEL_ID, "loss", None), 3, 0, 0.5, None, 1.0)
    batch = uuid.uuid4()
    spool = Spool.create("store", "sqlite:///x.db")
    spool.append([(batch, [point]), (operation.id, operation), (uuid.uuid4(), [point])])
    assert (spool.points, spool.operations) == (2, 1)
    spool.release()

    [again] = Spool.orphans("store")
    entries = []
    while (front := again.peek()) is not None:
        (entry_id, entry), end = front
        entries.append((entry_id, entry))
        again.advance(end, *operations.entry_size(entry))
    again.release()
    kinds = [type(entry).__name__ for _, entry in entries]
    assert kinds == ["list", type(operation).__name__, "list"]
    assert entries[0][0] == batch
    (entry_id, decoded) = entries[1]
    assert entry_id == operation.id
    assert isinstance(decoded, Operation) and _fields(decoded) == _fields(operation)


def _store_with_model(uri: str) -> tuple[uuid.UUID, uuid.UUID]:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        iteration = model.iterations.create(1)
        return model.id, iteration.id


def test_a_line_of_an_unknown_kind_is_set_aside_and_the_others_are_written(
    sqlite_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    model_id, _ = _store_with_model(sqlite_uri)
    with mltracker.connect(sqlite_uri) as tracker:
        store_id, uri = tracker.store.store_id(), tracker.store.uri
    spool = Spool.create(store_id, uri)
    spool.append([(uuid.uuid4(), AddStep(uuid.uuid4(), model_id, 2))])
    unknown = {"batch": uuid.uuid4().hex, "op": "run.heartbeat", "args": {"run": "r"}}
    with spool.path.open("ab") as file:  # a line written by a newer MLTracker
        file.write(json.dumps(unknown).encode() + b"\n")
    spool.append([(uuid.uuid4(), AddStep(uuid.uuid4(), model_id, 3))])
    spool.release()

    assert (
        subprocess.run(
            [sys.executable, "-m", "mltracker", "--uri", sqlite_uri, "sync"],
            capture_output=True,
            timeout=120,
            check=False,
        ).returncode
        == 0
    )
    with mltracker.connect(sqlite_uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None and model.step == 5
    rejected = spool.path.with_suffix(".rejected").read_text()
    assert "unknown operation kind 'run.heartbeat'" in rejected
    assert store_key(store_id) in spool.path.name


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "RETRY_SECONDS", 0.2)
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 50)


def test_a_queued_write_refused_when_the_store_is_back_is_set_aside_and_the_rest_goes_on(
    impatient: None, sqlite_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    model_id, iteration_id = _store_with_model(sqlite_uri)
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    tracker = mltracker.connect(sqlite_uri)
    writer = tracker.writer
    writer.interval = 3600.0
    # The id of an iteration that exists at another step: the store refuses it for good.
    assert not writer.submit(CreateIteration(iteration_id, model_id, 2))
    assert not writer.submit(LogModule(uuid.uuid4(), ModuleOwner("model", model_id), "x", "{}"))
    blocker.execute("ROLLBACK")
    blocker.close()

    tracker.flush()
    assert writer.pending == 0
    err = capfd.readouterr().err
    assert f"iteration at step 2 of model {model_id}: it was refused by the store" in err, err
    refused = list((Path.cwd() / "spool").glob("*.refused"))
    assert len(refused) == 1
    assert json.loads(refused[0].read_text().splitlines()[1])["op"] == "iteration.create"
    experiment = tracker.experiments.read("e")
    assert experiment is not None
    model = experiment.models.read("m")
    assert model is not None
    assert [m.name for m in model.modules.list()] == ["x"]
    assert [i.step for i in model.iterations.list()] == [1]
    tracker.close()


def test_a_queued_write_whose_model_was_deleted_meanwhile_is_reported_and_the_rest_goes_on(
    impatient: None, sqlite_uri: str
) -> None:
    model_id, _ = _store_with_model(sqlite_uri)
    with mltracker.connect(sqlite_uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        other = experiment.models.create("other")
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    tracker = mltracker.connect(sqlite_uri)
    tracker.writer.interval = 3600.0
    experiment = tracker.experiments.read("e")  # a locked SQLite store still reads
    assert experiment is not None
    model, other_model = experiment.models.read("m"), experiment.models.read("other")
    assert model is not None and other_model is not None
    model.step += 1  # cannot be written: queued from here on
    model.modules.log("lost")
    other_model.modules.log("kept")
    blocker.execute("ROLLBACK")
    blocker.close()
    deleted = "import mltracker, sys, uuid\n" + (
        "t = mltracker.connect(sys.argv[1]); e = t.experiments.read('e'); "
        "e.models.delete(uuid.UUID(sys.argv[2])); t.close()"
    )
    done = subprocess.run(
        [sys.executable, "-c", deleted, sqlite_uri, str(model_id)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    reports = []
    while True:  # one report per write dropped, each by a flush; the rest is written
        try:
            tracker.flush()
            break
        except mltracker.NotFoundError as error:
            reports.append(str(error))
    run = tracker._session.runs.slot(model_id).current
    assert run is not None  # the module went into the process's run of the model
    assert [report.split(":")[0] for report in reports] == [
        f"the write of step += 1 of model {model_id} was dropped",
        f"the write of module 'lost' of run {run.id} was dropped",
    ]
    assert tracker.writer.pending == 0
    assert [m.name for m in other_model.modules.list()] == ["kept"]
    assert other.id == other_model.id
    tracker.close()
