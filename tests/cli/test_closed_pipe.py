"""``mltracker ... | head``: a reader that closes the pipe early is a normal end (exit 0)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import mltracker


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store whose outputs are far larger than a pipe's buffer (64 KiB)."""
    path = str(tmp_path_factory.mktemp("pipe") / "big.db")
    with mltracker.connect(path) as tracker:
        model = tracker.experiments.create("big").models.create("h")
        for step in range(3000):
            model.metrics.log("loss", 1 / (step + 1), step=step, phase="train")
        for index in range(2000):
            model.modules.log(f"layer.{index}", {"config": "x" * 50})
    return path


COMMANDS = [
    pytest.param(["export", "big"], id="export-csv"),
    pytest.param(["--json", "export", "big"], id="export-jsonl"),
    pytest.param(["models", "show", "big", "h"], id="tables"),
    pytest.param(["--json", "metrics", "list", "big", "h"], id="metrics-json"),
    pytest.param(["--json", "modules", "list", "big", "h"], id="modules-json"),
]


@pytest.mark.parametrize("args", COMMANDS)
def test_closed_pipe_exits_0_quietly(big_store: str, args: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mltracker", "--uri", big_store, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` does once it has its line
    errors = process.stderr.read().decode()
    process.stderr.close()

    assert process.wait(timeout=120) == 0, errors
    assert first.strip()
    assert errors == ""


@pytest.mark.parametrize("args", COMMANDS)
def test_whole_output_is_larger_than_a_pipe_buffer(big_store: str, args: list[str]) -> None:
    """What makes the test above meaningful: the writer cannot finish before the close."""
    completed = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", big_store, *args],
        capture_output=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "120"},
    )

    assert completed.returncode == 0
    assert len(completed.stdout) > 2 * 65536
