"""The cost of tracking a Lightning run: steps/s of a small CPU MLP with our logger, with no
logger, with MLflow's Lightning logger and with trackio, in one run.

    bash benchmarks/peers/setup.sh --lightning          # once: the peers' venv (see README)
    .venv/bin/python benchmarks/bench_integrations.py   # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/bench_integrations.py --quick   # ours and none, seconds
    .venv/bin/python benchmarks/bench_integrations.py --tensors # reading 0-d tensors only

Every configuration trains the same MLP (32 -> 64 -> 64 -> 2, batches of 64, SGD, one torch
thread) for ``--steps`` steps, logging 4 metrics per step (``log_every_n_steps=1``; Lightning
adds ``epoch``), in rounds whose order rotates, all in one process of one venv
(``integrations_worker.py``). Each fit measures:

- the steady step time (between batch starts, after ``--warmup`` steps) and so steps/s;
- the time spent inside the logger's methods per steady step (``log_metrics``, ``save``);
- the CPU time of the process (all threads: a logger's writer thread included) per steady
  step;
- the whole fit's wall time and CPU time (setup and final flush included: our logger creates
  its store and model inside the fit, MLflow its run, while trackio's ``init`` comes
  before).

The report gives, per logger, the medians over the rounds and the ratios to the fits without
a logger of the same rounds, then the time ``log_metrics`` takes to read 20 CPU tensors
(``scalars``) against a loop of ``.item()`` and against one stacked transfer (what it did for
CPU tensors before: worth it on a GPU, where each ``.item()`` waits for the device). On a
busy machine steps/s varies by more than a logger costs; the time inside the logger is the
steadier measure of the overhead.

With the ``lightning`` peer venv (``bash benchmarks/peers/setup.sh --lightning``: torch,
lightning, mlflow, trackio), everything runs there, with this checkout installed into it
first (``--no-install`` skips that); without it, in this interpreter, with the loggers it
can import.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "integrations_worker.py"
VENVS = Path(os.environ.get("MLTRACKER_BENCH_VENVS", Path.home() / ".cache" / "mltracker-bench"))
PEER_PYTHON = VENVS / "lightning" / "bin" / "python"
ALL_LOGGERS = ("none", "ours", "mlflow", "mlflow-async", "trackio")
IMPORTS = {"ours": "mltracker", "mlflow": "mlflow", "mlflow-async": "mlflow", "trackio": "trackio"}
LABELS = {
    "none": "no logger",
    "ours": "MLTrackerLogger (SQLite)",
    "mlflow": "MLFlowLogger (sqlite:///)",
    "mlflow-async": "MLFlowLogger, synchronous=False",
    "trackio": "trackio.log per call",
}


def importable(python: str, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def run_worker(
    python: str, loggers: list[str], args: argparse.Namespace, workdir: Path
) -> list[dict[str, Any]]:
    command = [
        python,
        str(WORKER),
        "--loggers",
        ",".join(loggers),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--rounds",
        str(args.rounds),
        "--workdir",
        str(workdir),
    ]
    print(f"running {' '.join(command[1:])} with {python}", file=sys.stderr)
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=None if args.verbose else subprocess.DEVNULL,
        text=True,
        cwd=workdir,
    )
    if result.returncode != 0:
        raise SystemExit(f"the worker failed (exit {result.returncode}); rerun with --verbose")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(rows: list[dict[str, Any]], baseline: dict[int, dict[str, Any]], key: str) -> float:
    """The median over the rounds of ``key`` over the same round's value without a logger."""
    return median([r[key] / baseline[r["round"]][key] for r in rows if r["round"] in baseline])


