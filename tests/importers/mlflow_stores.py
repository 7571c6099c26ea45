"""MLflow tracking stores written by the real ``mlflow`` client, for the importer's tests."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow", reason="needs mlflow: pip install 'mltracker[mlflow]'")
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

from mlflow.entities import Metric  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

#: MLflow takes at most 1000 metrics in a batch.
MLFLOW_BATCH = 1000
#: The first timestamp (ms) of the points the tests log.
T0 = 1_700_000_000_000


@dataclass
class Written:
    """What a test wrote into an MLflow store: the run ids by experiment."""

    uri: str
    runs: dict[str, list[str]] = field(default_factory=dict)


def value_of(run: int, key: str, i: int) -> float:
    if key == "loss" and i % 997 == 5:
        return math.nan
    return 1.0 / (i + 1 + run) + (0.5 if key == "acc" else 0.0)


def log_points(
    client: MlflowClient, run_id: str, run: int, start: int, stop: int, keys: tuple[str, ...]
) -> None:
    metrics = [
        Metric(key, value_of(run, key, i), T0 + i * 10, i)
        for i in range(start, stop)
        for key in keys
    ]
    for first in range(0, len(metrics), MLFLOW_BATCH):
        client.log_batch(run_id, metrics=metrics[first : first + MLFLOW_BATCH])


def write_store(
    uri: str,
    *,
    runs: int = 5,
    points: int = 2000,
    experiments: tuple[str, ...] = ("mnist",),
    keys: tuple[str, ...] = ("loss", "system/cpu_utilization_percentage"),
) -> Written:
    """``runs`` runs in each experiment, each with ``points`` points of each key, params,
    tags, and each status MLflow has."""
    client = MlflowClient(tracking_uri=uri)
    written = Written(uri)
    statuses = ("FINISHED", "FAILED", "KILLED", "RUNNING", "FINISHED")
    for name in experiments:
        experiment_id = client.create_experiment(name)
        ids = []
        for run in range(runs):
            created = client.create_run(
                experiment_id,
                run_name=f"run-{run}",
                start_time=T0 - 1000,
                tags={"team": "vision", "seed": str(run)},
            )
            run_id = created.info.run_id
            client.log_batch(
                run_id,
                params=[
                    mlflow.entities.Param("lr", str([0.1, 0.01][run % 2])),
                    mlflow.entities.Param("layers", "2"),
                ],
            )
            log_points(client, run_id, run, 0, points, keys)
            status = statuses[run % len(statuses)]
            if status != "RUNNING":
                client.set_terminated(run_id, status, end_time=T0 + points * 10)
            ids.append(run_id)
        written.runs[name] = ids
    return written


def mlflow_history(uri: str, run_id: str, key: str) -> list[tuple[int, float, float]]:
    """A metric's history as the MLflow client reads it: (step, value, seconds), in MLflow's
    order (timestamp, step, value)."""
    client = MlflowClient(tracking_uri=uri)
    found = client.get_metric_history(run_id, key)
    ordered = sorted(found, key=lambda m: (m.timestamp, m.step, m.value))
    return [(m.step, m.value, m.timestamp / 1000) for m in ordered]


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
