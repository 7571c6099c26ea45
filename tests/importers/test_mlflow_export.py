"""Exporting runs to an MLflow tracking store, read back with the real mlflow client; and
round trip: exported, then imported again, the same numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import mltracker
from mltracker.importers.mlflow import import_mlflow
from mltracker.importers.mlflow_export import export_mlflow, metric_key

from .mlflow_stores import mlflow_history, same_value

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def fill(tracker: mltracker.Connection) -> mltracker.ports.Model:
    model = tracker.experiments.get_or_create("sweep").models.get_or_create("c0ffee", name="mlp")
    for lr in (0.1, 0.01):
        with model.runs.start(name=f"lr={lr}", params={"lr": lr, "layers": [64, 32]}) as run:
            for step in range(300):
                run.metrics.log("loss", 1 / (step + 1) + lr, step=step, phase="train")
            run.metrics.log("loss", math.nan, step=300, phase="train")
            run.metrics.log("note", "text is left out", step=0)
            run.metrics.log("cpu_percent", 12.5, step=0, phase="system")
    return model


def test_runs_go_to_mlflow_with_every_point(uri: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    target = (tmp_path / "mlruns").as_uri()  # a file store: quick to make
    with mltracker.connect(uri) as tracker:
        model = fill(tracker)
        experiment = tracker.experiments.get_or_create("sweep")
        counts = export_mlflow(experiment, [model], target)
        assert (counts.runs, counts.points, counts.points_left_out) == (2, 2 * 302, 2)
        again = export_mlflow(experiment, [model], target)
        assert (again.runs, again.runs_skipped, again.points) == (0, 2, 0)

        client = MlflowClient(tracking_uri=target)
        found = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
        assert sorted(run.info.run_name for run in found) == ["lr=0.01", "lr=0.1"]
        for exported in found:
            ours = model.runs.read(exported.data.tags["mltracker.run_id"])
            assert exported.info.status == "FINISHED"
            assert exported.info.start_time == int(ours.started_at * 1000)
            assert exported.data.params["lr"] == json.dumps(ours.params["lr"])
            assert exported.data.tags["mltracker.model_hash"] == "c0ffee"
            history = mlflow_history(target, exported.info.run_id, "train/loss")
            points = ours.metrics.list("loss")
            assert len(history) == len(points) == 301
            for (step, value, seconds), point in zip(history, points, strict=True):
                assert step == point.step and same_value(value, point.value)
                assert seconds == int(point.timestamp * 1000) / 1000
            assert exported.data.metrics["system/cpu_percent"] == 12.5


def test_a_round_trip_keeps_the_numbers(sqlite_uri: str, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mltracker.connect(sqlite_uri) as tracker:
        model = fill(tracker)
        export_mlflow(tracker.experiments.get_or_create("sweep"), [model], target)
    with mltracker.connect(tmp_path / "back.db") as back:
        import_mlflow(back, target)
        models = back.experiments.get_or_create("sweep").models.list()
        assert len(models) == 2
        for imported in models:
            (run,) = imported.runs.list()
            assert run.name in ("lr=0.1", "lr=0.01")
            assert len(run.metrics.list("train/loss")) == 301
            (cpu,) = run.metrics.list("cpu_percent")
            assert (cpu.phase, cpu.value) == ("system", 12.5)


def test_keys_mlflow_refuses_are_made_safe() -> None:
    assert metric_key("acc@1", "validation") == "validation/acc_1"
    assert metric_key("loss", None) == "loss"


def test_the_command(sqlite_uri: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mltracker.cli import cli

    with mltracker.connect(sqlite_uri) as tracker:
        fill(tracker)
    target = (tmp_path / "mlruns").as_uri()
    result = CliRunner().invoke(
        cli, ["--uri", sqlite_uri, "--json", "export", "sweep", "--to", "mlflow", target]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["runs"], document["points"]) == (2, 604)
    refused = CliRunner().invoke(
        cli, ["--uri", sqlite_uri, "export", "sweep", "--to", "mlflow", target, "-o", "x.csv"]
    )
    assert refused.exit_code == 2
