"""The listing benchmark works end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_listing_benchmark_reports_both_commands(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_listing.py"),
            "--models",
            "12",
            "--runs",
            "1",
            "--before-src",
            str(ROOT / "src"),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "12 models of 2 series x 3 points" in completed.stdout
    lines = completed.stdout.splitlines()
    for command in ("models list", "experiments show"):
        assert any(line.startswith(command) and line.endswith("x") for line in lines)
    assert (tmp_path / "listing-12.db").exists()
