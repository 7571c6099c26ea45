"""nginx (Debian's ``/usr/sbin/nginx``) as a reverse proxy in front of a server, in a process
of the test: one process, in the foreground, its configuration, pid, logs and temporary files
in a folder of the test, so that it runs as root or not without touching the system's.

The ``location`` blocks come from the caller (the README's, with the server's port).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

NGINX = os.environ.get("MLTRACKER_TEST_NGINX", "/usr/sbin/nginx")
IN_CI = os.environ.get("CI", "").lower() == "true"
README = Path(__file__).resolve().parents[2] / "README.md"

_CONFIG = """daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""


def readme_location(upstream_port: int) -> str:
    """The README's nginx ``location`` block, passing on to the server on ``upstream_port``."""
    blocks = re.findall(r"```nginx\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    # The one of "Behind a reverse proxy" (the TLS section has a whole ``server`` of its own).
    [block] = [found for found in blocks if found.startswith("location /mltracker/")]
    assert "127.0.0.1:8765" in block, block
    return block.replace("127.0.0.1:8765", f"127.0.0.1:{upstream_port}")


def require_nginx() -> str:
    """The nginx program; the test skips without it (fails under ``CI=true``, where
    ``.ci/run`` installs it)."""
    if not (Path(NGINX).is_file() and os.access(NGINX, os.X_OK)):
        message = f"no nginx at {NGINX} (apt-get install -y nginx): the reverse proxy of the test"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return NGINX


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Nginx:
    """nginx serving ``locations`` on a free port of 127.0.0.1 (``url``); use it as a context
    manager. ``folder`` holds its configuration and logs."""

    def __init__(self, folder: Path, locations: str) -> None:
        program = require_nginx()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = folder / "nginx.conf"
        indented = "\n".join("        " + line for line in locations.splitlines())
        config.write_text(
            _CONFIG.format(folder=folder, port=self.port, locations=indented), encoding="utf-8"
        )
        checked = subprocess.run(
            [program, "-t", "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, f"nginx refuses its configuration:\n{checked.stderr}"
        with open(folder / "stderr.log", "wb") as stderr:
            self._process = subprocess.Popen(
                [program, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        # Until it listens or ends (a hang is the test's timeout).
        while not self._listening():
            if self._process.poll() is not None:
                raise AssertionError(f"nginx ended at start; its log:\n{self.log()}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        except OSError:
            return False
        return True

    def log(self) -> str:
        """Its error log (and what it printed)."""
        parts = [self.folder / "error.log", self.folder / "stderr.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.is_file())[-6000:]

    def access_log(self) -> list[str]:
        path = self.folder / "access.log"
        return path.read_text(errors="replace").splitlines() if path.is_file() else []

    def __enter__(self) -> Nginx:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process.poll() is None:
            self._process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            shutil.rmtree(self.folder / name, ignore_errors=True)
