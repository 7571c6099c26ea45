"""The runs in the dashboard's API routes, on every backend: a model's runs with their
statuses at the server's clock, what the model page polls in one call (the latest point of
each run's series), an experiment's runs, points counted over every run."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import urllib3

import mltracker
from mltracker import wire
from mltracker.ports.store import RunStart

from .conftest import Serve
from .stores import SWEEP, Sweep, fill_sweep


@pytest.fixture(scope="module")
def sweep(module_uri: str) -> Sweep:
    return fill_sweep(module_uri)


def get(url: str, path: str, **fields: Any) -> Any:
    answer = urllib3.request("GET", url + "/api/v1" + path, fields=fields)
    assert answer.status == 200, answer.data
    return json.loads(answer.data)


def model_id(url: str, hash: str = "mlp") -> str:
    found: str = get(url, "/overview/model", experiment="sweep", hash=hash)["model"]["id"]
    return found


def test_a_model_comes_with_its_runs_and_points_of_every_run(serve: Serve, sweep: Sweep) -> None:
    document = get(serve(sweep.uri), "/overview/model", experiment="sweep", hash="mlp")

    runs = document["runs"]
    assert [run["id"] for run in runs] == [str(run_id) for run_id in sweep.runs]
    assert [(run["name"], run["status"]) for run in runs] == [
        ("lr=0.1", "finished"),
        ("lr=0.05", "failed"),
        ("lr=0.01", "running"),
    ]
    assert [run["params"] for run in runs] == list(SWEEP.values())
    assert runs[2]["host"] == "gpu-7" and runs[2]["ended_at"] is None
    assert runs[1]["exit"].startswith("ValueError")
    assert runs[0]["ended_at"] >= runs[0]["started_at"]
    assert abs(document["now"] - time.time()) < 60
    # counted over the three runs' series of the name (each run's alone would be 10)
    assert [(one["name"], one["points"]) for one in document["series"]] == [("loss", 30)]


def test_the_live_route_has_the_step_the_latest_of_each_run_and_the_statuses(
    serve: Serve, sweep: Sweep
) -> None:
    url = serve(sweep.uri)
    document = get(url, f"/overview/models/{model_id(url)}/live")

    assert document["step"] == 0
    assert [run["status"] for run in document["runs"]] == ["finished", "failed", "running"]
    assert document["latest"]["runs"] == [str(run_id) for run_id in sweep.runs]
    latest = wire.metrics_from_document(document["latest"])
    assert [(p.run_id, p.step, p.value) for p in latest] == [
        (run_id, 9, 0.1 + 0.1 * index) for index, run_id in enumerate(sweep.runs)
    ]


def test_the_metrics_route_names_each_series_run_in_one_request(serve: Serve, sweep: Sweep) -> None:
    url = serve(sweep.uri)
    document = get(url, f"/models/{model_id(url)}/metrics", name="loss", budget=8)

    assert document["runs"] == [str(run_id) for run_id in sweep.runs]
    assert [entry[1:] for entry in document["series"]] == [["loss", None]] * 3
    points = wire.metrics_from_document(document)
    per_run = Counter(point.run_id for point in points)
    assert set(per_run) == set(sweep.runs)
    assert all(2 <= count <= 8 for count in per_run.values()), per_run  # 10 points thinned


def test_an_experiment_comes_with_every_run_and_compared_models_with_each_runs_latest(
    serve: Serve, sweep: Sweep
) -> None:
    url = serve(sweep.uri)
    document = get(url, "/overview/experiment", name="sweep", counts="false")
    by_model = {model["id"]: model["hash"] for model in document["models"]}

    assert [
        (by_model[run["model_id"]], run["name"], run["status"]) for run in document["runs"]
    ] == [
        ("mlp", "lr=0.1", "finished"),
        ("mlp", "lr=0.05", "failed"),
        ("mlp", "lr=0.01", "running"),
        ("cnn", "baseline", "finished"),
    ]
    mlp = model_id(url)
    merged = get(url, "/overview/latest", model=mlp)[mlp]["latest"]
    apart = get(url, "/overview/latest", model=mlp, by_run="true")[mlp]["latest"]
    assert merged["runs"] == [str(sweep.running)]
    assert apart["runs"] == [str(run_id) for run_id in sweep.runs]


def test_a_run_without_a_recent_heartbeat_reads_crashed_at_the_servers_clock(
    serve: Serve, module_uri: str
) -> None:
    with mltracker.connect(module_uri) as tracker:
        model = tracker.experiments.create(f"e-{uuid.uuid4()}").models.create("m")
        silent = uuid.uuid4()
        an_hour_ago = time.time() - 3600
        tracker.store.start_run(RunStart(silent, model.id, "s", "{}", "{}", an_hour_ago, 60.0))
    url = serve(module_uri)
    document = get(url, f"/overview/models/{model.id}/live")

    assert [(run["id"], run["status"]) for run in document["runs"]] == [(str(silent), "crashed")]
    assert document["latest"]["series"] == [] and "runs" not in document["latest"]
