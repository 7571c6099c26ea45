"""What the charts draw: zoomed ranges read again from the server, NaN and infinities as
markers, long series as min/max bands that keep their spikes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import mltracker

from .conftest import Browser, Serve
from .stores import fill, fill_long, fill_special


def drag(browser: Browser, name: str, start: float, stop: float) -> None:
    """Drag across the plot of chart ``name`` from ``start`` to ``stop`` (fractions of its
    width)."""
    box = browser.page.locator(f"[data-metric='{name}'] .u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    browser.page.mouse.move(box["x"] + box["width"] * start, y)
    browser.page.mouse.down()
    browser.page.mouse.move(box["x"] + box["width"] * (start + stop) / 2, y, steps=4)
    browser.page.mouse.move(box["x"] + box["width"] * stop, y, steps=4)
    browser.page.mouse.up()


def y_scale(browser: Browser, name: str) -> dict[str, Any]:
    found: dict[str, Any] = browser.page.evaluate(
        """name => {
            const y = document.querySelector(`[data-metric="${name}"]`).mlChart.plot.scales.y;
            return {min: y.min, max: y.max};
        }""",
        name,
    )
    return found


@pytest.fixture
def long_store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store.db")
    fill_long(uri, 20_000, spike_at=12_345)
    return uri


def test_a_zoomed_range_is_read_again_from_the_server_at_full_resolution(
    browser: Browser, serve: Serve, long_store: str
) -> None:
    browser.open(f"{serve(long_store)}/experiments/long/models/big")
    whole = browser.chart("loss")
    assert whole["points"]["train"] < 20_000  # cut to the chart's budget by the server
    asked = len(browser.metric_requests())

    drag(browser, "loss", 0.40, 0.42)
    browser.page.wait_for_function(
        """() => { const s = document.querySelector('[data-metric="loss"]').mlChart.summary();
                   return s.zoom && s.loads === 2; }"""
    )
    query = browser.metric_requests()[asked]
    start, stop = int(query["start_step"][0]), int(query["stop_step"][0])
    assert 7_000 < start < stop < 9_500
    zoomed = browser.summary("loss")
    assert zoomed["points"] == {"train": stop - start}  # every point of the range
    assert zoomed["zoom"]["min"] >= start - 1 and zoomed["zoom"]["max"] <= stop

    browser.page.dblclick("[data-metric='loss'] .u-over")
    browser.page.wait_for_function(
        "document.querySelector('[data-metric=\"loss\"]').mlChart.summary().loads === 3"
    )
    assert browser.summary("loss")["zoom"] is None
    assert "start_step" not in browser.metric_requests()[-1]


def test_a_long_series_is_a_band_that_keeps_its_single_point_spike(
    browser: Browser, serve: Serve, long_store: str
) -> None:
    browser.open(f"{serve(long_store)}/experiments/long/models/big")
    loss = browser.chart("loss")
    budget = int(browser.metric_requests()[0]["budget"][0])
    assert loss["points"]["train"] <= budget + 2
    assert loss["dense"] == {"train": True}
    assert y_scale(browser, "loss")["max"] >= 100.0  # the spike at one step of 20,000


def test_nan_and_infinities_are_markers_that_keep_the_axis(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    fill_special(uri)
    browser.open(f"{serve(uri)}/experiments/odd/models/nan")

    loss = browser.chart("loss")
    assert loss["specials"] == {"train": {"nan": 1, "inf": 1, "-inf": 1}}
    assert loss["points"] == {"train": 40}
    scale = y_scale(browser, "loss")
    assert 0.5 < scale["min"] <= 1.0 and 2.0 <= scale["max"] < 3.0
    legend = browser.page.inner_text("[data-metric='loss'] .chart-legend")
    assert "1 NaN" in legend and "1 +inf" in legend and "1 −inf" in legend

    grad = browser.chart("grad")  # its last value is NaN: shown, not drawn
    assert grad["specials"] == {"(no phase)": {"nan": 1, "inf": 0, "-inf": 0}}
    assert "NaN" in browser.page.inner_text("[data-metric='grad'] .chart-legend")

    browser.page.click("a:text-is('odd')")
    browser.page.wait_for_selector("tr[data-key='nan']")
    assert "NaN" in browser.page.inner_text("tr[data-key='nan']")


def test_a_log_scale_leaves_out_values_below_zero_and_zero(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    import mltracker

    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        for step, value in enumerate([10.0, 1.0, 0.0, -1.0, 0.1]):
            model.metrics.log("loss", value, step=step)
    browser.open(f"{serve(uri)}/experiments/e/models/m")
    browser.chart("loss")
    browser.page.click("[data-metric='loss'] button:text('log')")
    browser.page.wait_for_function("location.search.includes('log=loss')")
    scale = y_scale(browser, "loss")
    assert scale["min"] > 0 and scale["max"] >= 10


def test_smoothing_draws_the_raw_line_faint_behind_its_average(
    browser: Browser, serve: Serve, long_store: str
) -> None:
    browser.open(f"{serve(long_store)}/experiments/long/models/big?smooth=0.9")
    browser.chart("loss")
    strokes = browser.page.evaluate(
        """() => document.querySelector('[data-metric="loss"]').mlChart.plot.series
            .map(s => [s.label, s._stroke || s.stroke])"""
    )
    labels = [label for label, _ in strokes]
    assert "train" in labels and "train (smoothed)" in labels


def test_hovering_a_chart_shows_each_line_s_value_at_that_step(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    import mltracker

    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        for step in range(11):
            model.metrics.log("loss", step / 10, step=step, phase="train")
            model.metrics.log("loss", 2 + step / 10, step=step, phase="validation")
    browser.open(f"{serve(uri)}/experiments/e/models/m")
    browser.chart("loss")
    box = browser.page.locator("[data-metric='loss'] .u-over").bounding_box()
    assert box is not None
    browser.page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)

    legend = browser.page.locator("[data-metric='loss'] .chart-legend")
    browser.page.wait_for_function(
        "document.querySelector('[data-metric=\"loss\"] .chart-legend').innerText"
        ".includes('step 5')"
    )
    assert legend.inner_text().split() == ["step", "5", "train", "0.5", "validation", "2.5"]


def test_switching_the_x_axis_of_a_zoomed_chart_keeps_its_window_and_its_reset(
    browser: Browser, serve: Serve, long_store: str
) -> None:
    browser.open(f"{serve(long_store)}/experiments/long/models/big")
    whole = browser.chart("loss")["points"]["train"]
    drag(browser, "loss", 0.40, 0.42)
    browser.page.wait_for_function(
        """() => { const s = document.querySelector('[data-metric="loss"]').mlChart.summary();
                   return s.zoom && s.loads === 2; }"""
    )
    zoomed = browser.summary("loss")["points"]["train"]

    browser.page.click("button.seg[data-x='time']")
    after = browser.summary("loss")
    assert after["xMode"] == "time"
    assert after["zoom"] is not None and after["zoom"]["min"] > 1e9  # the window, in time
    assert after["points"]["train"] == zoomed
    assert browser.page.is_visible("[data-metric='loss'] button:has-text('reset zoom')")

    browser.page.dblclick("[data-metric='loss'] .u-over")
    browser.page.wait_for_function(
        "document.querySelector('[data-metric=\"loss\"]').mlChart.summary().loads === 3"
    )
    back = browser.summary("loss")
    assert back["zoom"] is None and back["points"]["train"] == whole
    assert browser.page.is_hidden("[data-metric='loss'] button:has-text('reset zoom')")

    drag(browser, "loss", 0.40, 0.42)  # zoomed by time, then back to steps
    browser.page.wait_for_function(
        "document.querySelector('[data-metric=\"loss\"]').mlChart.summary().loads === 4"
    )
    browser.page.click("button.seg[data-x='step']")
    steps = browser.summary("loss")
    assert steps["xMode"] == "step"
    assert 0 <= steps["zoom"]["min"] < steps["zoom"]["max"] < 20_000
    browser.page.click("[data-metric='loss'] button:has-text('reset zoom')")
    browser.page.wait_for_function(
        "document.querySelector('[data-metric=\"loss\"]').mlChart.summary().loads === 5"
    )
    assert browser.summary("loss")["zoom"] is None


def test_the_legend_counts_the_nan_of_the_whole_series(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("odd").models.create("many-nan")
        for step in range(20_000):
            value = math.nan if step % 10 == 0 else 1.0 + step / 20_000
            model.metrics.log("loss", value, step=step, phase="train")
    url = serve(uri)
    browser.open(f"{url}/experiments/odd/models/many-nan")
    loss = browser.chart("loss")
    assert loss["points"]["train"] < 20_000  # a budgeted read: a NaN per bucket at most
    assert loss["specials"]["train"]["nan"] == 2_000
    assert "2,000 NaN" in browser.page.inner_text("[data-metric='loss'] .chart-legend")

    drag(browser, "loss", 0.40, 0.42)  # zoomed: still the whole series' count
    browser.page.wait_for_function(
        "document.querySelector('[data-metric=\"loss\"]').mlChart.summary().loads === 2"
    )
    assert "2,000 NaN" in browser.page.inner_text("[data-metric='loss'] .chart-legend")

    browser.open(f"{url}/experiments/odd/compare?models=many-nan")  # the same on compare
    assert browser.chart("loss")["specials"]["many-nan · train"]["nan"] == 2_000


def test_charts_share_the_page_s_width_and_one_can_be_enlarged(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    fill(uri)
    browser.page.set_viewport_size({"width": 1400, "height": 900})
    browser.open(f"{serve(uri)}/experiments/spirals/models/a1")
    for name in ("loss", "accuracy", "lr"):
        browser.chart(name)
    grid = browser.page.eval_on_selector(".chart-grid", "node => node.clientWidth")
    widths = {name: browser.summary(name)["size"]["width"] for name in ("loss", "accuracy", "lr")}
    assert all(width >= 0.4 * grid for width in widths.values()), (grid, widths)

    loads = browser.summary("loss")["loads"]
    browser.page.click("[data-metric='loss'] button[aria-label='Enlarge']")
    browser.page.wait_for_function(
        f"""() => {{ const s = document.querySelector('[data-metric="loss"]').mlChart.summary();
                    return s.loads > {loads} && s.size.width > {0.9 * grid}; }}"""
    )
    assert browser.summary("loss")["size"]["height"] > 400
    browser.page.click("[data-metric='loss'] button[aria-label='Enlarge']")
    browser.page.wait_for_function(
        f"""() => document.querySelector('[data-metric="loss"]').mlChart.summary().size.width
                  < {0.6 * grid}"""
    )
