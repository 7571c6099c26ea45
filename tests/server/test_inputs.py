"""Inputs that once answered 500, and values the server must give back as they are stored.

Over a real server (uvicorn in a thread) of a real SQLite store.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

import mltracker
from mltracker.ports.store import ExperimentRecord, MetricRecord, ModelRecord
from mltracker.server.serve import prepared_store

from .conftest import Serve, Served
from .helpers import assert_envelope, call, row_counts
from .test_security import fill, point_batch

HUGE = "99999999999999999999"  # past int64


# Answers of 422, never 500 ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [f"limit={HUGE}", f"budget={HUGE}", f"after={HUGE}", f"start_step=-{HUGE}"],
)
def test_a_number_past_int64_in_a_listing_gets_422(server: Served, query: str) -> None:
    ids = fill(server.url)
    answer = call("GET", server.api + f"/models/{ids['m']}/metrics?{query}")
    assert_envelope(answer, 422, "invalid_argument")


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_module_attributes_nested_deeply_get_422_and_write_nothing(server: Served) -> None:
    ids = fill(server.url)
    before = row_counts(server.path)
    for depth in (100_000, 5_000, 300):
        body = {"name": "deep", "attributes_json": nested(depth)}
        answer = call("POST", server.api + f"/models/{ids['m']}/modules", body)
        error = assert_envelope(answer, 422, "invalid_argument")
        assert "nested too deeply" in error["message"], (depth, error)
    assert row_counts(server.path) == before


def test_an_exact_text_nested_deeply_gets_422_and_writes_nothing(server: Served) -> None:
    ids = fill(server.url)
    before = row_counts(server.path)
    for depth in (10_000, 300):
        batch = point_batch(ids["m"], range(1))
        batch["value"] = [None]
        batch["exact"] = {"0": [3, "[" * depth + "]" * depth]}
        answer = call("POST", server.api + "/points", batch)
        error = assert_envelope(answer, 422, "invalid_argument")
        assert "nested too deeply" in error["message"], (depth, error)
    assert row_counts(server.path) == before


def restore_document(metric: dict[str, Any], module_json: str = "{}") -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "name": "restored",
            "models": [
                {
                    "id": str(uuid.uuid4()),
                    "hash": "h",
                    "name": None,
                    "description": None,
                    "step": 0,
                    "metrics": [metric],
                    "modules": [
                        {"id": str(uuid.uuid4()), "name": "m", "attributes_json": module_json}
                    ],
                    "iterations": [],
                }
            ],
        }
    ]


def test_a_restore_nested_deeply_gets_422_and_writes_nothing(server: Served) -> None:
    fill(server.url)
    before = row_counts(server.path)
    point = {"name": "loss", "step": 0, "phase": None, "timestamp": 1.0, "id": None}
    for document in (
        restore_document({**point, "value": None, "exact": [3, "[" * 10_000 + "]" * 10_000]}),
        restore_document({**point, "value": 1.0}, nested(100_000)),
    ):
        answer = call("POST", server.api + "/restore", document)
        assert_envelope(answer, 422, "invalid_argument")
    assert row_counts(server.path) == before


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/models/{m}/step", {"step": "1"}),
        ("/models/{m}/step", {"step": True}),
        ("/models/{m}/step", {"step": 1.0}),
        ("/models/{m}/step/add", {"delta": True}),
        ("/models/{m}/step/add", {"delta": "2"}),
        ("/models/{m}/iterations", {"step": "2"}),
        ("/models/{m}/iterations", {"step": False}),
    ],
)
def test_a_step_that_is_not_an_int_gets_422_as_in_the_library(
    server: Served, route: str, body: dict[str, Any]
) -> None:
    ids = fill(server.url)
    before = row_counts(server.path)
    method = "PUT" if route.endswith("/step") else "POST"
    answer = call(method, server.api + route.format(**ids), body)
    assert_envelope(answer, 422, "invalid_argument")
    assert call("GET", server.api + f"/models/{ids['m']}/step").json == {"step": 0}
    assert row_counts(server.path) == before
    with (
        mltracker.connect(str(server.path)) as tracker,
        pytest.raises(mltracker.InvalidArgumentError),
    ):
        model = tracker.experiments.read("e").models.read("m")  # type: ignore[union-attr]
        assert model is not None
        model.step = next(iter(body.values()))


# A stored null metric value ---------------------------------------------------------------------
@pytest.fixture
def with_null(serve: Serve, tmp_path: Path) -> tuple[Served, str]:
    """A server of a store where the model ``m`` of ``e`` holds a JSON null value (as
    ``mltracker import`` keeps one), between two numbers; the model's id."""
    path = tmp_path / "null.db"
    store = prepared_store(str(path))
    model_id = uuid.uuid4()
    now = time.time()
    metrics = [
        MetricRecord("loss", 0.5, 0, None, now),
        MetricRecord("loss", None, 1, None, now),
        MetricRecord("loss", 0.25, 2, None, now),
        MetricRecord("note", None, 2, "validation", now),
    ]
    record = ExperimentRecord(
        uuid.uuid4(), "e", [ModelRecord(model_id, "m", None, None, 2, metrics, [], [])]
    )
    try:
        store.restore([record])
    finally:
        store.close()
    return serve(path=path), str(model_id)


def test_a_stored_null_value_is_read_through_every_route(with_null: tuple[Served, str]) -> None:
    served, model_id = with_null
    api = served.api
    for route in (
        f"/models/{model_id}/metrics",
        f"/models/{model_id}/metrics?name=loss&budget=10",
        f"/models/{model_id}/metrics/latest",
        f"/overview/models/{model_id}/points?name=loss",
        f"/overview/latest?model={model_id}",
        "/overview/experiment?name=e",
        "/overview/model?experiment=e&hash=m",
    ):
        answer = call("GET", api + route)
        assert answer.status == 200, (route, answer.body)
        assert b"null" in answer.body, route
    latest = call("POST", api + "/metrics/latest", {"model_ids": [model_id]})
    assert latest.status == 200, latest.body
    assert b"null" in latest.body


def test_a_stored_null_value_reads_the_same_embedded_and_through_the_server(
    with_null: tuple[Served, str],
) -> None:
    served, _model_id = with_null

    def read(uri: str) -> tuple[list[Any], list[Any]]:
        with mltracker.connect(uri) as tracker:
            experiment = tracker.experiments.read("e")
            assert experiment is not None
            model = experiment.models.read("m")
            assert model is not None
            points = [(p.name, p.step, p.phase, p.value) for p in model.metrics.list()]
            latest = [(p.name, p.phase, p.value) for p in model.metrics.latest()]
        return points, latest

    embedded = read(str(served.path))
    assert embedded[0] == [
        ("loss", 0, None, 0.5),
        ("loss", 1, None, None),
        ("loss", 2, None, 0.25),
        ("note", 2, "validation", None),
    ]
    assert read(served.url) == embedded


def test_a_null_value_written_over_the_wire_is_still_refused(server: Served) -> None:
    """Reads give back what is stored; a write takes what the library takes (no None)."""
    ids = fill(server.url)
    batch = point_batch(ids["m"], range(1))
    batch["value"] = [None]
    batch["exact"] = {"0": [3, "null"]}
    answer = call("POST", server.api + "/points", orjson.loads(orjson.dumps(batch)))
    assert_envelope(answer, 422)
