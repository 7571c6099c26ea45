"""Runs on the dashboard: a line per run with its status in the legend, a run hidden and shown
again, the runs table with a column per param, an experiment's latest run per model and its
Runs view, statuses that change while a page is open, the points of no run, and how little an
idle page asks for."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import mltracker
from mltracker.ports.store import RunStart, Series, Store
from mltracker.values import FLOAT

from .conftest import Browser, Serve
from .stores import SWEEP, fill_sweep

WAIT_MS = 10_000
#: Where the tests save screenshots of the pages they check, if set.
SHOTS = os.environ.get("MLTRACKER_TEST_SCREENSHOTS")


def legend(browser: Browser, metric: str) -> list[dict[str, Any]]:
    """The legend entries of a chart: label, status badge (or None), struck out or not."""
    found: list[dict[str, Any]] = browser.page.eval_on_selector_all(
        f'[data-metric="{metric}"] .chart-legend .legend-item',
        """items => items.map(item => ({
            label: item.querySelector('.legend-label').innerText,
            status: item.querySelector('.badge')?.dataset.status ?? null,
            off: item.classList.contains('off'),
        }))""",
    )
    return found


def runs_table(browser: Browser) -> list[list[str]]:
    """The runs table of a model page: each row's cells from the run's name on."""
    found: list[list[str]] = browser.page.eval_on_selector_all(
        ".runs-card tbody tr",
        "rows => rows.map(row => [...row.cells].slice(1).map(cell => cell.innerText.trim()))",
    )
    return found


def headers(browser: Browser, table: str) -> list[str]:
    found: list[str] = browser.page.eval_on_selector_all(
        f"{table} thead th",
        "cells => cells.map(cell => cell.innerText.replace(/[▴▾]/g, '').trim().toLowerCase())",
    )
    return found


def screenshot(browser: Browser, name: str) -> None:
    """Save the page as ``$MLTRACKER_TEST_SCREENSHOTS/<name>.png``, if that is set."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_a_model_draws_a_line_per_run_with_its_status_and_hides_one(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    sweep = fill_sweep(str(tmp_path / "store.db"))
    browser.open(f"{serve(sweep.uri)}/experiments/sweep/models/mlp")

    chart = browser.chart("loss")
    assert chart["labels"] == list(SWEEP)
    assert chart["drawnLabels"] == list(SWEEP)
    assert chart["points"] == dict.fromkeys(SWEEP, 10)
    assert len(set(chart["colors"].values())) == 3  # a colour per run
    assert legend(browser, "loss") == [
        {"label": "lr=0.1", "status": "finished", "off": False},
        {"label": "lr=0.05", "status": "failed", "off": False},
        {"label": "lr=0.01", "status": "running", "off": False},
    ]
    screenshot(browser, "model-runs")

    # A click on a run's row hides its lines; the URL keeps it hidden across a reload.
    browser.page.click(f".runs-card tbody tr[data-key='{sweep.runs[1]}'] td.name")
    browser.page.wait_for_function(
        """() => document.querySelector('[data-metric="loss"]').mlChart.summary()
            .drawnLabels.length === 2"""
    )
    assert browser.summary("loss")["hidden"] == ["lr=0.05"]
    assert [entry["off"] for entry in legend(browser, "loss")] == [False, False, True]
    assert f"hide={sweep.runs[1]}" in browser.page.url
    screenshot(browser, "model-run-hidden")
    browser.page.reload()
    assert browser.chart("loss")["drawnLabels"] == ["lr=0.1", "lr=0.01"]
    row = browser.page.locator(f".runs-card tbody tr[data-key='{sweep.runs[1]}']")
    assert "hidden-run" in (row.get_attribute("class") or "")

    # A click on its struck-out legend entry shows it again.
    browser.page.click(f'[data-metric="loss"] .legend-item.off[data-key^="{sweep.runs[1]}"]')
    browser.page.wait_for_function(
        """() => document.querySelector('[data-metric="loss"]').mlChart.summary()
            .drawnLabels.length === 3"""
    )
    assert "hide=" not in browser.page.url


