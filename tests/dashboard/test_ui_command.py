"""``mltracker ui`` as a real process: it prints the dashboard's URL and serves the store as
it is, read-only; it creates no store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import urllib3

from .stores import fill


def start(tmp_path: Path, *arguments: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "MLTRACKER_TOKEN": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "mltracker", *arguments],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ui_serves_the_dashboard_of_the_store_read_only(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    fill(str(path))
    before = path.stat().st_mtime_ns
    process = start(tmp_path, "--uri", str(path), "ui", "--port", "0")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url

        page = urllib3.request("GET", url + "/")
        assert page.status == 200 and b"/static/js/app.js" in page.data
        experiments = json.loads(urllib3.request("GET", url + "/api/v1/overview/experiments").data)
        assert [row["name"] for row in experiments] == ["spirals", "empty"]
        write = urllib3.request("POST", url + "/api/v1/experiments", json={"name": "new"})
        assert write.status == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert f"MLTracker dashboard of {path}" in stderr
    assert "Traceback" not in stderr, stderr
    assert path.stat().st_mtime_ns == before


def test_ui_refuses_a_store_that_is_not_there(tmp_path: Path) -> None:
    process = start(tmp_path, "--uri", str(tmp_path / "none.db"), "ui", "--port", "0")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "no store at" in stderr
    assert not (tmp_path / "none.db").exists()


def test_ui_refuses_to_open_its_own_url_behind_a_proxy(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    fill(str(path))
    process = start(
        tmp_path, "--uri", str(path), "ui", "--port", "0", "--root-path", "/m", "--open"
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "--open" in stderr and "reverse proxy" in stderr and "Traceback" not in stderr


def test_ui_serves_under_a_root_path(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    fill(str(path))
    process = start(tmp_path, "--uri", str(path), "ui", "--port", "0", "--root-path", "/m/")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        page = urllib3.request("GET", url + "/experiments/spirals")
        assert page.status == 200 and b'src="/m/static/js/app.js"' in page.data
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert "through the reverse proxy, at its path /m/" in stderr, stderr
