"""The scripts of ``examples/`` run as written, at a tiny size, and leave a tracked model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mltracker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TRAIN = {"train", "validation"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "needs", "experiment", "modules", "phases"),
    [
        pytest.param("torch_mlp.py", "torch", "examples-torch", 5, TRAIN, id="torch"),
        pytest.param(
            "lightning_mlp.py",
            "lightning",
            "examples-lightning",
            7,
            # One batch an epoch at this size, logged every 5 steps: only the epoch means.
            {"train_epoch", "validation"},
            id="lightning",
        ),
        pytest.param(
            "transformers_bert.py",
            "transformers",
            "examples-transformers",
            51,
            TRAIN,
            id="transformers",
        ),
    ],
)
def test_example_runs(
    script: str,
    needs: str,
    experiment: str,
    modules: int,
    phases: set[str],
    sqlite_uri: str,
    tmp_path: Path,
) -> None:
    pytest.importorskip(needs, reason=f"the {needs} extra is not installed")
    command = [sys.executable, str(EXAMPLES / script), "--epochs", "2", "--samples", "64"]
    result = subprocess.run(
        [*command, "--uri", sqlite_uri],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (model,) = mltracker.get_experiment(experiment, sqlite_uri).models.list()
    (run,) = model.runs.list()
    assert f"model {model.hash} ({model.name}): step {model.step}, run {run.id}" in result.stdout
    assert len(model.modules.list()) == modules
    assert model.step > 0 and run.status == "finished"
    assert {p.phase for p in model.metrics.list()} >= phases
    assert {p.phase for p in model.metrics.list("loss")} >= phases  # one chart of loss
    assert len(model.iterations.list()) >= 2
