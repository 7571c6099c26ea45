"""``mltracker import`` of a file with documents MLTracker cannot keep, and of a newer file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mltracker
from mltracker.cli import cli

from .helpers import Run, parse_json, table_rows

DATA = Path(__file__).resolve().parents[1] / "data" / "original"
QUIRKS = DATA / "quirks.json"


def test_refused_documents_are_listed_and_exit_code_is_1(run: Run) -> None:
    result = run("import", str(QUIRKS))

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "8 documents could not be imported:"
    assert lines[1].endswith("metrics document 3: step 0.5 is not an integer")
    assert lines[-2] == (
        "  /experiments document 2: experiment name must not be empty (left out with its 1 model)"
    )
    assert lines[-1] == (
        f"Error: 8 documents of {QUIRKS} not imported (listed above); the rest was"
    )
    assert len(lines) == 10
    assert table_rows(result.stdout)[0] == ["added", "2", "3", "3", "7", "1", "1"]


def test_refused_documents_in_json(run: Run) -> None:
    result = run("--json", "import", str(QUIRKS))

    assert result.exit_code == 1
    document = parse_json(result.stdout)
    assert len(document["refused"]) == 8
    assert document["refused"][-1] == {
        "document": "/experiments document 2",
        "reason": "experiment name must not be empty (left out with its 1 model)",
    }
    assert document["added"]["metrics"] == 7
    assert result.stderr.splitlines() == [
        f'Error: 8 documents of {QUIRKS} not imported (listed in "refused"); the rest was'
    ]


def test_second_import_of_a_grown_file_shows_updates(run: Run) -> None:
    assert run("import", str(DATA / "growing-1.json")).exit_code == 0

    result = run("import", str(DATA / "growing-2.json"))

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [
        ["added", "0", "1", "1", "3", "2", "1"],
        ["updated", "0", "1", "0", "0", "0", "0"],
        ["unchanged", "1", "0", "1", "3", "2", "1"],
    ]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["import", "{missing}"], id="missing-file"),
        pytest.param(["import", "{bad}"], id="bad-file"),
        pytest.param(["import", str(QUIRKS)], id="refusals"),
    ],
)
def test_import_in_a_real_process_never_starts_stderr_with_a_blank_line(
    tmp_path: Path, args: list[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    args = [arg.format(missing=tmp_path / "absent.json", bad=bad) for arg in args]

    completed = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", str(tmp_path / "store.db"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )

    assert completed.returncode == 1
    assert completed.stderr.strip() and not completed.stderr.startswith("\n")
    assert "Traceback" not in completed.stderr
    assert completed.stderr.splitlines()[-1].startswith("Error: ")


def test_successful_import_in_a_real_process_writes_nothing_but_the_summary(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltracker",
            "--uri",
            str(tmp_path / "store.db"),
            "import",
            str(DATA / "small.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )

    assert completed.returncode == 0
    assert completed.stderr == ""
    assert completed.stdout.startswith("Imported ")
    with mltracker.connect(tmp_path / "store.db") as tracker:
        assert [e.name for e in tracker.experiments.list()] == ["mnist", "cifar"]


def test_refused_documents_are_one_line_each_at_any_width(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "50"})

    result = runner.invoke(cli, ["--uri", str(tmp_path / "store.db"), "import", str(QUIRKS)])

    lines = result.stderr.splitlines()
    assert len(lines) == 10
    assert all(line.startswith("  /") for line in lines[1:-1])
