"""The HTTP benchmark works end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_http.py"


def test_quick_run_reports_embedded_one_client_and_many_clients(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--points",
            "600",
            "--clients",
            "3",
            "--no-mlflow",
            "--workdir",
            str(tmp_path / "stores"),
            "--json",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Targets" in completed.stdout
    assert "MLflow server: left out (--no-mlflow)" in completed.stdout

    results = json.loads(output.read_text())
    writes = {
        (record["who"], record["clients"], record["each"]): record for record in results["writes"]
    }
    assert sorted(writes) == [
        ("embedded", 1, 600),
        ("http", 1, 600),
        ("http", 3, 200),
        ("http", 3, 600),
    ]
    for (_, clients, each), record in writes.items():
        assert record["points"] == clients * each
        assert record["rate"] > 0
    reads = {record["who"]: record for record in results["reads"]}
    assert sorted(reads) == ["embedded list", "http budget", "http list"]
    assert all(record["points"] == 600 and record["rate"] > 0 for record in reads.values())
    assert reads["http list"]["returned"] == 600
    assert [t["status"] for t in results["targets"]][-1] == "NOT MEASURED"  # MLflow
