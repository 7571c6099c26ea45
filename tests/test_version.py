"""One version everywhere: ``version`` in pyproject.toml, the installed distribution's metadata,
``mltracker.__version__``, ``mltracker --version`` and the server's ``/api/v1/health``."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import mltracker

ROOT = Path(__file__).resolve().parent.parent


def _installed_version() -> str:
    return importlib.metadata.version("mltracker")


def test_the_package_version_is_the_one_of_pyproject() -> None:
    with open(ROOT / "pyproject.toml", "rb") as file:
        declared = tomllib.load(file)["project"]["version"]
    assert _installed_version() == declared
    assert mltracker.__version__ == declared


def test_mltracker_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"mltracker, version {_installed_version()}\n"


def _get(app: Any, path: str) -> tuple[int, dict[str, Any]]:
    """``GET path`` of the ASGI application ``app``: its status and JSON body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


def test_health_reports_the_package_version_beside_its_other_fields(tmp_path: Path) -> None:
    from mltracker.server.app import create_app
    from mltracker.server.serve import prepared_store

    store = prepared_store(str(tmp_path / "store.db"))
    try:
        app = create_app(store)
        status, health = _get(app, "/api/v1/health")
        assert status == 200, health
        assert set(health) == {"status", "store_id", "schema_version", "server_version"}
        assert health["status"] == "ok"
        assert health["server_version"] == _installed_version()
        status, described = _get(app, "/api/v1/openapi.json")
        assert status == 200 and described["info"]["version"] == _installed_version()
    finally:
        store.close()