def test_the_runs_table_of_a_model_has_a_column_per_param(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    sweep = fill_sweep(str(tmp_path / "store.db"))
    browser.open(f"{serve(sweep.uri)}/experiments/sweep/models/mlp")
    browser.page.wait_for_selector(".runs-card tbody tr")

    assert headers(browser, ".runs-card")[1:] == [
        "run",
        "status",
        "started",
        "duration",
        "host",
        "lr",
        "batch",
        "optimizer.momentum",
        "exit",
    ]
    table = runs_table(browser)
    assert [row[0:2] for row in table] == [
        ["lr=0.1", "finished"],
        ["lr=0.05", "failed"],
        ["lr=0.01", "running"],
    ]
    assert [row[5:8] for row in table] == [
        ["0.1", "32", "—"],
        ["0.05", "64", "0.9"],
        ["0.01", "32", "—"],
    ]
    assert table[2][4] == "gpu-7"
    assert "ValueError" in table[1][8] and "diverged" in table[1][8]
    assert re.fullmatch(r"\d+ s|\d+ min \d+ s", table[2][3]), table[2][3]


def test_the_experiment_page_shows_each_models_latest_run_and_every_run(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    sweep = fill_sweep(str(tmp_path / "store.db"))
    browser.open(f"{serve(sweep.uri)}/experiments/sweep")
    browser.page.wait_for_selector("table.data tbody tr[data-key='mlp']")

    latest = browser.page.eval_on_selector_all(
        "table.data tbody tr[data-key]",
        """rows => Object.fromEntries(rows.map(row => [row.dataset.key,
            row.querySelector('.run-cell')?.innerText.replace(/\\s+/g, ' ').trim()]))""",
    )
    assert latest == {"mlp": "running lr=0.01 · 3 runs", "cnn": "finished baseline"}

    browser.page.click("button.tab[data-view='runs']")
    browser.page.wait_for_selector(".runs-view tbody tr[data-key]")
    assert "view=runs" in browser.page.url
    assert headers(browser, ".runs-view")[:6] == [
        "model",
        "run",
        "status",
        "started",
        "duration",
        "host",
    ]
    assert headers(browser, ".runs-view")[6:] == ["lr", "batch", "optimizer.momentum", "exit"]
    rows = browser.page.eval_on_selector_all(
        ".runs-view tbody tr",
        "rows => rows.map(row => [...row.cells].slice(0, 3).map(cell => cell.innerText.trim()))",
    )
    assert sorted(rows) == [
        ["cnn", "baseline", "finished"],
        ["mlp-64", "lr=0.01", "running"],
        ["mlp-64", "lr=0.05", "failed"],
        ["mlp-64", "lr=0.1", "finished"],
    ]
    assert rows[0][1] == "baseline"  # the newest first
    screenshot(browser, "experiment-runs")

    browser.page.fill("input[aria-label='Search runs']", "run.status = 'failed'")
    browser.page.press("input[aria-label='Search runs']", "Enter")
    browser.page.wait_for_function(
        "document.querySelectorAll('.runs-view tbody tr[data-key]').length === 1"
    )
    browser.page.reload()  # the view and its search are in the URL
    browser.page.wait_for_selector(f".runs-view tbody tr[data-key='{sweep.runs[1]}']")


def test_a_run_that_ends_or_goes_silent_changes_its_badge_without_a_reload(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("live").models.create("net")
        run = model.runs.start(name="ends")
        run.metrics.log("loss", 1.0, step=0)
        store: Store = tracker.store
        silent = uuid.uuid4()
        store.start_run(RunStart(silent, model.id, "silent", "{}", "{}", time.time(), 60.0))
        series = Series(model.id, "loss", None, silent)
        store.write_points([(series, 0, FLOAT, 2.0, None, time.time())])
        tracker.flush()
        url = serve(uri)
        browser.open(f"{url}/experiments/live/models/net")
        browser.chart("loss")
        assert [entry["status"] for entry in legend(browser, "loss")] == ["running"] * 2
        browser.page.evaluate("window.sameDocument = true")

        run.finish()
        tracker.flush()
        browser.page.wait_for_function(
            f"""document.querySelector(".runs-card tr[data-key='{run.id}'] .badge")
                .dataset.status === 'finished'""",
            timeout=WAIT_MS,
        )
        # Its last heartbeat an hour ago, beyond its 60 s: it reads as crashed.
        store.resume_run(silent, time.time() - 3600, 60.0)
        browser.page.wait_for_function(
            f"""document.querySelector(".runs-card tr[data-key='{silent}'] .badge")
                .dataset.status === 'crashed'""",
            timeout=WAIT_MS,
        )
        assert [entry["status"] for entry in legend(browser, "loss")] == ["finished", "crashed"]
        screenshot(browser, "model-run-crashed")
        assert browser.page.evaluate("window.sameDocument") is True

        browser.open(f"{url}/experiments/live")
        browser.page.wait_for_selector("tr[data-key='net'] .run-cell[data-status='crashed']")
        store.resume_run(silent, time.time(), 60.0)  # it is heard from again
        browser.page.wait_for_selector(
            "tr[data-key='net'] .run-cell[data-status='running']", timeout=WAIT_MS
        )


def test_points_of_no_run_are_a_line_of_their_own(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    """Points that belong to no run (from a writer that predates runs) are drawn as the
    line "no run", beside the runs' lines, with a row of the runs table."""
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("mixed").models.create("net")
        with model.runs.start(name="new") as run:
            for step in range(3):
                run.metrics.log("loss", 1.0, step=step)
        tracker.flush()
        store: Store = tracker.store
        bare = Series(model.id, "loss", None)
        store.write_points([(bare, step, FLOAT, 2.0, None, time.time()) for step in range(5)])
    browser.open(f"{serve(uri)}/experiments/mixed/models/net")

    assert browser.chart("loss")["points"] == {"no run": 5, "new": 3}
    browser.page.wait_for_selector(".runs-card tbody tr[data-key='none']")
    assert [row[0:2] for row in runs_table(browser)] == [["new", "finished"], ["no run", "—"]]
    browser.page.click(".runs-card tbody tr[data-key='none'] td.name")
    browser.page.wait_for_function("location.search.includes('hide=none')")
    assert browser.summary("loss")["drawnLabels"] == ["new"]


def api_requests(browser: Browser, since: int) -> list[str]:
    """The paths (ids as ID) of the API requests made after the first ``since`` requests."""
    return [
        re.sub(r"[0-9a-f-]{36}", "ID", url.split("/api/v1", 1)[1].split("?")[0])
        for url in browser.requests[since:]
        if "/api/v1/" in url
    ]


def wait_for_requests(browser: Browser, since: int, path: str, count: int) -> list[str]:
    """The API requests after the first ``since``, once ``count`` of them were to ``path``
    (waiting up to 60 s: the pages tick every 1 or 2 s)."""
    for _ in range(120):
        asked = api_requests(browser, since)
        if asked.count(path) >= count:
            return asked
        browser.page.wait_for_timeout(500)
    raise AssertionError(f"fewer than {count} requests of {path} in 60 s: {asked}")


def test_an_idle_page_asks_for_one_thing_a_tick(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    """An open page that nothing changes asks, on each tick, for one document: the model
    page (every second) for its live route (it asked for two before runs: the latest
    points and the step), the experiment page (every 2 s) for its overview, runs
    included; the model page's point counts come one tick in ten."""
    sweep = fill_sweep(str(tmp_path / "store.db"))
    url = serve(sweep.uri)
    browser.open(f"{url}/experiments/sweep/models/mlp")
    browser.chart("loss")
    start = len(browser.requests)
    asked = wait_for_requests(browser, start, "/overview/models/ID/live", 12)
    assert set(asked) <= {"/overview/models/ID/live", "/overview/model"}, asked
    assert asked.count("/overview/model") <= 2, asked

    browser.open(f"{url}/experiments/sweep")
    browser.page.wait_for_selector("table.data tbody tr[data-key='mlp']")
    start = len(browser.requests)
    asked = wait_for_requests(browser, start, "/overview/experiment", 4)
    assert set(asked) == {"/overview/experiment"}, asked
