"""Running the peer benchmarks of ``benchmarks/peers/`` in their own virtual environments.

The venvs are made by ``bash benchmarks/peers/setup.sh`` under ``$MLTRACKER_BENCH_VENVS``
(default ``~/.cache/mltracker-bench``). Each run is a subprocess that prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench_common import Result

PEERS_DIR = Path(__file__).resolve().parent / "peers"


def venvs_dir() -> Path:
    return Path(os.environ.get("MLTRACKER_BENCH_VENVS", "~/.cache/mltracker-bench")).expanduser()


@dataclass(frozen=True)
class Peer:
    key: str  # the venv and script name
    variant: str | None  # --variant, if the script has several
    label: str  # how tables name it
    cap_option: str  # the run.py option that caps its number of points
    default_cap: int

    @property
    def python(self) -> Path:
        return venvs_dir() / self.key / "bin" / "python"

    @property
    def script(self) -> Path:
        return PEERS_DIR / f"{self.key}_bench.py"

    @property
    def dest(self) -> str:
        return self.cap_option.removeprefix("--").replace("-", "_")


PEERS = (
    Peer("original", None, "original 0.4.0", "--cap-original", 5_000),
    Peer("mlflow", "log_metric", "mlflow log_metric", "--cap-mlflow-metric", 5_000),
    Peer("mlflow", "log_batch", "mlflow log_batch", "--cap-mlflow-batch", 100_000),
    Peer("trackio", None, "trackio", "--cap-trackio", 100_000),
)


def label_of(who: str, variant: str) -> str:
    for peer in PEERS:
        if peer.key == who and (peer.variant is None or peer.variant == variant):
            return peer.label
    return f"{who} {variant}"


class PeerError(Exception):
    pass


def run_peer(peer: Peer, n: int, workdir: Path, timeout: float) -> Result:
    """One run of the peer's script at ``n`` points; raises ``PeerError`` if it fails."""
    command = [str(peer.python), str(peer.script), "--points", str(n), "--workdir", str(workdir)]
    if peer.variant is not None:
        command += ["--variant", peer.variant]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise PeerError(f"{peer.label} at {n:,} points: no result within {timeout:.0f} s") from None
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
        raise PeerError(
            f"{peer.label} at {n:,} points failed (exit {completed.returncode}): {tail}"
        )
    try:
        record = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise PeerError(f"{peer.label} at {n:,} points printed no JSON: {lines[-1]!r}") from None
    return Result(
        who=record["peer"],
        variant=record["variant"],
        backend="sqlite" if record["peer"] != "original" else "tinydb",
        points=int(record["points"]),
        seconds=float(record["seconds"]),
        bytes=record.get("bytes"),
        read_seconds=record.get("read_seconds"),
    )
