"""The dashboard under a path of a reverse proxy: nginx, configured with the README's
``location`` block, in front of ``mltracker server --root-path /mltracker`` (real processes),
opened in Chromium through nginx only. The login, the pages, a chart, the API's documentation
and the logout work, and every request the browser makes stays under ``/mltracker/`` and
succeeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.helpers import ServerProcess

import mltracker

from .conftest import Browser
from .nginx import Nginx, readme_location, require_nginx
from .stores import fill

TOKEN = "s3cret-token-of-the-proxy"
ROOT = "/mltracker"
#: Where a screenshot of the model page through the proxy is left, to look at.
SCREENSHOT = "model-behind-proxy.png"


class Traffic:
    """What the browser asked for: each URL, the requests that failed, the answers >= 400."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.failed: list[str] = []
        self.refused: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on(
            "requestfailed",
            lambda request: self.failed.append(f"{request.url}: {request.failure}"),
        )
        page.on(
            "response",
            lambda response: (
                self.refused.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )


def test_the_dashboard_works_under_a_path_of_nginx(tmp_path: Path, browser: Browser) -> None:
    require_nginx()
    store = fill(str(tmp_path / "store.db"))
    options = ("--token", TOKEN, "--root-path", ROOT)
    with (
        ServerProcess(store.uri, *options, log=tmp_path / "server.log") as server,
        Nginx(tmp_path / "nginx", readme_location(server.port)) as nginx,
    ):
        base = f"{nginx.url}{ROOT}"
        page = browser.page
        traffic = Traffic(page)

        # A page asks for the token, under the path, then comes back to it.
        browser.open(f"{base}/experiments/spirals?q=64")
        page.wait_for_selector("input[name=token]")
        assert page.url == f"{base}/login?next=%2Fexperiments%2Fspirals%3Fq%3D64"
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("tr[data-key='b2']")
        assert page.url == f"{base}/experiments/spirals?q=64"
        [cookie] = browser.context.cookies()
        assert cookie["path"] == ROOT and cookie["httpOnly"] is True

        # Links between pages, without reloading: the experiments, an experiment, a model.
        page.click("a.brand")
        page.wait_for_selector("tr[data-key='spirals']")
        assert page.url == f"{base}/"
        page.click("tr[data-key='spirals'] a")
        page.wait_for_selector("tr[data-key='a1']")
        assert page.url == f"{base}/experiments/spirals"
        page.click("tr[data-key='a1'] a")
        assert browser.chart("loss")["labels"] == ["train", "validation"]
        assert page.url == f"{base}/experiments/spirals/models/a1"
        page.screenshot(path=str(tmp_path / SCREENSHOT), full_page=False)

        # A page loaded by its URL, and the export link of the model.
        page.reload()
        assert browser.chart("accuracy")["labels"] == ["train"]
        export = page.get_attribute("a[download]", "href")
        assert export is not None and export.startswith(f"{ROOT}/api/v1/overview/export?")
        download = page.evaluate(
            "async href => { const r = await fetch(href); return [r.status, await r.text()]; }",
            export,
        )
        status, text = download
        assert status == 200 and "loss" in text, download

        # The API's documentation, under the path too.
        page.click("a.toplink[href$='/api/docs']")
        page.wait_for_selector(".opblock")
        assert page.url == f"{base}/api/docs"

        page.go_back()
        page.wait_for_selector("#logout:not([hidden])")
        page.click("#logout")
        page.wait_for_selector("input[name=token]")
        assert page.url == f"{base}/login"
        assert browser.context.cookies() == []

        outside = [url for url in traffic.urls if not url.startswith(f"{base}/")]
        assert outside == [], json.dumps(outside, indent=2)
        assert traffic.failed == [], json.dumps(traffic.failed, indent=2)
        assert traffic.refused == [], json.dumps(traffic.refused, indent=2)
        assert any("/static/vendor/uPlot.iife.min.js" in url for url in traffic.urls)
        assert any("/static/vendor/swagger-ui-bundle.js" in url for url in traffic.urls)
        # Every request came through nginx, under the path.
        requests = [line.split('"')[1].split()[1] for line in nginx.access_log()]
        assert requests and all(path.startswith(f"{ROOT}/") for path in requests), requests

        # Jobs log through the proxy too: the client's URL may have a path.
        with mltracker.connect(base, token=TOKEN) as tracker:
            experiment = tracker.experiments.read("spirals")
            assert experiment is not None
            model = experiment.models.read("a1")
            assert model is not None
            model.metrics.log("through-proxy", 1.5, step=0)
            assert [point.value for point in model.metrics.list("through-proxy")] == [1.5]
        assert "Traceback" not in server.stderr(), server.stderr()
