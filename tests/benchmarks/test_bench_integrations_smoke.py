"""The integrations benchmark works end to end at a tiny size (no timing is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_integrations.py"


@pytest.mark.slow
def test_quick_run_reports_ours_and_no_logger(tmp_path: Path) -> None:
    pytest.importorskip("lightning", reason="the lightning extra is not installed")
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(output), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "our overhead under 1% of the step time" in completed.stdout
    results = {record["logger"]: record for record in json.loads(output.read_text())}
    assert sorted(results) == ["none", "ours"]
    for record in results.values():
        assert record["steps"] == 300 and record["steps_per_second"] > 0
    assert results["ours"]["logger_us_per_step"] > 0
    assert (tmp_path / "ours-0" / "mltracker.db").exists()
