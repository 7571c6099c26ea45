"""Fixtures of the dashboard tests: a real Chromium driven by Playwright, against a tracking
server (a real uvicorn on a socket of this process) over a SQLite store filled through the
library.

Chromium is Debian's (``apt-get install -y chromium``; ``.ci/run`` installs it). Where it is
missing the tests skip, except under ``CI=true``, where they fail. Every page a test opens
must log no console error and raise no exception (:class:`Browser` checks it at the end).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mltracker.server.serve import ServerThread, prepared_store

CHROMIUM = os.environ.get("MLTRACKER_TEST_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Browser:
    """A browser tab with what its pages logged: console errors and uncaught exceptions."""

    page: Any
    context: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def open(self, url: str) -> None:
        self.page.goto(url)

    def expect_errors(self, pattern: str) -> None:
        """Allow the console errors that match ``pattern`` (a failed request the test
        provoked); the others still fail the test."""
        self.expected.append(pattern)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.expected)]

    def chart(self, name: str, timeout: float = 15_000) -> dict[str, Any]:
        """The summary of the chart of metric ``name`` once it is drawn (see chart.js)."""
        self.page.wait_for_function(
            """name => {
                const slot = document.querySelector(`[data-metric="${CSS.escape(name)}"]`);
                return slot && slot.mlChart && slot.mlChart.summary().drawn
                    && !slot.classList.contains("loading");
            }""",
            arg=name,
            timeout=timeout,
        )
        return self.summary(name)

    def summary(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.page.evaluate(
            """name => document.querySelector(`[data-metric="${CSS.escape(name)}"]`)
                .mlChart.summary()""",
            name,
        )
        return found

    def metric_requests(self) -> list[dict[str, list[str]]]:
        """The query of each request for a model's metric points, in order."""
        from urllib.parse import parse_qs, urlsplit

        return [
            parse_qs(urlsplit(url).query)
            for url in self.requests
            if re.search(r"/api/v1/models/[^/]+/metrics\?", url)
        ]


@pytest.fixture
def browser(chromium: Any) -> Iterator[Browser]:
    """A fresh browser context and tab (no cookies) for one test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    tab = Browser(page, context)

    def on_console(message: Any) -> None:
        if message.type == "error":
            tab.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: tab.requests.append(request.url))
    try:
        yield tab
        assert tab.unexpected_errors() == [], json.dumps(tab.unexpected_errors(), indent=2)
    finally:
        context.close()


Serve = Callable[..., str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a server of a store (``serve(uri, token=...)``) and return its URL; every
    server started is stopped at the end of the test."""
    started: list[tuple[ServerThread, Any]] = []

    def start(uri: str, **options: Any) -> str:
        store = prepared_store(uri)
        server = ServerThread(store, **options)
        started.append((server, store))
        return server.url

    yield start
    for server, store in started:
        server.stop(wait=False, then=store.close)  # closed after the requests in progress
