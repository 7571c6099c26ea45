"""The build step of the dashboard's third-party files.

The dashboard draws its charts with uPlot, and ``/api/docs`` is Swagger UI
(``swagger-ui-dist``): npm packages pinned by ``frontend/package-lock.json``. No third-party
file is committed: building the wheel (``pip
install .``, ``pip wheel .``) and the editable install (``pip install -e .``) run ``npm ci`` in
``frontend/`` and copy the files the dashboard loads into
``src/mltracker/server/static/vendor/`` (ignored by git), which the wheel ships.

A stamp in that folder records the lockfile it was made from: a later build with the same
lockfile and the files in place does not run npm again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

FRONTEND = "frontend"
VENDOR = "src/mltracker/server/static/vendor"
#: What the dashboard loads: a file of ``frontend/node_modules`` -> its name in VENDOR.
FILES = {
    "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "uplot/dist/uPlot.min.css": "uPlot.min.css",
    "uplot/LICENSE": "uPlot.LICENSE.txt",
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui.css",
    "swagger-ui-dist/LICENSE": "swagger-ui.LICENSE.txt",
    "swagger-ui-dist/NOTICE": "swagger-ui.NOTICE.txt",
}
STAMP = ".lockfile-sha256"


class DashboardFilesHook(BuildHookInterface):
    """Fetch the dashboard's npm dependencies and copy them into the package."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        vendor = root / VENDOR
        lockfile = root / FRONTEND / "package-lock.json"
        digest = hashlib.sha256(lockfile.read_bytes()).hexdigest()
        stamp = vendor / STAMP
        current = (
            stamp.is_file()
            and stamp.read_text(encoding="utf-8").strip() == digest
            and all((vendor / name).is_file() for name in FILES.values())
        )
        if not current:
            self._npm_ci(root / FRONTEND)
            vendor.mkdir(parents=True, exist_ok=True)
            for source, name in FILES.items():
                shutil.copyfile(root / FRONTEND / "node_modules" / source, vendor / name)
            stamp.write_text(digest + "\n", encoding="utf-8")
        build_data["artifacts"].extend(f"/{VENDOR}/{name}" for name in FILES.values())

    def _npm_ci(self, frontend: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "building mltracker needs npm (Node.js) to fetch the dashboard's chart "
                "library and the API docs' Swagger UI (uPlot and swagger-ui-dist, pinned by "
                "frontend/package-lock.json): install Node.js and npm, then build again"
            )
        self.app.display_info(
            "npm ci (the dashboard's uPlot and Swagger UI, from frontend/package-lock.json)"
        )
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            subprocess.run(command, cwd=frontend, check=True)
        except subprocess.CalledProcessError as error:
            raise RuntimeError(
                f"`npm ci` failed in {frontend} (exit code {error.returncode}); the dashboard "
                "needs its chart library and Swagger UI: check that the npm registry is "
                "reachable"
            ) from None
