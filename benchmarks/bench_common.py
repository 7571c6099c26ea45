"""What the benchmark modules share: the logged series, the result record, best-of runs."""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass
from typing import Any

#: The series every benchmark logs: value ``i * 0.001`` at step ``i``, phase "train".
METRIC = "loss"
PHASE = "train"
#: Rows per transaction of the raw baselines (the size of our writer's batches too).
CHUNK = 50_000
#: Measurements at up to this many points are run twice and the best run is kept.
BEST_OF_TWO_UP_TO = 20_000


@dataclass
class Result:
    """One measurement: ``points`` logged in ``seconds`` (plus read time and disk size)."""

    who: str  # "raw", "ours", or a peer: "original", "mlflow", "trackio"
    variant: str
    backend: str  # "sqlite" or "postgresql"
    points: int
    seconds: float
    bytes: int | None = None
    read_seconds: float | None = None
    runs: int = 1

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    @property
    def read_rate(self) -> float | None:
        if self.read_seconds is None or self.read_seconds <= 0:
            return None
        return self.points / self.read_seconds

    @property
    def bytes_per_point(self) -> float | None:
        return None if self.bytes is None else self.bytes / self.points

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["rate"] = round(self.rate, 3)
        record["read_rate"] = None if self.read_rate is None else round(self.read_rate, 3)
        bpp = self.bytes_per_point
        record["bytes_per_point"] = None if bpp is None else round(bpp, 3)
        return record


def runs_for(points: int) -> int:
    return 2 if points <= BEST_OF_TWO_UP_TO else 1


def best(results: list[Result]) -> Result:
    """The run with the best write rate, with the best read time of all runs."""
    top = max(results, key=lambda r: r.rate)
    reads = [r.read_seconds for r in results if r.read_seconds is not None]
    return dataclasses.replace(top, read_seconds=min(reads) if reads else None, runs=len(results))


def settle() -> None:
    """Collect garbage left by the previous measurement before the clock starts."""
    gc.collect()
