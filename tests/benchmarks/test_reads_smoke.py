"""The read benchmark works end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_reads.py"


def test_quick_run_reports_every_read_and_the_targets(tmp_path: Path) -> None:
    output = tmp_path / "reads.json"
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "Targets" in completed.stdout
    reads = {read["who"]: read for read in json.loads(output.read_text())}
    for who in (
        "raw sqlite3 fetchall",
        "ours metrics.list",
        "ours metrics.to_pandas",
        "ours metrics.to_arrow",
        "ours metrics.latest",
        "ours budget 2,000",
        "CLI metrics list: first row",
    ):
        assert reads[who]["points"] == 2000 and reads[who]["seconds"] > 0, who
