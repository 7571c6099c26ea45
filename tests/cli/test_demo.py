"""``mltracker demo``: a real training run logged to the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mltracker

from .helpers import Run, assert_error, invoke, parse_json, table_header, table_rows

EPOCHS = 3


def check_logged_store(uri: str, epochs: int) -> list[str]:
    """Assert what the demo logs; return the models' hashes."""
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("spirals")
        assert experiment is not None
        models = experiment.models.list()
        assert [model.name for model in models] == ["mlp-16", "mlp-32x32", "mlp-64x64"]
        for model, hidden in zip(models, [1, 2, 2], strict=True):
            assert model.step == epochs
            modules = model.modules.list()
            assert [m.name for m in modules] == [f"layers.{i}" for i in range(hidden + 1)] + [
                "loss"
            ]
            assert modules[0].attributes["type"] == "Linear"
            iterations = model.iterations.list()
            assert [iteration.step for iteration in iterations] == list(range(1, epochs + 1))
            for iteration in iterations:
                (optimizer,) = iteration.modules.list()
                assert optimizer.name == "optimizer" and optimizer.attributes["type"] == "SGD"
            for phase in ("train", "validation"):
                for name in ("loss", "accuracy"):
                    points = model.metrics.list(name, phase=phase)
                    assert [p.step for p in points] == list(range(1, epochs + 1))
                    assert all(isinstance(p.value, float) for p in points)
            accuracy = model.metrics.list("accuracy", phase="validation")
            assert all(0.0 <= p.value <= 1.0 for p in accuracy)
        return [model.hash for model in models]


def test_python_m_demo_logs_three_models(tmp_path: Path) -> None:
    uri = str(tmp_path / "demo.db")

    result = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", uri, "demo", "--epochs", str(EPOCHS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )

    assert result.returncode == 0, result.stderr
    hashes = check_logged_store(uri, EPOCHS)
    assert table_header(result.stdout) == [
        "hash",
        "name",
        "hidden layers",
        "lr",
        "final train loss",
        "best val accuracy",
        "steps",
    ]
    rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == hashes
    assert [row[2] for row in rows] == ["16", "32x32", "64x64"]
    assert [row[6] for row in rows] == [str(EPOCHS)] * 3
    assert f"mltracker --uri {uri} experiments show spirals" in result.stdout
    assert f"{EPOCHS}/{EPOCHS}" in result.stderr  # the progress bars


def test_demo_json_summarises_models(run: Run) -> None:
    result = run("--json", "demo", "--epochs", "2")

    assert result.exit_code == 0
    document = parse_json(result.stdout)
    assert document["experiment"] == "spirals"
    models = document["models"]
    assert [m["hidden_layers"] for m in models] == [[16], [32, 32], [64, 64]]
    assert [m["learning_rate"] for m in models] == [0.05, 0.05, 0.02]
    assert all(m["steps"] == 2 for m in models)
    assert all(0 < m["final_train_loss"] and 0 < m["best_validation_accuracy"] <= 1 for m in models)
    assert "Next" not in result.stdout


def test_demo_again_replaces_models(run_sqlite: Run, sqlite_uri: str) -> None:
    first = parse_json(run_sqlite("--json", "demo", "--epochs", "2").stdout)

    second = parse_json(run_sqlite("--json", "demo", "--epochs", "2").stdout)

    assert [m["hash"] for m in first["models"]] == [m["hash"] for m in second["models"]]
    check_logged_store(sqlite_uri, 2)


def test_demo_creates_default_store(tmp_path: Path) -> None:
    result = invoke("demo", "--epochs", "1")

    assert result.exit_code == 0, result.output
    assert "mltracker experiments show spirals" in result.stdout
    check_logged_store(str(tmp_path / "mltracker.db"), 1)


def test_demo_zero_epochs_is_usage_error(run_sqlite: Run) -> None:
    result = run_sqlite("demo", "--epochs", "0")

    assert result.exit_code == 2
    assert "0 is not in the range x>=1" in result.stderr


def test_demo_without_numpy_exits_1_with_install_command(
    run_sqlite: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    monkeypatch.delitem(sys.modules, "mltracker.demo", raising=False)
    monkeypatch.delattr(mltracker, "demo", raising=False)

    assert_error(run_sqlite("demo"), "pip install 'mltracker[numpy]'")
