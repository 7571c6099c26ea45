"""What the original accepted and MLTracker converts, keeps, or leaves out and reports.

``quirks.json`` was written by the original mltracker 0.4.0 itself (see make_fixtures.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mltracker
from mltracker.importers.original import ImportResult, Refusal, import_original
from mltracker.ports.models import Model

DATA = Path(__file__).resolve().parents[1] / "data" / "original"
QUIRKS = DATA / "quirks.json"
SOURCE = json.loads(QUIRKS.read_text())
EXPERIMENT_ID = SOURCE["/experiments"]["1"]["id"]
UNNAMED_ID = SOURCE["/experiments"]["2"]["id"]
FLOATS_ID, HALF_ID, EMPTY_HASH_ID = (
    SOURCE[f"/experiments/{EXPERIMENT_ID}/models"][key]["id"] for key in ("1", "2", "3")
)
EXPERIMENT_ID_1 = "25c269da-f474-4ea7-bdae-085db569f7fe"
MODEL_ID_1 = "cabf75fa-64ab-403c-99b8-2cfd487f50c9"


def model(tracker: mltracker.Connection, experiment: str, hash: str) -> Model:
    found = tracker.experiments.read(experiment)
    assert found is not None
    result = found.models.read(hash)
    assert result is not None
    return result


def test_integral_float_steps_become_ints(tracker: mltracker.Connection) -> None:
    import_original(tracker, QUIRKS)

    floats = model(tracker, "quirks", "floats")
    assert floats.step == 3 and isinstance(floats.step, int)  # an int (a StepValue)
    steps = [point.step for point in floats.metrics.list("loss")]
    assert steps == [1, 2, 6]
    assert all(type(step) is int for step in steps)
    assert [(i.step, type(i.step)) for i in floats.iterations.list()] == [(2, int)]


def test_empty_phase_becomes_no_phase(tracker: mltracker.Connection) -> None:
    import_original(tracker, QUIRKS)

    points = model(tracker, "quirks", "floats").metrics.list("loss")
    assert [(point.step, point.phase) for point in points] == [
        (1, "train"),
        (2, None),
        (6, "train"),
    ]


def test_empty_model_name_becomes_none_and_empty_description_is_kept(
    tracker: mltracker.Connection,
) -> None:
    import_original(tracker, QUIRKS)

    floats = model(tracker, "quirks", "floats")
    assert (floats.name, floats.description) == (None, "")


def test_int_values_beyond_int64_are_kept_exactly(tracker: mltracker.Connection) -> None:
    import_original(tracker, QUIRKS)

    values = [point.value for point in model(tracker, "quirks", "floats").metrics.list("big")]
    assert values == [2**70, -(2**64) - 1]
    assert all(type(value) is int for value in values)


def test_documents_that_cannot_be_kept_are_listed_and_the_rest_is_imported(
    tracker: mltracker.Connection,
) -> None:
    result = import_original(tracker, QUIRKS)

    metrics = f"/models/{FLOATS_ID}/metrics document"
    assert result.refused == [
        Refusal(f"{metrics} 3", "step 0.5 is not an integer"),
        Refusal(f"{metrics} 4", "step 1180591620717411303424 is outside the int64 range"),
        Refusal(f"{metrics} 7", "metric name must not be empty"),
        Refusal(f"/models/{FLOATS_ID}/modules document 1", "module name must not be empty"),
        Refusal(
            f"/models/{FLOATS_ID}/iterations document 2",
            "step 0.5 is not an integer (left out with its 1 module)",
        ),
        Refusal(
            f"/models/{HALF_ID}/steps document 1",
            "step 0.5 is not an integer: the model's step was not imported",
        ),
        Refusal(
            f"/experiments/{EXPERIMENT_ID}/models document 3",
            "model hash must not be empty (left out with its 1 metric point)",
        ),
        Refusal(
            "/experiments document 2",
            "experiment name must not be empty (left out with its 1 model)",
        ),
    ]
    assert result.orphan_tables == []
    assert [e.name for e in tracker.experiments.list()] == ["quirks", "after"]
    quirks = tracker.experiments.read("quirks")
    assert quirks is not None
    assert [m.hash for m in quirks.models.list()] == ["floats", "half-step"]
    floats = model(tracker, "quirks", "floats")
    assert [m.name for m in floats.modules.list()] == ["kept"]
    assert len(floats.metrics.list()) == 5
    half = model(tracker, "quirks", "half-step")
    assert half.step == 0
    assert [p.value for p in half.metrics.list()] == [1.0]
    assert [p.value for p in model(tracker, "after", "last").metrics.list()] == [2.0]
    assert result.report.added == {
        "experiments": 2,
        "models": 3,
        "metrics": 7,
        "modules": 1,
        "iterations": 1,
        "runs": 3,
    }


def test_model_step_that_cannot_be_kept_leaves_the_stored_step(
    tracker: mltracker.Connection,
) -> None:
    import_original(tracker, QUIRKS)
    model(tracker, "quirks", "half-step").step = 7

    import_original(tracker, QUIRKS)

    assert model(tracker, "quirks", "half-step").step == 7


def write(tmp_path: Path, tables: dict[str, Any]) -> Path:
    path = tmp_path / "db.json"
    path.write_text(json.dumps(tables))
    return path


def experiment_table(*names: str, ids: tuple[str, ...] = ()) -> dict[str, Any]:
    ids = ids or tuple(f"25c269da-f474-4ea7-bdae-085db569f7f{index}" for index in range(len(names)))
    return {
        "/experiments": {
            str(index + 1): {"id": ids[index], "name": name} for index, name in enumerate(names)
        }
    }


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param({"id": "x", "name": "e"}, 'has a bad id "x"', id="bad-id"),
        pytest.param({"name": "e"}, "has no 'id'", id="no-id"),
        pytest.param([1], "is not an object", id="not-an-object"),
        pytest.param(
            {"id": EXPERIMENT_ID_1, "name": "a\x00b"},
            "experiment name must not contain NUL characters",
            id="nul-in-name",
        ),
    ],
)
def test_bad_experiment_document_is_refused_and_the_others_imported(
    tracker: mltracker.Connection, tmp_path: Path, document: Any, reason: str
) -> None:
    tables = experiment_table("kept", ids=("6ce466e2-fc71-44bd-952a-e27b0f22d9b6",))
    tables["/experiments"]["2"] = document

    result = import_original(tracker, write(tmp_path, tables))

    assert [(r.document, r.reason[: len(reason)]) for r in result.refused] == [
        ("/experiments document 2", reason)
    ]
    assert [e.name for e in tracker.experiments.list()] == ["kept"]


def test_repeated_experiment_name_and_id_are_refused(
    tracker: mltracker.Connection, tmp_path: Path
) -> None:
    first, second = "6ce466e2-fc71-44bd-952a-e27b0f22d9b6", "25c269da-f474-4ea7-bdae-085db569f7fe"
    tables = experiment_table("a", "a", "b", ids=(first, second, first))

    result = import_original(tracker, write(tmp_path, tables))

    assert result.refused == [
        Refusal("/experiments document 2", "repeats the name 'a' of /experiments document 1"),
        Refusal("/experiments document 3", f"repeats the id {first} of an earlier document"),
    ]
    assert [(str(e.id), e.name) for e in tracker.experiments.list()] == [(first, "a")]


def test_repeated_model_hash_is_refused_with_what_it_owns(
    tracker: mltracker.Connection, tmp_path: Path
) -> None:
    other = "ff3addef-a513-4191-9027-3cb570464ac2"
    tables = experiment_table("e", ids=(EXPERIMENT_ID_1,))
    tables[f"/experiments/{EXPERIMENT_ID_1}/models"] = {
        "1": {"id": MODEL_ID_1, "hash": "h", "name": None, "description": None},
        "2": {"id": other, "hash": "h", "name": None, "description": None},
    }
    tables[f"/models/{other}/metrics"] = {
        "1": {"id": "3a1122d5-aaf4-4825-a1e5-aa75d9f82a00", "name": "m", "value": 1, "step": 1}
    }

    result = import_original(tracker, write(tmp_path, tables))

    assert result.refused == [
        Refusal(
            f"/experiments/{EXPERIMENT_ID_1}/models document 2",
            "repeats the hash 'h' of "
            f"/experiments/{EXPERIMENT_ID_1}/models document 1 "
            "(left out with its 1 metric point)",
        )
    ]
    assert result.orphan_tables == []
    assert [str(m.id) for m in model(tracker, "e", "h").metrics.list()] == []


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        pytest.param({"name": "m", "value": 1, "step": float("nan")}, "step NaN is not", id="nan"),
        pytest.param({"name": "m", "value": 1, "step": True}, "step true is not", id="bool"),
        pytest.param({"name": "m", "value": 1, "step": "3"}, 'step "3" is not', id="text"),
        pytest.param(
            {"name": "m", "value": 1, "step": 1e19}, "step 10000000000000000000 is", id="1e19"
        ),
        pytest.param({"name": "m", "step": 1}, "has no 'value'", id="no-value"),
        pytest.param({"name": 3, "value": 1}, "metric name must be a str", id="name-type"),
        pytest.param({"name": "m", "value": "a\ud800"}, "metric value is not valid", id="value"),
        pytest.param({"name": "m", "value": 1, "phase": 2}, "phase must be a str", id="phase"),
    ],
)
def test_bad_point_is_refused_and_the_model_imported(
    tracker: mltracker.Connection, tmp_path: Path, point: dict[str, Any], reason: str
) -> None:
    tables = experiment_table("e", ids=(EXPERIMENT_ID_1,))
    tables[f"/experiments/{EXPERIMENT_ID_1}/models"] = {
        "1": {"id": MODEL_ID_1, "hash": "h", "name": None, "description": None}
    }
    tables[f"/models/{MODEL_ID_1}/metrics"] = {
        "1": {"id": "3a1122d5-aaf4-4825-a1e5-aa75d9f82a00", **point},
        "2": {"id": "3a1122d5-aaf4-4825-a1e5-aa75d9f82a01", "name": "m", "value": 2.0, "step": 2},
    }

    result = import_original(tracker, write(tmp_path, tables))

    assert len(result.refused) == 1
    assert result.refused[0].document == f"/models/{MODEL_ID_1}/metrics document 1"
    assert result.refused[0].reason.startswith(reason), result.refused[0].reason
    assert [(p.step, p.value) for p in model(tracker, "e", "h").metrics.list()] == [(2, 2.0)]


def test_import_without_refusals_reports_none(tracker: mltracker.Connection) -> None:
    result: ImportResult = import_original(tracker, DATA / "small.json")

    assert result.refused == []
