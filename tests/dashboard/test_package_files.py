"""The dashboard's third-party files come from npm at build time, pinned by the lockfile; none
is committed, none is loaded from elsewhere."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import mltracker.server

ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(mltracker.server.__file__).parent / "static"


def test_the_installed_package_holds_the_chart_library() -> None:
    vendor = STATIC / "vendor"
    assert (vendor / "uPlot.iife.min.js").stat().st_size > 10_000
    assert (vendor / "uPlot.min.css").is_file()
    assert "MIT" in (vendor / "uPlot.LICENSE.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["uplot", "swagger-ui-dist"])
def test_the_lockfile_pins_the_dashboards_packages(name: str) -> None:
    package = json.loads((ROOT / "frontend" / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "frontend" / "package-lock.json").read_text(encoding="utf-8"))
    version = package["dependencies"][name]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "an exact version, not a range"
    locked = lock["packages"][f"node_modules/{name}"]
    assert locked["version"] == version and locked["integrity"].startswith("sha512-")


def test_no_third_party_file_is_committed() -> None:
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert not [name for name in tracked if "vendor/" in name or "node_modules/" in name]
    assert not [name for name in tracked if "uplot" in name.lower()]
    assert not [name for name in tracked if "swagger-ui" in name.lower()]


def test_every_page_loads_only_files_of_the_server() -> None:
    texts = [path.read_text(encoding="utf-8") for path in STATIC.rglob("*.html")]
    texts += [path.read_text(encoding="utf-8") for path in (STATIC / "js").rglob("*.js")]
    texts.append((STATIC / "app.css").read_text(encoding="utf-8"))
    for text in texts:
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
        assert not re.search(r"""import[^;]*from\s+["'](https?:)?//""", text)
        assert "@import" not in text
