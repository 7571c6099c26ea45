"""Importing db.json files written by the original mltracker 0.4.0 (tests/data/original)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import mltracker
from mltracker.importers.original import OriginalFormatError, import_original

DATA = Path(__file__).resolve().parents[1] / "data" / "original"
SMALL = DATA / "small.json"
MEDIUM = DATA / "medium.json"


def tables(path: Path) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def ordered(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [table[key] for key in sorted(table, key=int)]


def same_value(stored: Any, original: Any) -> bool:
    if isinstance(original, float) and math.isnan(original):
        return isinstance(stored, float) and math.isnan(stored)
    return type(stored) is type(original) and stored == original


@pytest.mark.parametrize(
    "fixture", [pytest.param(SMALL, id="small"), pytest.param(MEDIUM, id="medium")]
)
def test_import_brings_every_entity_and_value_with_its_id(
    tracker: mltracker.Connection, fixture: Path
) -> None:
    import_original(tracker, fixture)
    source = tables(fixture)
    experiments = tracker.experiments.list()
    assert [(e.id, e.name) for e in experiments] == [
        (UUID(doc["id"]), doc["name"]) for doc in ordered(source["/experiments"])
    ]
    for experiment in experiments:
        source_models = ordered(source.get(f"/experiments/{experiment.id}/models", {}))
        models = experiment.models.list()
        assert [(m.id, m.hash, m.name, m.description) for m in models] == [
            (UUID(d["id"]), d["hash"], d["name"], d["description"]) for d in source_models
        ]
        for model in models:
            steps = source.get(f"/models/{model.id}/steps", {})
            assert model.step == steps.get("1", {}).get("value", 0)
            source_points = ordered(source.get(f"/models/{model.id}/metrics", {}))
            points = model.metrics.list()
            assert [(p.id, p.name, p.step, p.phase) for p in points] == [
                (UUID(d["id"]), d["name"], d["step"], d["phase"]) for d in source_points
            ]
            pairs = zip(points, source_points, strict=True)
            assert all(same_value(p.value, d["value"]) for p, d in pairs)
            source_modules = ordered(source.get(f"/models/{model.id}/modules", {}))
            assert [(m.id, m.name, m.attributes) for m in model.modules.list()] == [
                (UUID(d["id"]), d["name"], d["attributes"] or {}) for d in source_modules
            ]
            source_iterations = ordered(source.get(f"/models/{model.id}/iterations", {}))
            iterations = model.iterations.list()
            assert [(i.id, i.step) for i in iterations] == [
                (UUID(d["id"]), d["step"]) for d in source_iterations
            ]
            for iteration in iterations:
                source_iteration_modules = ordered(
                    source.get(f"/iterations/{iteration.id}/modules", {})
                )
                assert [(m.id, m.name, m.attributes) for m in iteration.modules.list()] == [
                    (UUID(d["id"]), d["name"], d["attributes"] or {})
                    for d in source_iteration_modules
                ]


def test_small_fixture_holds_the_edge_cases(tracker: mltracker.Connection) -> None:
    import_original(tracker, SMALL)
    model = tracker.experiments.read("mnist").models.read("hash-a")  # type: ignore[union-attr]
    special = [p.value for p in model.metrics.list("special")]  # type: ignore[union-attr]
    assert math.isnan(special[0]) and special[1:] == [math.inf, -math.inf]
    assert [p.value for p in model.metrics.list("count")] == [7]  # type: ignore[union-attr]
    assert type(model.metrics.list("count")[0].value) is int  # type: ignore[union-attr]
    assert {m.name: m.attributes for m in model.modules.list()}["dropout"] == {}  # type: ignore[union-attr]


def test_importing_twice_adds_nothing_the_second_time(tracker: mltracker.Connection) -> None:
    first = import_original(tracker, SMALL)
    second = import_original(tracker, SMALL)
    assert sum(first.report.added.values()) > 0
    assert sum(second.report.added.values()) == 0
    assert second.report.skipped == first.report.added
    model = tracker.experiments.read("mnist").models.read("hash-a")  # type: ignore[union-attr]
    assert len(model.metrics.list()) == 11  # type: ignore[union-attr]


def test_name_taken_by_another_experiment_refuses_the_whole_import(
    tracker: mltracker.Connection,
) -> None:
    tracker.experiments.create("cifar")
    with pytest.raises(mltracker.AlreadyExistsError, match="'cifar' exists with another id"):
        import_original(tracker, SMALL)
    assert [e.name for e in tracker.experiments.list()] == ["cifar"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param("{not json", "not a readable JSON file", id="not-json"),
        pytest.param("[1, 2]", "not a TinyDB database", id="not-tables"),
        pytest.param('{"_default": {}}', "no /experiments table", id="other-tinydb"),
    ],
)
def test_bad_file_is_refused_with_a_clear_error(
    tracker: mltracker.Connection, tmp_path: Path, content: str, match: str
) -> None:
    path = tmp_path / "db.json"
    path.write_text(content)
    with pytest.raises(OriginalFormatError, match=match):
        import_original(tracker, path)
    assert tracker.experiments.list() == []


def test_missing_file_is_refused(tracker: mltracker.Connection, tmp_path: Path) -> None:
    with pytest.raises(OriginalFormatError, match="no such file"):
        import_original(tracker, tmp_path / "absent.json")


def test_null_metric_value_of_the_original_is_kept(
    tracker: mltracker.Connection, tmp_path: Path
) -> None:
    experiment_id, model_id, metric_id = (
        "25c269da-f474-4ea7-bdae-085db569f7fe",
        "cabf75fa-64ab-403c-99b8-2cfd487f50c9",
        "3a1122d5-aaf4-4825-a1e5-aa75d9f82a00",
    )
    path = tmp_path / "db.json"
    path.write_text(
        json.dumps(
            {
                "/experiments": {"1": {"id": experiment_id, "name": "e"}},
                f"/experiments/{experiment_id}/models": {
                    "1": {"id": model_id, "hash": 42, "name": None, "description": None}
                },
                f"/models/{model_id}/metrics": {
                    "1": {"id": metric_id, "name": "m", "value": None, "step": None, "phase": None}
                },
            }
        )
    )
    import_original(tracker, path)
    model = tracker.experiments.read("e").models.read("42")  # type: ignore[union-attr]
    assert [(p.id, p.value) for p in model.metrics.list()] == [(UUID(metric_id), None)]  # type: ignore[union-attr]
