"""The model page's Points tab and the export read a series a page at a time with the
store's cursor, never the whole series at once."""

from __future__ import annotations

import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest
import urllib3

import mltracker
from mltracker.ports.store import Series, Store
from mltracker.values import FLOAT

from .conftest import Browser, Serve


def _fill(uri: str, count: int) -> None:
    """Experiment "long", model "big": "loss" (phase train) of ``count`` points at steps
    0..count-1, value = step / 1000, written through the store in batches."""
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("long").models.create("big", name="long run")
        tracker.flush()
        store: Store = tracker.store
        series = Series(model.id, "loss", "train", None)
        now = time.time()
        for start in range(0, count, 50_000):
            store.write_points(
                [
                    (series, step, FLOAT, step / 1000, None, now)
                    for step in range(start, min(count, start + 50_000))
                ],
                batch_id=uuid.uuid4(),
            )


def _first_step(browser: Browser) -> str:
    text: str = browser.page.inner_text("table.points tbody tr:first-child td:nth-child(2)")
    return text


def test_the_points_tab_pages_with_the_cursor_and_jumps_to_a_step(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    _fill(uri, 2_000)
    browser.open(f"{serve(uri)}/experiments/long/models/big?tab=points")
    browser.page.wait_for_selector("table.points tbody tr")
    assert "1–50 of 2,000" in browser.page.inner_text(".pager-position")

    browser.page.click("button:text('Next ›')")
    browser.page.wait_for_function(
        "document.querySelector('.pager-position').innerText.startsWith('51–100')"
    )
    assert _first_step(browser) == "50"
    reads = [url for url in browser.requests if "/points?" in url]
    assert "after=" in reads[-1] and "offset=" not in reads[-1]

    browser.page.fill("input[aria-label='Go to step']", "1234")
    browser.page.press("input[aria-label='Go to step']", "Enter")
    browser.page.wait_for_function(
        "document.querySelector('table.points tbody td:nth-child(2)').innerText === '1,234'"
    )
    assert "from=1234" in browser.page.url
    browser.page.click("button:text('Next ›')")
    browser.page.wait_for_function(
        "document.querySelector('table.points tbody td:nth-child(2)').innerText === '1,284'"
    )
    browser.page.click("button:text('‹ Previous')")
    browser.page.wait_for_function(
        "document.querySelector('table.points tbody td:nth-child(2)').innerText === '1,234'"
    )
    browser.page.click("button:text('« First')")
    browser.page.wait_for_function(
        "document.querySelector('table.points tbody td:nth-child(2)').innerText === '0'"
    )
    assert "from=" not in browser.page.url


@pytest.mark.slow
def test_the_export_of_half_a_million_points_runs_in_constant_memory(
    serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    count = 500_000
    _fill(uri, count)
    url = serve(uri)
    tracemalloc.start()
    try:
        answer = urllib3.request(
            "GET",
            f"{url}/api/v1/overview/export?experiment=long&hash=big&format=csv",
            preload_content=False,
        )
        assert answer.status == 200
        lines = 0
        last = b""
        for chunk in answer.stream(1 << 16):
            lines += chunk.count(b"\n")
            last = chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 1 + count
    assert last.splitlines()[-1].split(b",")[6] == str(count - 1).encode()  # the last step
    print(f"export of {count} points: peak {peak / 1e6:.1f} MB traced")
    assert peak < 40e6  # the whole series as Metric objects and rows is several times this


def test_the_parquet_link_is_left_out_without_pyarrow(
    browser: Browser, serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = str(tmp_path / "store.db")
    _fill(uri, 10)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # the server without pyarrow
    browser.open(f"{serve(uri)}/experiments/long/models/big")
    browser.page.wait_for_selector(".exports a:text('CSV')")
    assert browser.page.query_selector(".exports a:text('Parquet')") is None
