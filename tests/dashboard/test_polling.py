"""What an open model page asks the server while nothing logs: no chart is read again, and
the poll slows down once the model's runs have ended."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

import mltracker
from mltracker.ports.store import RunStart, Series, Store
from mltracker.values import FLOAT

from .conftest import Browser, Serve

NAMES = [f"group{group}/metric{index}" for group in range(10) for index in range(30)]


def _fill(uri: str, *, running: bool, age: float = 0.0) -> None:
    """Model "done" of experiment "quiet": 300 series of 5 points, in a run that has ended,
    or (``running``) in a run that stays running (started through the store, without a
    heartbeat timeout) but logs nothing more, its points logged ``age`` seconds ago."""
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("quiet").models.create("done")
        if not running:
            with model.runs.start(name="only") as run:
                for step in range(5):
                    run.metrics.log_many({name: step * 0.1 for name in NAMES}, step=step)
            return
        store: Store = tracker.store
        run_id = uuid.uuid4()
        store.start_run(RunStart(run_id, model.id, "only", "{}", "{}", time.time(), None))
        store.write_points(
            [
                (
                    Series(model.id, name, None, run_id),
                    step,
                    FLOAT,
                    step * 0.1,
                    None,
                    time.time() - age,
                )
                for step in range(5)
                for name in NAMES
            ]
        )


def _api_requests(browser: Browser) -> list[str]:
    return [url for url in browser.requests if "/api/v1/" in url]


def _quiet_for(browser: Browser, seconds: float) -> list[str]:
    """The API requests the page makes in ``seconds`` once its first charts are drawn."""
    browser.chart(NAMES[0])
    browser.page.wait_for_timeout(1500)  # the first charts' reads
    before = len(_api_requests(browser))
    browser.page.wait_for_timeout(seconds * 1000)
    return _api_requests(browser)[before:]


@pytest.mark.slow
def test_a_finished_run_is_not_read_again_and_polled_slowly(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    _fill(uri, running=False)
    browser.open(f"{serve(uri)}/experiments/quiet/models/done")
    made = _quiet_for(browser, 10)
    print(f"requests in 10 s, finished run: {len(made)}: {made}")
    assert not [url for url in made if re.search(r"/metrics\?", url)]
    assert len(made) <= 2  # its runs have ended: a slow poll


@pytest.mark.slow
def test_a_running_run_that_logs_nothing_is_polled_but_not_read_again(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    _fill(uri, running=True)
    browser.open(f"{serve(uri)}/experiments/quiet/models/done")
    made = _quiet_for(browser, 10)
    print(f"requests in 10 s, running run: {len(made)}: {made}")
    assert not [url for url in made if re.search(r"/metrics\?", url)]
    assert not [url for url in made if "/overview/model?" in url]  # nothing to count again
    assert all(url.endswith("/live") for url in made)  # one request a poll


@pytest.mark.slow
def test_a_running_run_whose_last_point_is_old_is_polled_slowly(
    browser: Browser, serve: Serve, tmp_path: Path
) -> None:
    uri = str(tmp_path / "store.db")
    _fill(uri, running=True, age=3600)
    browser.open(f"{serve(uri)}/experiments/quiet/models/done")
    made = _quiet_for(browser, 10)
    print(f"requests in 10 s, running run, last point an hour old: {len(made)}")
    assert len(made) <= 2
