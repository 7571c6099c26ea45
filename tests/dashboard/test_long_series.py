"""A series of a million points: the server sends the chart its budget of points (min and
max of each bucket), which the chart draws as a band; the spike of a single point shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Browser, Serve
from .stores import fill_long
from .test_charts import y_scale


@pytest.mark.slow
def test_a_series_of_a_million_points_renders_with_its_spike(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    fill_long(uri, 1_000_000, spike_at=765_432)
    browser.open(f"{serve(uri)}/experiments/long/models/big")

    loss = browser.chart("loss", timeout=120_000)
    budget = int(browser.metric_requests()[0]["budget"][0])
    assert loss["points"]["train"] <= budget + 2
    assert loss["dense"] == {"train": True}
    assert y_scale(browser, "loss")["max"] >= 100.0
    assert "1,000,000" in browser.page.inner_text(".facts")
