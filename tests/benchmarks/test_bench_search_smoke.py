"""The search and summaries benchmarks work end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_search_benchmark_compares_with_pandas(tmp_path: Path) -> None:
    out = run(
        "bench_search.py",
        "--runs",
        "60",
        "--runs-per-model",
        "20",
        "--flat-runs",
        "3",
        "--flat-points",
        "50,200",
        "--repeat",
        "1",
        "--no-postgres",
        "--workdir",
        str(tmp_path),
    )
    assert "60 x 8 x 10" in out and "3 x 8 x 200" in out
    assert out.count("sqlite") == 3


def test_search_benchmark_writes_through_the_store(tmp_path: Path) -> None:
    out = run(
        "bench_search.py",
        "--runs",
        "30",
        "--flat-points",
        "",
        "--repeat",
        "1",
        "--no-postgres",
        "--write-path",
        "--workdir",
        str(tmp_path),
    )
    assert "30 x 8 x 10" in out


def test_summaries_benchmark_reports_the_cost() -> None:
    out = run("bench_summaries.py", "--points", "2000", "--repeat", "1", "--no-postgres")
    assert "with summaries" in out and "sqlite" in out and "%" in out
