"""Pages follow a run that logs while they are open, without reloading.

The pages poll (the model page every second): a chart reads only the points logged after its
lines' last ones. The waits below allow 10 s, well above the 1 s poll, so that a loaded
machine does not fail them; the polling itself is what they check.
"""

from __future__ import annotations

from pathlib import Path

import mltracker

from .conftest import Browser, Serve

WAIT_MS = 10_000


def points_of(browser: Browser, name: str) -> str:
    """A JS expression: the number of points of each line of a chart, as a JSON string."""
    return f"""(() => {{
        const slot = document.querySelector('[data-metric="{name}"]');
        return slot && slot.mlChart ? JSON.stringify(slot.mlChart.summary().points) : null;
    }})()"""


def test_the_model_page_shows_points_logged_while_it_is_open(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("live").models.create("run", name="training")
        for step in range(5):
            model.metrics.log("loss", 1.0 / (step + 1), step=step, phase="train")
        tracker.flush()
        browser.open(f"{serve(uri)}/experiments/live/models/run")
        assert browser.chart("loss")["points"] == {"train": 5}
        browser.page.evaluate("window.sameDocument = true")
        loads = browser.summary("loss")["loads"]

        for step in range(5, 9):
            model.metrics.log("loss", 1.0 / (step + 1), step=step, phase="train")
        tracker.flush()
        browser.page.wait_for_function(
            f"{points_of(browser, 'loss')} === JSON.stringify({{train: 9}})", timeout=WAIT_MS
        )
        # read incrementally: from the last step the chart had, not the whole series again
        assert browser.summary("loss")["loads"] == loads
        assert any(query.get("start_step") == ["4"] for query in browser.metric_requests())

        model.metrics.log("loss", 0.2, step=8, phase="validation")  # a new line
        model.metrics.log("accuracy", 0.9, step=8, phase="train")  # a new chart
        model.step = 8
        tracker.flush()
        browser.page.wait_for_function(
            f"{points_of(browser, 'loss')} === JSON.stringify({{train: 9, validation: 1}})",
            timeout=WAIT_MS,
        )
        assert browser.chart("accuracy", timeout=WAIT_MS)["points"] == {"train": 1}
        browser.page.wait_for_function(
            "document.querySelector('.facts').innerText.includes('step 8')", timeout=WAIT_MS
        )
        assert browser.page.evaluate("window.sameDocument") is True


def test_the_experiment_page_shows_new_models_and_latest_values(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.create("live")
        first = experiment.models.create("one")
        first.metrics.log("loss", 0.5, step=0)
        tracker.flush()
        browser.open(f"{serve(uri)}/experiments/live")
        browser.page.wait_for_selector("tr[data-key='one']")

        first.metrics.log("loss", 0.25, step=1)
        experiment.models.create("two").metrics.log("loss", 0.75, step=0)
        tracker.flush()
        browser.page.wait_for_selector("tr[data-key='two']", timeout=WAIT_MS)
        browser.page.wait_for_function(
            "document.querySelector(\"tr[data-key='one']\").innerText.includes('0.25')",
            timeout=WAIT_MS,
        )


def test_a_chart_of_a_model_compared_follows_its_run(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.create("live")
        one, two = experiment.models.create("one"), experiment.models.create("two")
        one.metrics.log("loss", 0.5, step=0, phase="train")
        two.metrics.log("loss", 0.6, step=0, phase="train")
        tracker.flush()
        browser.open(f"{serve(uri)}/experiments/live/compare?models=one,two")
        assert browser.chart("loss")["points"] == {"one · train": 1, "two · train": 1}

        two.metrics.log("loss", 0.4, step=1, phase="train")
        tracker.flush()
        expected = '{"one · train":1,"two · train":2}'
        browser.page.wait_for_function(
            f"{points_of(browser, 'loss')} === '{expected}'", timeout=WAIT_MS
        )
