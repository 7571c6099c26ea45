"""Shared helpers for the peer benchmark scripts.

Imported by scripts that run under different interpreters (3.11 and 3.12),
so it uses the standard library only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path

_real_stdout_fd: int | None = None


def quiet_stdout() -> None:
    """Send everything written to stdout (Python or C level) to stderr.

    The benchmark's single JSON line is written by ``emit`` to the saved
    original stdout, so library banners and progress output cannot mix in.
    """
    global _real_stdout_fd
    if _real_stdout_fd is not None:
        return
    sys.stdout.flush()
    _real_stdout_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)


def parse_args(description: str, variants: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--points", type=int, required=True, help="number of metric points")
    parser.add_argument("--workdir", type=Path, required=True, help="directory for the store")
    if variants:
        parser.add_argument("--variant", choices=variants, default=variants[0])
    args = parser.parse_args()
    if args.points < 1:
        parser.error("--points must be >= 1")
    args.workdir = args.workdir.expanduser().resolve()
    return args


def fresh_dir(path: Path) -> Path:
    """Return an empty directory at ``path``, removing a previous run's store."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def store_bytes(path: Path) -> int:
    """Total size in bytes of all files under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def value(i: int) -> float:
    return i * 0.001


def check_series(values: list[float], n: int, peer: str) -> None:
    """Fail loudly if a read-back series is not the one that was logged."""
    if len(values) != n:
        raise SystemExit(f"{peer}: read back {len(values)} points, expected {n}")
    expected = [value(i) for i in range(n)]
    if sorted(values) != expected:
        raise SystemExit(f"{peer}: read-back values differ from the logged ones")


def emit(
    peer: str, variant: str, points: int, seconds: float, nbytes: int, read_seconds: float | None
) -> None:
    record = {
        "peer": peer,
        "variant": variant,
        "points": points,
        "seconds": round(seconds, 6),
        "rate": round(points / seconds, 3) if seconds > 0 else None,
        "bytes": nbytes,
        "read_seconds": None if read_seconds is None else round(read_seconds, 6),
    }
    line = (json.dumps(record) + "\n").encode()
    sys.stderr.flush()
    fd = _real_stdout_fd if _real_stdout_fd is not None else 1
    os.write(fd, line)
