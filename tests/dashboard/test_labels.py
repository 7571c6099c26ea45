"""Every series has its own label: "name" without a phase, "name · phase" with one, so that
metric "loss/train" (no phase) and metric "loss" in phase "train" never share one."""

from __future__ import annotations

from pathlib import Path

import pytest

import mltracker

from .conftest import Browser, Serve


@pytest.fixture
def clash(tmp_path: Path) -> str:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("clash").models.create("m1", name="clashing")
        for step in range(3):
            model.metrics.log("loss/train", 10.0 + step, step=step)
            model.metrics.log("loss", 20.0 + step, step=step, phase="train")
    return uri


def test_a_slash_in_a_name_and_a_phase_are_labelled_apart(
    browser: Browser, serve: Serve, clash: str
) -> None:
    url = serve(clash)
    browser.open(f"{url}/experiments/clash")
    browser.page.wait_for_selector("tr[data-key='m1']")
    headers = browser.page.eval_on_selector_all("th", "nodes => nodes.map(n => n.innerText)")
    assert any(h.startswith("loss/train") for h in headers)
    assert any(h.startswith("loss · train") for h in headers)

    browser.open(f"{url}/experiments/clash/models/m1?tab=points")
    browser.page.wait_for_selector("table.points tbody tr")
    options = browser.page.eval_on_selector_all(
        "select[aria-label='Series'] option", "nodes => nodes.map(n => n.textContent)"
    )
    assert sorted(options) == sorted(["loss/train", "loss · train"])
    browser.page.select_option("select[aria-label='Series']", label="loss · train")
    browser.page.wait_for_function(
        "document.querySelector('table.points tbody td:nth-child(3)').innerText === '20'"
    )
    browser.page.select_option("select[aria-label='Series']", label="loss/train")
    browser.page.wait_for_function(
        "document.querySelector('table.points tbody td:nth-child(3)').innerText === '10'"
    )
