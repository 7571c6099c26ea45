"""``mltracker import``: the original's db.json files, in process and as a real command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import mltracker

from .helpers import Run

DATA = Path(__file__).resolve().parents[1] / "data" / "original"


def test_import_prints_what_was_added(run: Run) -> None:
    result = run("import", str(DATA / "small.json"))
    assert result.exit_code == 0, result.output
    assert "Imported" in result.output
    assert "added" in result.output


def test_import_twice_adds_nothing_and_says_so(run: Run) -> None:
    assert run("import", str(DATA / "small.json")).exit_code == 0
    result = run("--json", "import", str(DATA / "small.json"))
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert set(document["added"].values()) == {0}
    assert set(document["updated"].values()) == {0}
    assert document["refused"] == []
    assert document["unchanged"] == {
        "experiments": 2,
        "models": 3,
        "runs": 3,
        "metrics": 12,
        "modules": 6,
        "iterations": 3,
    }


def test_import_of_a_bad_file_is_one_error_line(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "db.json"
    bad.write_text("{oops")
    result = run("import", str(bad))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {bad} is not a readable JSON file: Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1)"
    ]


def test_import_of_a_missing_file_is_one_error_line(run: Run, tmp_path: Path) -> None:
    result = run("import", str(tmp_path / "absent.json"))
    assert result.exit_code == 1
    assert result.stderr == f"Error: no such file: {tmp_path / 'absent.json'}\n"


def test_import_command_in_a_real_process(tmp_path: Path) -> None:
    store = tmp_path / "imported.db"
    for fixture in ("small.json", "medium.json"):
        completed = subprocess.run(
            [sys.executable, "-m", "mltracker", "--uri", str(store), "import", str(DATA / fixture)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert completed.returncode == 0, completed.stderr
        assert "Traceback" not in completed.stderr
    with mltracker.connect(store) as tracker:
        names = [e.name for e in tracker.experiments.list()]
        assert names == ["mnist", "cifar", "long-run"]
        mnist = tracker.experiments.read("mnist")
        assert mnist is not None
        model = mnist.models.read("hash-a")
        assert model is not None
        assert (model.name, model.description, model.step) == ("mlp", "two layers", 3)
        special = [point.value for point in model.metrics.list("special")]
        assert math.isnan(special[0]) and special[1:] == [math.inf, -math.inf]
        assert [m.name for m in model.modules.list()] == ["linear", "dropout", "nested"]
        assert [i.step for i in model.iterations.list()] == [1, 2, 3]
        long_run = tracker.experiments.read("long-run")
        assert long_run is not None
        resnet = long_run.models.read("long")
        assert resnet is not None
        assert resnet.step == 500
        assert [p.step for p in resnet.metrics.list("loss")] == list(range(500))
