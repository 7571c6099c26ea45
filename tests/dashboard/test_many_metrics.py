"""A model with a thousand metric names: charts grouped by prefix, found with the filter
box, drawn only as they scroll into view."""

from __future__ import annotations

from pathlib import Path

import pytest

import mltracker

from .conftest import Browser, Serve

GROUPS = [f"group{index}" for index in range(10)]


@pytest.fixture
def many(tmp_path: Path) -> str:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("rl").models.create("agent")
        for step in range(3):
            model.metrics.log_many(
                {f"{group}/metric{index}": step * 0.1 for group in GROUPS for index in range(100)},
                step=step,
            )
    return uri


def drawn(browser: Browser) -> int:
    count: int = browser.page.evaluate(
        "[...document.querySelectorAll('[data-metric]')].filter(s => s.mlChart).length"
    )
    return count


def test_a_thousand_metric_names_are_grouped_and_drawn_as_they_come_into_view(
    browser: Browser, serve: Serve, many: str
) -> None:
    browser.open(f"{serve(many)}/experiments/rl/models/agent")
    browser.chart("group0/metric0")

    groups = browser.page.eval_on_selector_all(
        "details.group", "nodes => nodes.map(n => [n.dataset.group, n.open])"
    )
    assert [name for name, _ in groups] == [f"{group}/" for group in GROUPS]
    assert [opened for _, opened in groups] == [True] + [False] * 9  # too many to open all
    assert 0 < drawn(browser) <= 30  # the first screens only

    browser.page.fill("input[aria-label='Filter metrics']", "group7/metric42")
    assert browser.chart("group7/metric42")["points"] == {"(no phase)": 3}
    assert "1 of 1000 charts" in browser.page.inner_text(".grid-count")
    assert browser.page.is_hidden("details.group[data-group='group0/']")
    assert "q=group7/metric42" in browser.page.url.replace("%2F", "/")

    browser.page.fill("input[aria-label='Filter metrics']", "")
    browser.page.click("details.group[data-group='group9/'] > summary")
    browser.page.locator("[data-metric='group9/metric99']").scroll_into_view_if_needed()
    assert browser.chart("group9/metric99")["points"] == {"(no phase)": 3}
    assert drawn(browser) < 100