def report(results: list[dict[str, Any]], python: str, args: argparse.Namespace) -> str:
    by_logger: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_logger.setdefault(result["logger"], []).append(result)
    baseline = {r["round"]: r for r in by_logger.get("none", [])}
    step_none = median([r["steady_step_us"] for r in baseline.values()])
    lines = [
        "Integrations benchmark: a Lightning fit of a small MLP on CPU, 4 metrics per step",
        f"python {python}; {args.steps} steps per fit ({args.warmup} warm-up), "
        f"{args.rounds} rounds, medians over the rounds; x: ratio to no logger in the same round",
        "",
        f"{'logger':32} {'steps/s':>7} {'x':>6} {'in logger':>10} {'% step':>7} "
        f"{'CPU/step':>9} {'x':>6} {'fit wall':>8} {'x':>6} {'fit CPU':>7} {'x':>6}",
    ]
    summary: dict[str, dict[str, float]] = {}
    for logger in ALL_LOGGERS:
        rows = by_logger.get(logger)
        if not rows:
            continue
        in_logger = median([r["logger_us_per_step"] for r in rows])
        share = in_logger / step_none * 100
        step_cpu = paired(rows, baseline, "cpu_us_per_step")
        summary[logger] = {"share": share, "in_logger": in_logger, "step_cpu": step_cpu}
        lines.append(
            f"{LABELS[logger]:32} {median([r['steps_per_second'] for r in rows]):7.0f} "
            f"{paired(rows, baseline, 'steps_per_second'):6.3f} {in_logger:7.1f} us "
            f"{share:6.2f}% {median([r['cpu_us_per_step'] for r in rows]):6.0f} us "
            f"{step_cpu:6.3f} {median([r['fit_seconds'] for r in rows]):7.2f}s "
            f"{paired(rows, baseline, 'fit_seconds'):6.3f} "
            f"{median([r['cpu_seconds'] for r in rows]):6.2f}s "
            f"{paired(rows, baseline, 'cpu_seconds'):6.3f}"
        )
    lines += [
        "",
        f"step time without a logger: {step_none:.0f} us (median of the steady steps)",
        "in logger: time inside the logger's methods per steady step; % step: that time over",
        "  the step time without a logger",
        "CPU/step: CPU time of the process (every thread) per steady step",
        "fit wall / fit CPU: the whole fit, setup and final flush included (our store and",
        "  model, and MLflow's run, are created inside it; trackio.init comes before it)",
    ]
    if "ours" in summary:
        ours = summary["ours"]
        peers = {k: v for k, v in summary.items() if k not in ("none", "ours")}
        met = ours["share"] < 1.0
        lines += [
            "",
            "Targets",
            f"  our overhead under 1% of the step time: {ours['share']:.2f}% -> "
            + ("MET" if met else "NOT MET"),
        ]
        if peers:
            lowest = all(ours["in_logger"] < v["in_logger"] for v in peers.values())
            cheapest = all(ours["step_cpu"] <= v["step_cpu"] for v in peers.values())
            lines.append(
                "  the lowest of the loggers, time in the logger: "
                + ("MET" if lowest else "NOT MET")
            )
            lines.append(
                "  the lowest of the loggers, CPU per step: " + ("MET" if cheapest else "NOT MET")
            )
    return "\n".join(lines)


def tensor_reads(count: int = 20, repeats: int = 2000, rounds: int = 7) -> str:
    """Microseconds per reading of ``count`` 0-d CPU tensors (best of ``rounds``): by
    ``scalars`` (what ``log_metrics`` calls), by a loop of ``.item()``, by one stack."""
    import timeit

    import torch

    from mltracker.integrations.torch import scalars

    torch.set_num_threads(1)
    values = {f"metric_{i}": torch.tensor(float(i)) for i in range(count)}

    def items() -> dict[str, float]:
        return {key: value.item() for key, value in values.items()}

    def stacked() -> dict[str, float]:
        numbers = torch.stack([value.detach().reshape(()) for value in values.values()]).tolist()
        return dict(zip(values, numbers, strict=True))

    assert scalars(values) == items() == stacked()
    timings = {}
    for label, read in (
        ("scalars (log_metrics)", lambda: scalars(values)),
        (".item() loop", items),
        ("one stacked transfer", stacked),
    ):
        best = min(timeit.repeat(read, number=repeats, repeat=rounds)) / repeats * 1e6
        timings[label] = best
    base = timings[".item() loop"]
    lines = [f"Reading {count} 0-d CPU tensors (best of {rounds} x {repeats} calls, 1 thread)"]
    for label, micros in timings.items():
        lines.append(f"  {label:24} {micros:7.1f} us   {micros / base:5.2f}x the .item() loop")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--loggers",
        default=",".join(ALL_LOGGERS),
        help="comma-separated, of " + ", ".join(ALL_LOGGERS),
    )
    parser.add_argument(
        "--python",
        help="the worker's interpreter (default: the lightning peer venv if present, else this)",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not install this checkout into the peer venv first",
    )
    parser.add_argument(
        "--quick", action="store_true", help="ours and none, 300 steps, 1 round, this interpreter"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the stores here (default: a temporary folder)"
    )
    parser.add_argument("--json", type=Path, help="also save the raw results here")
    parser.add_argument(
        "--tensors", action="store_true", help="only time the reading of 0-d CPU tensors"
    )
    parser.add_argument("--verbose", action="store_true", help="show the worker's stderr")
    args = parser.parse_args()
    if args.tensors:
        print(tensor_reads())
        return
    loggers = args.loggers.split(",")
    python = args.python
    if args.quick:
        args.steps, args.warmup, args.rounds = 300, 50, 1
        loggers, python = ["none", "ours"], python or sys.executable
    if python is None:
        python = str(PEER_PYTHON) if PEER_PYTHON.exists() else sys.executable
        if python == str(PEER_PYTHON) and not args.no_install:
            print(f"installing {ROOT} into {VENVS / 'lightning'}", file=sys.stderr)
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--force-reinstall",
                    str(ROOT),
                ],
                check=True,
                capture_output=True,
            )
    missing = [k for k in loggers if k in IMPORTS and not importable(python, IMPORTS[k])]
    for logger in missing:
        print(f"skipped {logger}: {IMPORTS[logger]} is not importable by {python}", file=sys.stderr)
    loggers = [k for k in loggers if k not in missing]
    if "none" not in loggers:
        loggers.insert(0, "none")
    with tempfile.TemporaryDirectory(prefix="bench-integrations-") as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run_worker(python, loggers, args, workdir.resolve())
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(report(results, python, args))
    for logger in missing:
        print(f"(skipped {logger}: {IMPORTS[logger]} is not importable by {python})")
    if importable(sys.executable, "torch"):
        print()
        print(tensor_reads())


if __name__ == "__main__":
    main()
