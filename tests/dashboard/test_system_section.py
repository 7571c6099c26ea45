"""System metrics on the dashboard: a Lightning fit with ``system_metrics=True`` gets its
CPU and memory charts in a section of their own, "System", after the model's metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.conftest import FRAMEWORK_WARNINGS

from .conftest import Browser, Serve
from .test_runs import screenshot

pytest.importorskip("psutil", reason="needs psutil: pip install 'mltracker[system]'")
L = pytest.importorskip("lightning", reason="needs lightning")


def slow_fit(uri: str, root: Path) -> Any:
    """A short Lightning fit (a few hundredths of a second a batch) that samples the system
    every 0.05 s."""
    from mltracker.integrations.lightning import MLTrackerLogger
    from tests.integrations.lightning_job import Classifier, loader

    class Slow(L.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, *args: Any) -> None:
            time.sleep(0.03)

    trainer = L.Trainer(
        logger=MLTrackerLogger("lightning", uri=uri, system_metrics=True),
        max_epochs=2,
        accelerator="cpu",
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        callbacks=[Slow()],
    )
    trainer.fit(Classifier(), loader(), loader())
    return trainer.logger


@pytest.mark.filterwarnings(*FRAMEWORK_WARNINGS)
def test_system_metrics_of_a_lightning_run_have_their_section(
    browser: Browser, serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_SYSTEM_METRICS_INTERVAL", "0.05")
    uri = str(tmp_path / "store.db")
    logger = slow_fit(uri, tmp_path)
    model = logger.model
    run = model.runs.list()[-1]
    system = {p.name for p in model.metrics.list(phase="system", run=run)}
    assert {"cpu_percent", "memory_percent"} <= system

    browser.open(f"{serve(uri)}/experiments/lightning/models/{model.hash}")
    chart = browser.chart("cpu_percent")
    assert chart["drawn"]
    groups = browser.page.eval_on_selector_all(
        "details.group",
        """nodes => nodes.map(node => ({
            name: node.querySelector('.group-name').innerText,
            charts: [...node.querySelectorAll('[data-metric]')].map(s => s.dataset.metric),
        }))""",
    )
    assert groups[-1]["name"] == "System"
    assert set(groups[-1]["charts"]) == system
    others = {name for group in groups[:-1] for name in group["charts"]}
    assert "loss" in others and not others & system
    screenshot(browser, "system-metrics")
