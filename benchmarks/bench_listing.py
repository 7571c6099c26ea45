"""Listing an experiment of many models from the command line, before and after reading them
in a constant number of queries.

```
.venv/bin/python benchmarks/bench_listing.py --models 10000
```

Fills a SQLite store with one experiment of ``--models`` models (each with a step and
``--series`` series of ``--points`` points), then times ``mltracker --uri DB models list EXP``
and ``mltracker --uri DB experiments show EXP`` as subprocesses, best of ``--runs``, with two
versions of the package: ``src/`` of ``--before-ref`` (by default the last commit whose CLI read
each model's step and latest points with a query per model; extracted with ``git archive``)
or of ``--before-src DIR``, and this checkout's ``src/``. Both print the same output (checked).
Progress goes to stderr, the figures and their ratios to stdout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import mltracker  # noqa: E402
from mltracker.ports.store import ExperimentRecord, MetricRecord, ModelRecord  # noqa: E402

#: The last commit whose ``models list`` and ``experiments show`` ran a query per model.
BEFORE_REF = "c659ff4"
EXPERIMENT = "many"
COMMANDS = {
    "models list": ["models", "list", EXPERIMENT],
    "experiments show": ["experiments", "show", EXPERIMENT],
}


@dataclass
class Timing:
    command: str
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.before / self.after if self.after > 0 else float("inf")


def fill(path: Path, models: int, series: int, points: int) -> None:
    """One experiment of ``models`` models, written in one transaction."""
    start = time.time() - models * series * points
    records = [
        ModelRecord(
            id=uuid.uuid4(),
            hash=f"{number:016x}",
            name=f"model-{number}",
            description=None,
            step=points,
            metrics=[
                MetricRecord(
                    name=f"metric_{index}",
                    value=1.0 / (number + step + 1),
                    step=step,
                    phase="train",
                    timestamp=start + (number * points + step) * series + index,
                )
                for step in range(points)
                for index in range(series)
            ],
            modules=[],
            iterations=[],
        )
        for number in range(models)
    ]
    with mltracker.connect(path) as connection:
        connection.store.restore([ExperimentRecord(uuid.uuid4(), EXPERIMENT, records)])


def extract_src(ref: str, into: Path) -> Path:
    """``src/`` of the commit ``ref`` of this repository, written under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def environment(src: Path) -> dict[str, str]:
    """The environment that makes ``python -m mltracker`` import the package from ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src), COLUMNS="200")
    env.pop("MLTRACKER_URI", None)
    found = subprocess.run(
        [sys.executable, "-c", "import mltracker; print(mltracker.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"mltracker is imported from {found}, not from {src}")
    return env


def best_of(runs: int, env: dict[str, str], arguments: list[str]) -> tuple[float, bytes]:
    """The shortest wall-clock time of ``runs`` runs of the CLI, and what it printed."""
    times: list[float] = []
    output = b""
    for _ in range(runs):
        began = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "mltracker", *arguments], env=env, capture_output=True
        )
        times.append(time.perf_counter() - began)
        if completed.returncode != 0:
            raise SystemExit(f"{' '.join(arguments)} failed: {completed.stderr.decode()}")
        output = completed.stdout
    return min(times), output


def measure(path: Path, before: dict[str, str], after: dict[str, str], runs: int) -> list[Timing]:
    timings: list[Timing] = []
    for label, command in COMMANDS.items():
        arguments = ["--uri", str(path), *command]
        print(f"timing {label}, before", file=sys.stderr)
        before_seconds, before_output = best_of(runs, before, arguments)
        print(f"timing {label}, after", file=sys.stderr)
        after_seconds, after_output = best_of(runs, after, arguments)
        if before_output != after_output:
            raise SystemExit(f"{label}: the output differs before and after")
        timings.append(Timing(label, before_seconds, after_seconds))
    return timings


def report(timings: list[Timing], args: argparse.Namespace, before: str) -> str:
    lines = [
        f"SQLite, {args.models:,} models of {args.series} series x {args.points} points, "
        f"best of {args.runs} subprocess runs (same output before and after)",
        f"before: {before}",
        f"{'command':<18} {'before (s)':>11} {'after (s)':>10} {'ratio':>7}",
    ]
    lines += [
        f"{t.command:<18} {t.before:>11.2f} {t.after:>10.2f} {t.ratio:>6.1f}x" for t in timings
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10_000, help="models in the experiment")
    parser.add_argument("--series", type=int, default=2, help="series per model")
    parser.add_argument("--points", type=int, default=3, help="points per series")
    parser.add_argument("--runs", type=int, default=3, help="runs per command; the best counts")
    parser.add_argument("--before-ref", default=BEFORE_REF, help="commit to compare against")
    parser.add_argument("--before-src", type=Path, help="a src/ directory to compare against")
    parser.add_argument("--workdir", type=Path, help="keep the store here (default: temporary)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.before_src is not None:
            before_src, before = args.before_src, str(args.before_src)
        else:
            before_src, before = extract_src(args.before_ref, Path(temporary)), args.before_ref
        path = workdir / f"listing-{args.models}.db"
        if path.exists():
            path.unlink()
        print(f"filling {path}", file=sys.stderr)
        fill(path, args.models, args.series, args.points)
        timings = measure(path, environment(before_src), environment(ROOT / "src"), args.runs)
    print(report(timings, args, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
