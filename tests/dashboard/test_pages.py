"""Every page of the dashboard renders what the store holds, with no console error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import Browser, Serve
from .stores import EPOCHS, Filled, fill


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    return fill(str(tmp_path / "store.db"))


def rows(browser: Browser, table: str = "table.data") -> list[list[str]]:
    """The cells of the rows of the data tables that ``table`` selects."""
    found: list[list[str]] = browser.page.eval_on_selector_all(
        f"{table} tbody tr:not(.empty)",
        "rows => rows.map(row => [...row.cells].map(cell => cell.innerText.trim()))",
    )
    return found


def test_the_experiments_page_lists_each_experiment_with_its_counts(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    browser.open(serve(filled.uri))
    browser.page.wait_for_selector("table.data tbody tr[data-key='spirals']")

    table = {row[0]: row for row in rows(browser)}
    assert set(table) == {"spirals", "empty"}
    # name, models, points (3 models x 12 epochs x 4 series), last activity, created
    assert table["spirals"][1:3] == ["3", f"{3 * EPOCHS * 4}"]
    assert table["empty"][1:3] == ["0", "0"]


def test_the_experiment_page_shows_each_model_with_its_latest_values(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    browser.page.goto(serve(filled.uri))
    browser.page.click("a:text-is('spirals')")
    browser.page.wait_for_selector("table.data tbody tr[data-key='a1']")

    assert browser.page.url.endswith("/experiments/spirals")
    headers = browser.page.eval_on_selector_all(
        "table.data thead th", "cells => cells.map(cell => cell.innerText.trim().toLowerCase())"
    )
    assert headers[1:8] == [
        "hash",
        "name",
        "step",
        "description",
        "points",
        "last activity",
        "latest run",
    ]
    assert headers[8:12] == ["accuracy · train", "loss · train", "loss · validation", "lr"]
    table = {row[1]: row for row in rows(browser)}
    assert table["a1"][2:5] == ["mlp-16", str(EPOCHS), "one hidden layer"]
    assert table["a1"][9] == "0.0833333"  # loss · train at the last epoch: 1/12
    assert table["c3"][11] == f"{0.05 * 0.9 ** (EPOCHS - 1):.6g}"


def test_the_experiment_page_filters_and_sorts_and_keeps_both_in_its_url(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    url = serve(filled.uri)
    browser.open(f"{url}/experiments/spirals")
    browser.page.wait_for_selector("table.data tbody tr[data-key='a1']")

    browser.page.fill("input[aria-label='Filter models']", "64")
    browser.page.wait_for_function("location.search.includes('q=64')")
    assert [row[1] for row in rows(browser)] == ["b2", "c3"]
    browser.page.click("th button:text-is('loss · train')")  # numbers sort descending first
    browser.page.wait_for_function("location.search.includes('sort=')")
    assert [row[1] for row in rows(browser)] == ["c3", "b2"]

    browser.page.reload()  # the URL holds the state
    browser.page.wait_for_selector("table.data tbody tr[data-key='c3']")
    assert [row[1] for row in rows(browser)] == ["c3", "b2"]
    assert browser.page.input_value("input[aria-label='Filter models']") == "64"


def test_models_picked_on_the_experiment_page_are_compared(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    browser.open(f"{serve(filled.uri)}/experiments/spirals")
    browser.page.wait_for_selector("table.data tbody tr[data-key='a1']")
    browser.page.check("tr[data-key='a1'] input[type=checkbox]")
    browser.page.check("tr[data-key='c3'] input[type=checkbox]")
    browser.page.click("button:text('Compare 2 models')")

    browser.page.wait_for_url("**/experiments/spirals/compare?models=a1,c3")
    loss = browser.chart("loss")
    assert sorted(loss["labels"]) == [
        "mlp-16 · train",
        "mlp-16 · validation",
        "mlp-64 · train",
        "mlp-64 · validation",
    ]
    assert set(loss["points"].values()) == {EPOCHS}
    # the hyper-parameters that differ: the width of the first layer (the optimizer is an
    # iteration's module, not the model's)
    differing = browser.page.eval_on_selector_all(
        "table.diff tbody tr.differs td:first-child", "cells => cells.map(c => c.innerText)"
    )
    assert differing == ["layers.0.out_features"]

    browser.page.go_back()  # the back button returns to the experiment, selection kept
    browser.page.wait_for_selector("tr[data-key='a1'] input:checked")
    assert "sel=a1,c3" in browser.page.url


def test_the_model_page_draws_a_chart_per_metric_with_a_line_per_phase(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    browser.open(f"{serve(filled.uri)}/experiments/spirals/models/a1")

    loss = browser.chart("loss")
    assert loss["labels"] == ["train", "validation"]
    assert loss["points"] == {"train": EPOCHS, "validation": EPOCHS}
    assert loss["xMode"] == "step" and loss["zoom"] is None
    assert browser.chart("accuracy")["labels"] == ["train"]
    assert browser.chart("lr")["labels"] == ["(no phase)"]
    facts = browser.page.inner_text(".facts")
    assert f"step {EPOCHS}" in facts and f"points {EPOCHS * 4}" in facts


def test_the_model_page_options_are_kept_in_its_url(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    url = f"{serve(filled.uri)}/experiments/spirals/models/a1"
    browser.open(f"{url}?x=time&smooth=0.6&log=loss&q=loss")

    loss = browser.chart("loss")
    assert (loss["xMode"], loss["log"], loss["smoothing"]) == ("time", True, 0.6)
    assert browser.page.is_hidden("[data-metric='accuracy']")
    browser.page.click("button[data-x='step']")
    browser.page.wait_for_function("!location.search.includes('x=time')")
    assert browser.summary("loss")["xMode"] == "step"


def test_the_model_page_tabs_show_modules_iterations_and_points(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    browser.open(f"{serve(filled.uri)}/experiments/spirals/models/b2")
    browser.page.click("button.tab[data-tab='modules']")
    browser.page.wait_for_selector("table.modules")
    modules = browser.page.inner_text("table.modules")
    assert "layers.0" in modules and "out_features" in modules and "64" in modules

    browser.page.click("button.tab[data-tab='iterations']")
    lr = browser.chart("optimizer.lr")
    assert lr["points"] == {"optimizer.lr": EPOCHS}
    browser.page.click("table.iterations tbody tr:first-child")
    assert "Step 0" in browser.page.inner_text(".iteration-detail")
    assert "at=0" in browser.page.url

    browser.page.click("button.tab[data-tab='points']")
    browser.page.wait_for_selector("table.points tbody tr")
    assert browser.page.input_value("select[aria-label='Series']") == "loss · train"
    assert f"of {EPOCHS}" in browser.page.inner_text(".pager-position")
    assert len(rows(browser, "table.points")) == EPOCHS
    browser.page.select_option("select[aria-label='Series']", "lr")
    browser.page.wait_for_function("location.search.includes('series=lr')")


def test_the_export_links_download_the_model_s_points(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    browser.open(f"{serve(filled.uri)}/experiments/spirals/models/a1")
    browser.page.wait_for_selector(".exports a")
    with browser.page.expect_download() as download:
        browser.page.click(".exports a:text('CSV')")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert download.value.suggested_filename == "spirals-a1.csv"
    assert lines[0].startswith("experiment,model_hash,model_name,run,name,phase,step")
    assert len(lines) == 1 + EPOCHS * 4


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/experiments/nothing", id="experiment"),
        pytest.param("/experiments/spirals/models/zz", id="model"),
    ],
)
def test_a_page_of_something_missing_says_so(
    browser: Browser, serve: Serve, filled: Filled, path: str
) -> None:
    browser.open(serve(filled.uri) + path)
    browser.page.wait_for_selector(".notice.error")
    assert "Not found" in browser.page.inner_text(".notice.error")
    browser.expect_errors("status of 404")


def test_names_with_slashes_and_any_unicode_make_working_urls(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    import mltracker

    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("runs/été 2024").models.create("h/1", name="ü")
        model.metrics.log("train/loss", 0.5, step=1)
    browser.open(serve(uri))
    browser.page.click("a:text-is('runs/été 2024')")
    browser.page.click("a:text-is('h/1')")
    assert browser.chart("train/loss")["points"] == {"(no phase)": 1}
    assert browser.page.url.endswith(f"/experiments/{quote('runs/été 2024', safe='')}/models/h%2F1")
