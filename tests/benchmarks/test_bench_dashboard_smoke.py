"""The dashboard benchmark works end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_benchmark_reports_the_read_and_the_page(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_dashboard.py"),
            "--points",
            "3000",
            "--models",
            "7",
            "--per-series",
            "3",
            "--runs",
            "1",
            "--no-browser",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "1. A series of 3,000 points" in completed.stdout
    assert re.search(r"budget=2000 \([\d,]+ kept\)", completed.stdout)
    assert "statements independent of the number of models: MET" in completed.stdout
    assert (tmp_path / "read.db").exists() and (tmp_path / "page.db").exists()
