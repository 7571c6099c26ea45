"""``/api/docs`` is Swagger UI of the package (npm's ``swagger-ui-dist``, copied at build time):
in Chromium, with every request to anywhere but the server refused, it shows every operation
of the OpenAPI document, and asked for nothing elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import urllib3

import mltracker.server

from .conftest import Browser, Serve

VENDOR = Path(mltracker.server.__file__).parent / "static" / "vendor"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_the_package_holds_swagger_ui_and_its_license() -> None:
    assert (VENDOR / "swagger-ui-bundle.js").stat().st_size > 100_000
    assert (VENDOR / "swagger-ui.css").stat().st_size > 10_000
    assert "Apache License" in (VENDOR / "swagger-ui.LICENSE.txt").read_text(encoding="utf-8")
    assert (VENDOR / "swagger-ui.NOTICE.txt").is_file()


def test_the_api_docs_render_offline(browser: Browser, serve: Serve, tmp_path: Path) -> None:
    url = serve(str(tmp_path / "store.db"))
    blocked: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    browser.context.route("**/*", only_the_server)
    browser.open(url + "/api/docs")
    browser.page.wait_for_selector(".opblock")

    document = json.loads(urllib3.request("GET", url + "/api/v1/openapi.json").data)
    operations = sum(
        1 for path in document["paths"].values() for method in path if method in METHODS
    )
    assert operations > 20
    browser.page.wait_for_function(
        "count => document.querySelectorAll('.opblock').length === count", arg=operations
    )
    shown = browser.page.eval_on_selector_all(
        ".opblock-summary-path", "nodes => nodes.map(node => node.dataset.path)"
    )
    assert "/api/v1/health" in shown
    assert blocked == []
    loaded = [u for u in browser.requests if "/static/vendor/swagger-ui" in u]
    assert sorted(loaded) == [
        f"{url}/static/vendor/swagger-ui-bundle.js",
        f"{url}/static/vendor/swagger-ui.css",
    ]
    assert all(u.startswith(url + "/") for u in browser.requests), browser.requests
    browser.page.screenshot(path=str(tmp_path / "api-docs.png"))
