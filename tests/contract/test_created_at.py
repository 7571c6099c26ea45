"""``created_at`` on experiments, models, modules and iterations: seconds since the epoch,
the same in every snapshot; ``None`` for the modules and iterations of a store from before
schema version 3 (metric points have their ``timestamp``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

import mltracker
from mltracker.connect import close_all
from mltracker.ports.store import (
    ExperimentRecord,
    IterationRecord,
    ModelRecord,
    ModuleRecord,
)

from .rowcounts import execute


def is_recent(value: Any) -> bool:
    """A float of seconds since the epoch, of this day (not a duration: no timing involved)."""
    return type(value) is float and abs(value - time.time()) < 86400


def test_experiment_created_at_is_the_same_in_every_snapshot(
    connection: mltracker.Connection,
) -> None:
    name = f"e-{uuid.uuid4()}"
    created = connection.experiments.create(name)
    read = connection.experiments.read(name)
    listed = [e for e in connection.experiments.list() if e.name == name]
    again = connection.experiments.get_or_create(name)

    assert is_recent(created.created_at)
    assert read is not None
    assert [read.created_at, listed[0].created_at, again.created_at] == [created.created_at] * 3


def test_model_created_at_is_the_same_in_every_snapshot(connection: mltracker.Connection) -> None:
    experiment = connection.experiments.create(f"e-{uuid.uuid4()}")
    created = experiment.models.create("h")
    read = experiment.models.read("h")
    [listed] = experiment.models.list()

    assert is_recent(created.created_at)
    assert read is not None
    assert [read.created_at, listed.created_at] == [created.created_at] * 2


def test_module_and_iteration_created_at_are_the_same_in_every_snapshot(
    connection: mltracker.Connection,
) -> None:
    model = connection.experiments.create(f"e-{uuid.uuid4()}").models.create("h")
    module = model.modules.log("adam", {"lr": 0.1})
    iteration = model.iterations.create(3)
    inner = iteration.modules.log("sgd")

    assert all(is_recent(each.created_at) for each in (module, iteration, inner))
    assert [m.created_at for m in model.modules.list()] == [module.created_at]
    got = model.iterations.get(3)
    assert got is not None
    assert [got.created_at, model.iterations.list()[0].created_at] == [iteration.created_at] * 2
    assert [m.created_at for m in got.modules.list()] == [inner.created_at]


def test_created_at_does_not_change_equality(connection: mltracker.Connection) -> None:
    model = connection.experiments.create(f"e-{uuid.uuid4()}").models.create("h")
    module = model.modules.log("adam")

    assert model.modules.list() == [module]


def test_restored_modules_and_iterations_get_a_created_at(
    connection: mltracker.Connection,
) -> None:
    record = ExperimentRecord(
        uuid.uuid4(),
        f"restored-{uuid.uuid4()}",
        [
            ModelRecord(
                uuid.uuid4(),
                "h",
                None,
                None,
                0,
                [],
                [ModuleRecord(uuid.uuid4(), "adam", {})],
                [IterationRecord(uuid.uuid4(), 1, [ModuleRecord(uuid.uuid4(), "sgd", {})])],
            )
        ],
    )
    connection.store.restore([record])

    experiment = connection.experiments.read(record.name)
    assert experiment is not None
    [model] = experiment.models.list()
    [iteration] = model.iterations.list()
    assert is_recent(model.modules.list()[0].created_at)
    assert is_recent(iteration.created_at)
    assert is_recent(iteration.modules.list()[0].created_at)


@pytest.mark.sql_store
def test_store_of_version_2_is_upgraded_and_old_rows_have_no_created_at(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("h")
        model.modules.log("adam")
        model.iterations.create(1).modules.log("sgd")
    close_all()
    for table in ("iterations", "modules"):  # what a store of version 2 looks like
        execute(uri, f"ALTER TABLE {table} DROP COLUMN created_at")
    execute(uri, "UPDATE mltracker_schema SET version = 2")

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        model = experiment.models.read("h")  # type: ignore[assignment]
        new_module = model.modules.log("new")
        new_iteration = model.iterations.create(2)
        old_module, _ = model.modules.list()
        old_iteration, _ = model.iterations.list()

        assert (old_module.created_at, old_iteration.created_at) == (None, None)
        assert old_iteration.modules.list()[0].created_at is None
        assert is_recent(new_module.created_at)
        assert is_recent(new_iteration.created_at)
        assert is_recent(model.created_at)
