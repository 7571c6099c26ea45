"""What the URL and the history hold: a model reached by its name, a history entry per tab,
the zoom, a compared model left out with the rest of the page's state; and a chart's last x
label drawn whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Browser, Serve
from .stores import Filled, fill, fill_long
from .test_charts import drag


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    return fill(str(tmp_path / "store.db"))


def test_a_model_s_name_opens_it_and_its_tabs_are_history_entries(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    url = serve(filled.uri)
    browser.open(f"{url}/experiments/spirals")
    browser.page.click("tr[data-key='a1'] a:text('mlp-16')")
    browser.page.wait_for_selector("button.tab[data-tab='modules']")
    assert browser.page.url.endswith("/experiments/spirals/models/a1")

    browser.page.click("button.tab[data-tab='modules']")
    browser.page.wait_for_function("location.search.includes('tab=modules')")
    browser.page.click("button.tab[data-tab='points']")
    browser.page.wait_for_function("location.search.includes('tab=points')")
    browser.page.go_back()
    browser.page.wait_for_function("location.search.includes('tab=modules')")
    browser.page.wait_for_selector("button.tab[data-tab='modules'][aria-selected='true']")
    browser.page.go_back()
    browser.page.wait_for_function("location.pathname.endsWith('/models/a1') && !location.search")
    browser.page.wait_for_selector("button.tab[data-tab='charts'][aria-selected='true']")
    browser.page.go_back()
    browser.page.wait_for_function("location.pathname.endsWith('/experiments/spirals')")


def test_the_zoom_is_in_the_url(browser: Browser, serve: Serve, tmp_path: Path) -> None:
    uri = str(tmp_path / "store.db")
    fill_long(uri, 2_000, spike_at=1_000)
    url = serve(uri)
    browser.open(f"{url}/experiments/long/models/big")
    browser.chart("loss")
    drag(browser, "loss", 0.40, 0.60)
    browser.page.wait_for_function("location.search.includes('zoom=')")
    zoom = browser.summary("loss")["zoom"]

    browser.open(browser.page.url)  # a reload, or the link shared
    browser.page.wait_for_function(
        """() => { const slot = document.querySelector('[data-metric="loss"]');
                   return slot && slot.mlChart && slot.mlChart.summary().zoom; }"""
    )
    browser.chart("loss")
    again = browser.summary("loss")
    assert again["zoom"]["min"] == pytest.approx(zoom["min"], rel=1e-9)
    assert again["zoom"]["max"] == pytest.approx(zoom["max"], rel=1e-9)
    assert again["points"]["train"] < 2_000  # the window read, not the whole series
    assert browser.page.is_visible("[data-metric='loss'] button:has-text('reset zoom')")
    browser.page.click("[data-metric='loss'] button:has-text('reset zoom')")
    browser.page.wait_for_function("!location.search.includes('zoom=')")


def test_the_last_x_label_is_drawn_whole(browser: Browser, serve: Serve, tmp_path: Path) -> None:
    uri = str(tmp_path / "store.db")
    fill_long(uri, 2_001, spike_at=1_000)
    browser.page.set_viewport_size({"width": 900, "height": 900})  # a tick at the last step
    browser.open(f"{serve(uri)}/experiments/long/models/big")
    browser.chart("loss")
    overflow = browser.page.evaluate(
        """() => {
            const u = document.querySelector('[data-metric="loss"]').mlChart.plot;
            const axis = u.axes[0];
            const values = axis._values;
            const splits = axis._splits;
            const ctx = u.ctx;
            ctx.save();
            ctx.font = axis.font[0];
            let worst = -Infinity;
            for (let i = 0; i < splits.length; i++) {
                if (values[i] === null || values[i] === undefined) continue;
                const x = u.valToPos(splits[i], "x") + u.bbox.left / devicePixelRatio;
                const half = ctx.measureText(String(values[i])).width / 2;
                worst = Math.max(worst, x + half - u.width);
            }
            ctx.restore();
            return {worst, last: values[values.length - 1]};
        }"""
    )
    assert overflow["last"] == "2,000"
    assert overflow["worst"] <= 0, overflow


def test_leaving_a_compared_model_out_keeps_the_page_s_state(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    url = serve(filled.uri)
    browser.open(f"{url}/experiments/spirals/compare?models=a1,b2,c3&smooth=0.5&log=loss&x=time")
    browser.chart("loss")
    browser.page.click("button[aria-label='Leave mlp-64 (b2) out']")
    browser.page.wait_for_function("!location.search.includes('b2')")
    query = browser.page.evaluate("location.search")
    assert "smooth=0.5" in query and "log=loss" in query and "x=time" in query
    assert browser.chart("loss")["log"] is True
