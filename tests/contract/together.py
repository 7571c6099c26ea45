"""Run Python scripts in several processes that start their work at the same moment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_together(script: str, args: list[str], count: int, cwd: Path) -> list[str]:
    """Start ``count`` processes of ``script``; each prints ``ready`` when set up, then waits
    for a line on stdin before its work. Return their outputs after ``ready``.

    Raises:
        AssertionError: A process failed (with its stderr).
    """
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for _ in range(count)
    ]
    try:
        for child in children:  # every one is set up before any of them starts
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    return [out for out, _ in outputs]
