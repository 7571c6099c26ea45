"""The Runs view of an experiment page searches in the grammar of run searches: the server
answers the runs in its order, an error shows its position under the box while the table
keeps the last good answer, the search is in the URL (Back works), the param columns put
those that vary first, summary columns are picked, a header orders through the server, and
a poll updates the rows in place (the search box keeps its focus and selection)."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import mltracker

from .conftest import Browser, Serve
from .stores import GRID, fill_grid, grid_loss, grid_name
from .test_runs import headers, screenshot

BOX = "input[aria-label='Search runs']"
ORDER = "input[aria-label='Order runs']"
ROWS = ".runs-view tbody tr[data-key]"


def names(browser: Browser) -> list[str]:
    found: list[str] = browser.page.eval_on_selector_all(
        ROWS, "rows => rows.map(row => row.querySelector('td.name').innerText.trim())"
    )
    return found


def wait_names(browser: Browser, expected: list[str]) -> None:
    browser.page.wait_for_function(
        """expected => {
            const rows = [...document.querySelectorAll(".runs-view tbody tr[data-key]")];
            const shown = rows.map(row => row.querySelector("td.name").innerText.trim());
            return JSON.stringify(shown) === JSON.stringify(expected);
        }""",
        arg=expected,
    )


def url_query(browser: Browser) -> dict[str, list[str]]:
    return parse_qs(urlsplit(browser.page.url).query)


def search(browser: Browser, where: str) -> None:
    browser.page.fill(BOX, where)
    browser.page.press(BOX, "Enter")


def by_min(params: dict[str, float]) -> float:
    return grid_loss(params, 4)


def open_grid(browser: Browser, serve: Serve, tmp_path: Path) -> tuple[str, list[uuid.UUID]]:
    uri = str(tmp_path / "store.db")
    ids = fill_grid(uri)
    browser.open(f"{serve(uri)}/experiments/grid?view=runs")
    browser.page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === {len(GRID)}")
    return uri, ids


def test_a_search_filters_and_orders_and_stays_in_the_url(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    open_grid(browser, serve, tmp_path)
    assert names(browser) == [grid_name(params) for params in reversed(GRID)]  # newest first

    search(browser, "params.lr < 0.05 AND metrics.loss@validation.min < 0.35")
    browser.page.fill(ORDER, "metrics.loss@validation.min DESC")
    browser.page.press(ORDER, "Enter")
    kept = [p for p in GRID if p["lr"] < 0.05 and by_min(p) < 0.35]
    expected = [grid_name(p) for p in sorted(kept, key=by_min, reverse=True)]
    assert len(expected) == 4
    wait_names(browser, expected)
    assert browser.page.inner_text(".runs-count") == "4 runs of 12"
    query = url_query(browser)
    assert query["where"] == ["params.lr < 0.05 AND metrics.loss@validation.min < 0.35"]
    assert query["order_by"] == ["metrics.loss@validation.min DESC"]
    screenshot(browser, "search-runs")

    search(browser, "params.seed = 1 AND params.width = 128")
    wait_names(browser, [grid_name(p) for p in GRID if p["seed"] == 1 and p["width"] == 128][::-1])

    browser.page.go_back()  # the search before
    wait_names(browser, expected)
    assert browser.page.input_value(BOX) == (
        "params.lr < 0.05 AND metrics.loss@validation.min < 0.35"
    )

    browser.page.reload()  # a search can be shared: the URL holds it
    wait_names(browser, expected)


def test_an_error_shows_its_position_and_the_table_keeps_the_last_answer(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    browser.expect_errors("status of 422")
    open_grid(browser, serve, tmp_path)
    search(browser, "params.seed = 0 AND params.lr = 0.1")
    wait_names(browser, ["lr=0.1,w=128,s=0", "lr=0.1,w=64,s=0"])

    search(browser, "params.lr < AND")
    browser.page.wait_for_selector(".search-error:not([hidden])")
    message = browser.page.inner_text(".search-error .search-message")
    assert "at position 12" in message
    assert message.startswith("bad where:")
    caret = browser.page.eval_on_selector(
        ".search-error .search-caret",
        "pre => [pre.querySelector('.search-source').textContent, "
        "pre.querySelector('.caret').textContent]",
    )
    assert caret == ["params.lr < AND", " " * 12 + "^"]  # under the "A" of AND
    assert names(browser) == ["lr=0.1,w=128,s=0", "lr=0.1,w=64,s=0"]  # the last good answer
    screenshot(browser, "search-error")

    search(browser, "params.lr < 0.005 AND params.seed = 0")
    wait_names(browser, ["lr=0.001,w=128,s=0", "lr=0.001,w=64,s=0"])
    assert browser.page.is_hidden(".search-error")


def test_param_columns_vary_first_and_a_header_orders_through_the_server(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    open_grid(browser, serve, tmp_path)
    # optimizer, logged first, is the same in every run: its column comes after the others
    assert headers(browser, ".runs-view")[6:] == ["lr", "width", "seed", "optimizer", "exit"]
    search(browser, "params.width = 64")
    wait_names(browser, [grid_name(p) for p in GRID if p["width"] == 64][::-1])
    # among the runs shown, width no longer varies
    browser.page.wait_for_function(
        """() => [...document.querySelectorAll(".runs-view thead th")].map(th => th.innerText
            .replace(/[▴▾]/g, "").trim().toLowerCase()).slice(6).join(",")
            === "lr,seed,optimizer,width,exit"
        """
    )

    browser.page.click(".runs-view thead th.param:has-text('seed') button")
    order = [p for p in GRID if p["width"] == 64]
    wait_names(browser, [grid_name(p) for p in sorted(order, key=lambda p: p["seed"])])
    assert url_query(browser)["order_by"] == ["params.seed"]
    browser.page.click(".runs-view thead th.param:has-text('seed') button")
    # DESC; runs that tie stay oldest first
    expected = [grid_name(p) for p in sorted(order, key=lambda p: -p["seed"])]
    wait_names(browser, expected)
    assert url_query(browser)["order_by"] == ["params.seed DESC"]
    assert browser.page.get_attribute(".runs-view th[aria-sort]", "aria-sort") == "descending"
    assert browser.page.input_value(ORDER) == "params.seed DESC"


def test_a_summary_column_is_picked_and_orders_by_its_series(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    open_grid(browser, serve, tmp_path)
    options = browser.page.eval_on_selector_all(
        "select.add-column option", "options => options.map(option => option.value)"
    )
    assert options == [
        "",
        "metrics.loss@validation.last",
        "metrics.loss@validation.min",
        "metrics.loss@validation.max",
    ]
    browser.page.select_option("select.add-column", "metrics.loss@validation.min")
    browser.page.wait_for_selector(".runs-view thead th.summary")
    assert headers(browser, ".runs-view")[-2:] == ["loss · validation min", "exit"]
    assert url_query(browser)["rcols"] == ["metrics.loss@validation.min"]

    browser.page.click(".runs-view thead th.summary button")  # numbers: DESC first
    wait_names(browser, [grid_name(p) for p in sorted(GRID, key=by_min, reverse=True)])
    assert url_query(browser)["order_by"] == ["metrics.loss@validation.min DESC"]
    cells = browser.page.eval_on_selector_all(
        ".runs-view tbody td.summary", "cells => cells.map(cell => cell.innerText.trim())"
    )
    best = min(GRID, key=by_min)
    assert cells[-1] == f"{by_min(best):.6g}"
    screenshot(browser, "search-summary-column")

    browser.page.click(".summary-chip button.remove")
    browser.page.wait_for_selector(".runs-view thead th.summary", state="detached")


def test_a_poll_updates_the_rows_in_place_while_someone_types(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri, ids = open_grid(browser, serve, tmp_path)
    browser.page.select_option("select.add-column", "metrics.loss@validation.last")
    search(browser, "params.width = 64 AND params.seed = 0")
    first = GRID.index({"optimizer": "adam", "lr": 0.001, "width": 64, "seed": 0})
    wait_names(browser, ["lr=0.1,w=64,s=0", "lr=0.01,w=64,s=0", "lr=0.001,w=64,s=0"])
    browser.page.evaluate(
        """() => { window.markedRow = document.querySelector(".runs-view tbody tr[data-key]");
                   window.markedHead = document.querySelector(".runs-view thead th"); }"""
    )

    browser.page.click(BOX)
    browser.page.keyboard.press("End")
    browser.page.keyboard.type(" AND params.lr")  # the debounced search of it fails: 422
    browser.expect_errors("status of 422")
    browser.page.evaluate(f'document.querySelector("{BOX}").setSelectionRange(4, 9)')
    # a run resumes and logs a point: the next poll shows its last loss
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.get_or_create("grid").models.get_or_create("mlp")
        with model.runs.start(resume=ids[first]) as resumed:
            resumed.metrics.log("loss", 0.125, step=5, phase="validation")
    browser.page.wait_for_function(
        """() => [...document.querySelectorAll(".runs-view tbody td.summary")]
            .some(cell => cell.innerText.trim() === "0.125")"""
    )
    state = browser.page.evaluate(
        f"""() => {{
            const box = document.querySelector("{BOX}");
            return {{
                focused: document.activeElement === box,
                selection: [box.selectionStart, box.selectionEnd],
                value: box.value,
                sameRow: window.markedRow.isConnected,
                sameHead: window.markedHead.isConnected,
            }};
        }}"""
    )
    assert state == {
        "focused": True,
        "selection": [4, 9],
        "value": "params.width = 64 AND params.seed = 0 AND params.lr",
        "sameRow": True,
        "sameHead": True,
    }
    browser.page.keyboard.press("End")
    browser.page.keyboard.type(" < 0.005")
    browser.page.keyboard.press("Enter")
    wait_names(browser, ["lr=0.001,w=64,s=0"])
    assert browser.page.is_hidden(".search-error")
