"""Long outputs are streamed: ``metrics list`` and ``export`` of a long series print rows as
they read them, in memory that does not grow with the series (SPEC §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mltracker

from .helpers import invoke

#: Runs the CLI with its arguments, output to the null device, then prints the process's
#: peak resident memory in kB on stderr: VmHWM, which starts afresh at exec (``ru_maxrss``
#: would include the memory of the process that started it).
_MEASURE = """
import sys
from mltracker.cli import main
sys.argv = ["mltracker", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    if end.code:
        raise
with open("/proc/self/status") as status:
    peak = next(line for line in status if line.startswith("VmHWM:"))
print(peak.split()[1], file=sys.stderr)
"""


def _store(path: Path, points: int) -> str:
    uri = str(path)
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("exp").models.create("h")
        log = model.metrics.log
        for step in range(points):
            log("loss", step * 0.001, step=step, phase="train", timestamp=1.7e9 + step)
    return uri


def _peak_kb(*args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
        check=True,
    )
    return int(done.stderr.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("metrics", "list", "exp", "h"), id="metrics-list"),
        pytest.param(("--json", "metrics", "list", "exp", "h"), id="metrics-list-json"),
        pytest.param(("export", "exp", "h", "--format", "csv"), id="export-csv"),
        pytest.param(("export", "exp", "--format", "jsonl"), id="export-jsonl"),
    ],
)
def test_memory_does_not_grow_with_the_series(tmp_path: Path, command: tuple[str, ...]) -> None:
    small = _store(tmp_path / "small.db", 20_000)
    large = _store(tmp_path / "large.db", 200_000)

    growth = _peak_kb("--uri", large, *command) - _peak_kb("--uri", small, *command)

    # Holding the 180,000 more points (or their lines) would take well over 50 MB.
    assert growth < 20_000, f"peak memory grew by {growth} kB for 10x the points"


def test_parquet_export_of_several_row_groups_keeps_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    from mltracker import export

    monkeypatch.setattr(export, "ROW_GROUP_SIZE", 7)
    uri = _store(tmp_path / "store.db", 30)
    target = tmp_path / "out.parquet"

    result = invoke("--uri", uri, "export", "exp", "h", "--output", str(target))

    assert result.exit_code == 0, result.output
    table = pq.read_table(target)
    assert table.column("step").to_pylist() == list(range(30))
    assert pq.ParquetFile(target).num_row_groups == 5


def test_metrics_list_longer_than_a_page_prints_every_row_under_one_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mltracker.cli import parts

    monkeypatch.setattr(parts, "PAGE_SIZE", 4)
    uri = _store(tmp_path / "store.db", 11)

    lines = invoke("--uri", uri, "metrics", "list", "exp", "h").output.splitlines()

    assert sum("step" in line for line in lines) == 1
    rows = [line for line in lines if "loss" in line]
    assert [row.split()[1] for row in rows] == [str(step) for step in range(11)]
    assert lines[0].startswith("┏") and lines[-1].startswith("└")


@pytest.mark.parametrize("points", [0, 1, 4, 5, 9])
def test_metrics_list_json_is_the_same_document_page_by_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, points: int
) -> None:
    from mltracker.cli import parts

    uri = _store(tmp_path / "store.db", points)
    whole = invoke("--uri", uri, "--json", "metrics", "list", "exp", "h").output
    monkeypatch.setattr(parts, "PAGE_SIZE", 2)

    paged = invoke("--uri", uri, "--json", "metrics", "list", "exp", "h").output

    assert paged == whole
    assert len(json.loads(paged)) == points


@pytest.mark.parametrize("limit", [0, 1, 3, 4, 5, 100])
def test_metrics_list_limit_reads_no_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    from mltracker.cli import parts

    monkeypatch.setattr(parts, "PAGE_SIZE", 2)
    uri = _store(tmp_path / "store.db", 9)

    output = invoke("--uri", uri, "--json", "metrics", "list", "exp", "h", "--limit", str(limit))

    assert [point["step"] for point in json.loads(output.output)] == list(range(min(limit, 9)))
