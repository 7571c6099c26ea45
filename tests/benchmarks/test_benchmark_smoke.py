"""The benchmark runner works end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def test_quick_run_reports_ours_and_raw(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--quick",
            "--points",
            "2000",
            "--no-peers",
            "--no-postgres",
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

    results = json.loads(output.read_text())
    by_who = {record["who"]: record for record in results["sqlite"]}
    for who in ("ours", "raw"):
        assert who in by_who, f"no {who} entry in {sorted(by_who)}"
        assert by_who[who]["points"] == 2000
        assert by_who[who]["rate"] > 0
        assert by_who[who]["read_rate"] > 0
        assert by_who[who]["bytes"] > 0
    assert results["postgres"] == []
