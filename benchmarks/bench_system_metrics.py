"""The cost of system metrics: the CPU time of a run's sampler thread.

```
.venv/bin/python benchmarks/bench_system_metrics.py             # about 80 s
.venv/bin/python benchmarks/bench_system_metrics.py --seconds 600
```

Starts a run with ``system_metrics=True`` in a fresh SQLite store and lets it sample at the
default interval (10 s) for ``--seconds`` (default 60) while the main thread sleeps; the
sampler measures its own thread's CPU time (``time.thread_time``). Then, to see the cost of
one sample precisely, a run samples every 0.05 s, ``--samples`` times. Prints the CPU
seconds per minute, as a share of one core, and per sample; the budget is 0.5% of a core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import mltracker  # noqa: E402

BUDGET = 0.005  # of a core


def sample_for(folder: Path, interval: float, seconds: float, samples: int | None) -> tuple:
    os.environ["MLTRACKER_SYSTEM_METRICS_INTERVAL"] = str(interval)
    with mltracker.connect(folder / f"store-{interval}.db", system_metrics=True) as tracker:
        model = tracker.experiments.get_or_create("bench").models.get_or_create("m")
        with model.runs.start(name="idle") as run:
            sampler = run._handle.sampler  # type: ignore[attr-defined]
            started = time.perf_counter()
            if samples is None:
                time.sleep(seconds)
            else:
                while sampler.samples < samples:
                    time.sleep(0.01)
            wall = time.perf_counter() - started
        cpu, count = sampler.cpu_seconds, sampler.samples
        points = len(model.metrics.list(phase="system"))
    return wall, cpu, count, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wall, cpu, count, points = sample_for(Path(folder), 10.0, args.seconds, None)
        share = cpu / wall
        print(
            f"default interval (10 s), {wall:.0f} s: {count} samples ({points} points), "
            f"sampler CPU {cpu * 1000:.1f} ms = {cpu / wall * 60 * 1000:.1f} ms per minute = "
            f"{share * 100:.3f}% of a core (budget {BUDGET * 100:.1f}%)"
        )
        wall, cpu, count, points = sample_for(Path(folder), 0.05, 0, args.samples)
        per_sample = cpu / count
        print(
            f"every 0.05 s, {count} samples ({points} points): {per_sample * 1000:.2f} ms of CPU "
            f"per sample (start included) -> at 10 s: {per_sample * 6 * 1000:.1f} ms per minute = "
            f"{per_sample / 10 * 100:.3f}% of a core"
        )


if __name__ == "__main__":
    main()
