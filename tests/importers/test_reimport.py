"""Importing a file again: the store is made to match the file for the ids it imports.

``growing-1.json`` and ``growing-2.json`` were written by the original mltracker 0.4.0: the
second is the first after more training (more points, a later step, a new name and
description, a new module, iteration and model; see make_fixtures.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import mltracker
from mltracker.importers.original import import_original
from mltracker.ports.models import Model

DATA = Path(__file__).resolve().parents[1] / "data" / "original"
FIRST = DATA / "growing-1.json"
SECOND = DATA / "growing-2.json"


def tables(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


SOURCE = tables(SECOND)
EXPERIMENT_ID = SOURCE["/experiments"]["1"]["id"]
MODEL_ID = SOURCE[f"/experiments/{EXPERIMENT_ID}/models"]["1"]["id"]
POINT_IDS = [UUID(doc["id"]) for doc in SOURCE[f"/models/{MODEL_ID}/metrics"].values()]


def run(tracker: mltracker.Connection) -> Model:
    experiment = tracker.experiments.read("growing")
    assert experiment is not None
    model = experiment.models.read("run")
    assert model is not None
    return model


def test_second_import_of_an_extended_file_brings_it_all(tracker: mltracker.Connection) -> None:
    import_original(tracker, FIRST)

    result = import_original(tracker, SECOND)

    model = run(tracker)
    assert (model.name, model.description, model.step) == ("final", "trained to step 5", 5)
    assert [(p.id, p.step) for p in model.metrics.list()] == list(
        zip(POINT_IDS, range(1, 6), strict=True)
    )
    assert [m.name for m in model.modules.list()] == ["linear", "dropout"]
    assert [i.step for i in model.iterations.list()] == [1, 4]
    assert [m.attributes for m in model.iterations.get(4).modules.list()] == [{"lr": 0.01}]  # type: ignore[union-attr]
    report = result.report
    assert report.added == {"models": 1, "metrics": 3, "modules": 2, "iterations": 1, "runs": 1}
    assert report.updated == {"models": 1}
    assert report.skipped == {
        "experiments": 1,
        "metrics": 3,
        "modules": 2,
        "iterations": 1,
        "runs": 1,  # it keeps the times of the first import, as the points do
    }


def test_importing_the_same_file_again_changes_nothing(tracker: mltracker.Connection) -> None:
    import_original(tracker, SECOND)
    before = [(p.id, p.step, p.value, p.timestamp) for p in run(tracker).metrics.list()]

    result = import_original(tracker, SECOND)

    assert sum(result.report.added.values()) == 0
    assert sum(result.report.updated.values()) == 0
    assert [(p.id, p.step, p.value, p.timestamp) for p in run(tracker).metrics.list()] == before


def test_point_removed_from_the_store_comes_back_in_its_place(
    tracker: mltracker.Connection,
) -> None:
    import_original(tracker, SECOND)
    model = run(tracker)
    stamps = {p.id: p.timestamp for p in model.metrics.list()}
    model.metrics.remove(model.metrics.list()[1])

    result = import_original(tracker, SECOND)

    points = run(tracker).metrics.list()
    assert [p.id for p in points] == POINT_IDS
    assert [p.step for p in points] == [1, 2, 3, 4, 5]
    assert {p.id: p.timestamp for p in points} == stamps
    assert result.report.added == {"metrics": 1}
    assert result.report.updated == {"metrics": 3}


def test_points_logged_into_an_imported_model_are_kept(tracker: mltracker.Connection) -> None:
    import_original(tracker, FIRST)
    run(tracker).metrics.log("loss", 0.9, step=100, phase="train")
    tracker.flush()

    import_original(tracker, SECOND)

    points = run(tracker).metrics.list()
    assert [p.step for p in points] == [1, 2, 3, 100, 4, 5]
    assert [p.id for p in points if p.step != 100] == POINT_IDS


def test_values_changed_in_the_file_are_taken(
    tracker: mltracker.Connection, tmp_path: Path
) -> None:
    import_original(tracker, SECOND)
    edited = tables(SECOND)
    edited[f"/models/{MODEL_ID}/metrics"]["2"]["value"] = float("nan")
    edited[f"/models/{MODEL_ID}/metrics"]["4"]["step"] = 40
    path = tmp_path / "db.json"
    path.write_text(json.dumps(edited))

    result = import_original(tracker, path)

    points = run(tracker).metrics.list()
    assert [p.id for p in points] == POINT_IDS
    assert [p.step for p in points] == [1, 2, 3, 40, 5]
    assert points[1].value != points[1].value
    assert result.report.updated == {"metrics": 4}


def test_model_renamed_in_the_store_takes_the_file_name_again(
    tracker: mltracker.Connection,
) -> None:
    import_original(tracker, SECOND)
    experiment = tracker.experiments.read("growing")
    assert experiment is not None
    experiment.models.update("run", name="mine")
    run(tracker).step = 99

    import_original(tracker, SECOND)

    model = run(tracker)
    assert (model.name, model.step) == ("final", 5)


def test_module_and_iteration_removed_from_the_store_come_back_in_order(
    tracker: mltracker.Connection,
) -> None:
    import_original(tracker, SECOND)
    model = run(tracker)
    model.modules.remove(model.modules.list()[0])
    first, _ = model.iterations.list()
    model.iterations.remove(first)

    import_original(tracker, SECOND)

    model = run(tracker)
    assert [m.name for m in model.modules.list()] == ["linear", "dropout"]
    assert [i.step for i in model.iterations.list()] == [1, 4]
    assert [m.attributes for m in model.iterations.get(1).modules.list()] == [{"lr": 0.1}]  # type: ignore[union-attr]


def test_iteration_moved_back_into_place_keeps_modules_logged_into_it(
    tracker: mltracker.Connection,
) -> None:
    import_original(tracker, SECOND)
    model = run(tracker)
    first, later = model.iterations.list()
    later.modules.log("scheduler", {"gamma": 0.5})
    model.iterations.remove(first)

    import_original(tracker, SECOND)

    iterations = run(tracker).iterations.list()
    assert [(i.id, i.step) for i in iterations] == [(first.id, 1), (later.id, 4)]
    assert [m.name for m in iterations[1].modules.list()] == ["optimizer", "scheduler"]
