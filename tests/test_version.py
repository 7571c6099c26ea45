"""One version everywhere: ``version`` in pyproject.toml, the installed distribution's metadata,
``mltracker.__version__``, ``mltracker --version`` and the server's ``/api/v1/health``."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import urllib3

import mltracker
from tests.conftest import serving

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


def _get(url: str) -> tuple[int, dict[str, Any]]:
    """``GET url`` over a real socket: its status and JSON body."""
    answer = urllib3.request("GET", url, timeout=30)
    return answer.status, json.loads(answer.data)


def test_health_reports_the_package_version_beside_its_other_fields(sqlite_uri: str) -> None:
    with serving(sqlite_uri) as url:
        status, health = _get(url + "/api/v1/health")
        assert status == 200, health
        assert set(health) == {"status", "store_id", "schema_version", "server_version"}
        assert health["status"] == "ok"
        assert health["server_version"] == _installed_version()
        status, described = _get(url + "/api/v1/openapi.json")
        assert status == 200 and described["info"]["version"] == _installed_version()
