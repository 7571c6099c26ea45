"""Importing from MLflow and TensorBoard: speed against ``metrics.log``, peak memory, and a
comparison of every point.

```
.venv/bin/python benchmarks/bench_import.py                 # 100 runs x 10k, 20 runs x 50k
.venv/bin/python benchmarks/bench_import.py --runs 10 --points 1000 --tb-runs 4 --tb-points 5000
```

Writes, once (kept in ``--workdir`` for the next time), an MLflow SQLite store of ``--runs``
runs x ``--points`` points of one metric with the real ``mlflow`` client (``log_batch`` of
1,000: MLflow's own writing takes about 4 minutes for 1M points), and a TensorBoard log folder
of ``--tb-runs`` runs x ``--tb-points`` scalars with ``torch.utils.tensorboard.SummaryWriter``.
Then, each in a process of its own (so that its peak memory is its own): ``metrics.log`` of as
many points into a fresh SQLite store (the reference), ``mltracker import --from mlflow`` and
``--from tensorboard`` into fresh SQLite stores, and a process that only loads the same
libraries (the memory floor). Last, every imported point is compared with what ``mlflow``'s
client (``get_metric_history``) and TensorBoard's ``EventAccumulator`` read. Progress on
stderr, figures on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

T0 = 1_700_000_000_000


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_mlflow(path: Path, runs: int, points: int) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("bench")
    started = time.perf_counter()
    for run in range(runs):
        run_id = client.create_run(experiment, run_name=f"run-{run}", start_time=T0).info.run_id
        client.log_param(run_id, "lr", str(0.1 / (run + 1)))
        for first in range(0, points, 1000):
            metrics = [
                Metric("loss", 1.0 / (i + 1) + run, T0 + i, i)
                for i in range(first, min(points, first + 1000))
            ]
            client.log_batch(run_id, metrics=metrics)
        client.set_terminated(run_id, "FINISHED", end_time=T0 + points)
        note(f"  mlflow: run {run + 1}/{runs} written ({time.perf_counter() - started:.0f} s)")


def write_big_mlflow(path: Path, points: int) -> None:
    """One MLflow run (made by the client) whose ``loss`` history of ``points`` points is
    inserted into MLflow's table by SQLite itself (a recursive CTE): MLflow's own writing
    would take hours for 10M points."""
    import sqlite3

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("big")
    run_id = client.create_run(experiment, run_name="big", start_time=T0).info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", 1.0, T0, 0)])  # its latest_metrics row
    client.set_terminated(run_id, "FINISHED", end_time=T0 + points)
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
            "SELECT 'loss', 1.0 / (n + 1), ? + n, n, 0, ? FROM i",
            (points - 1, T0, run_id),
        )


def write_tensorboard(folder: Path, runs: int, points: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for run in range(runs):
        writer = SummaryWriter(str(folder / f"run-{run:02d}"))
        for step in range(points):
            writer.add_scalar("loss", 1.0 / (step + 1) + run, step)
        writer.close()
        note(f"  tensorboard: run {run + 1}/{runs} written")


def child(kind: str, source: str, target: str, points: int) -> None:
    """One measured step, in this process: prints its seconds and peak RSS as JSON."""
    import mltracker

    if kind in ("mlflow", "floor"):
        from mltracker.importers._mlflow import load_mlflow

        load_mlflow()
    if kind in ("tensorboard", "floor"):
        import tensorboard.compat.proto.event_pb2  # noqa: F401
    started = time.perf_counter()
    if kind == "log":
        with mltracker.connect(target) as tracker:
            model = tracker.experiments.get_or_create("log").models.get_or_create("m")
            log = model.metrics.log
            for i in range(points):
                log("loss", 1.0 / (i + 1), step=i)
    elif kind == "mlflow":
        from mltracker.importers.mlflow import import_mlflow

        with mltracker.connect(target) as tracker:
            import_mlflow(tracker, source)
    elif kind == "tensorboard":
        from mltracker.importers.tensorboard import import_tensorboard

        with mltracker.connect(target) as tracker:
            import_tensorboard(tracker, source)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb()}))


def _peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not inherited
    from the parent across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, source: str, target: str, points: int) -> dict[str, float]:
    Path(target).unlink(missing_ok=True)
    found = subprocess.run(
        [sys.executable, __file__, "--child", kind, source, target, str(points)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def compare_mlflow(store: str, target: str) -> int:
    """Every point of every run, against the mlflow client's history; the number compared."""
    from mlflow.tracking import MlflowClient

    import mltracker

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("bench")
    compared = 0
    with mltracker.connect(target) as tracker:
        found = tracker.experiments.get_or_create("bench")
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            history = sorted(
                client.get_metric_history(run.info.run_id, "loss"),
                key=lambda m: (m.timestamp, m.step, m.value),
            )
            model = found.models.read(run.info.run_id)
            ours = model.metrics.list("loss")
            assert len(ours) == len(history), run.info.run_id
            for mine, theirs in zip(ours, history, strict=True):
                assert mine.step == theirs.step and same(mine.value, theirs.value)
                assert mine.timestamp == theirs.timestamp / 1000
            compared += len(ours)
    return compared


def compare_tensorboard(folder: Path, target: str) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import mltracker

    compared = 0
    with mltracker.connect(target) as tracker:
        found = tracker.experiments.get_or_create(folder.name)
        models = {model.name: model for model in found.models.list()}
        for run_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
            accumulator = EventAccumulator(str(run_folder), size_guidance={"scalars": 0})
            accumulator.Reload()
            expected = [(e.step, e.value, e.wall_time) for e in accumulator.Scalars("loss")]
            ours = [
                (m.step, m.value, m.timestamp)
                for m in models[run_folder.name].metrics.iterate("loss")
            ]
            assert ours == expected, run_folder.name
            compared += len(ours)
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--tb-runs", type=int, default=20)
    parser.add_argument("--tb-points", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mltracker-bench-import"))
    parser.add_argument(
        "--big",
        type=int,
        default=0,
        metavar="N",
        help="instead: import one MLflow run of N points (its rows inserted by SQLite) and "
        "report time and peak memory against metrics.log of N points",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source, target, points = args.child
        child(kind, source, target, int(points))
        return

    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    if args.big:
        big(work, args.big)
        return
    mlflow_db = work / f"mlflow-{args.runs}x{args.points}.db"
    if not mlflow_db.exists():
        note(f"writing {mlflow_db} with mlflow ...")
        partial = mlflow_db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        write_mlflow(partial, args.runs, args.points)
        partial.rename(mlflow_db)
    tb_dir = work / f"tb-{args.tb_runs}x{args.tb_points}"
    if not tb_dir.exists():
        note(f"writing {tb_dir} with SummaryWriter ...")
        partial_dir = work / "tb.partial"
        if partial_dir.exists():
            import shutil

            shutil.rmtree(partial_dir)
        write_tensorboard(partial_dir, args.tb_runs, args.tb_points)
        partial_dir.rename(tb_dir)

    mlflow_points = args.runs * args.points
    tb_points = args.tb_runs * args.tb_points
    uri = f"sqlite:///{mlflow_db}"
    results: dict[str, dict[str, Any]] = {}
    note("measuring ...")
    results["floor"] = measure("floor", "-", str(work / "floor.db"), 0)
    results["log"] = measure("log", "-", str(work / "log.db"), mlflow_points)
    results["mlflow"] = measure("mlflow", uri, str(work / "from-mlflow.db"), mlflow_points)
    results["tensorboard"] = measure(
        "tensorboard", str(tb_dir), str(work / "from-tensorboard.db"), tb_points
    )
    note("comparing every point ...")
    compared_mlflow = compare_mlflow(uri, str(work / "from-mlflow.db"))
    compared_tb = compare_tensorboard(tb_dir, str(work / "from-tensorboard.db"))

    log_rate = mlflow_points / results["log"]["seconds"]
    print(f"metrics.log, {mlflow_points:,} points: {log_rate:,.0f} points/s")
    for kind, points in (("mlflow", mlflow_points), ("tensorboard", tb_points)):
        rate = points / results[kind]["seconds"]
        print(
            f"import --from {kind}, {points:,} points: {results[kind]['seconds']:.1f} s, "
            f"{rate:,.0f} points/s ({rate / log_rate:.2f}x metrics.log), "
            f"peak RSS {results[kind]['peak_mb']:.0f} MB"
        )
    print(
        f"peak RSS of a process that only loads the libraries: {results['floor']['peak_mb']:.0f} MB"
    )
    print(
        f"peak RSS of metrics.log of {mlflow_points:,} points: {results['log']['peak_mb']:.0f} MB"
    )
    print(f"points compared: mlflow {compared_mlflow:,}, tensorboard {compared_tb:,}: all equal")


def big(work: Path, points: int) -> None:
    database = work / f"mlflow-big-{points}.db"
    if not database.exists():
        note(f"writing {database} ...")
        partial = database.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        write_big_mlflow(partial, points)
        partial.rename(database)
    note("measuring ...")
    floor = measure("floor", "-", str(work / "floor.db"), 0)
    logged = measure("log", "-", str(work / "log-big.db"), points)
    imported = measure("mlflow", f"sqlite:///{database}", str(work / "from-big.db"), points)
    log_rate = points / logged["seconds"]
    rate = points / imported["seconds"]
    print(
        f"metrics.log, {points:,} points: {log_rate:,.0f} points/s, "
        f"peak RSS {logged['peak_mb']:.0f} MB"
    )
    print(
        f"import --from mlflow, one run of {points:,} points: {imported['seconds']:.1f} s, "
        f"{rate:,.0f} points/s ({rate / log_rate:.2f}x metrics.log), "
        f"peak RSS {imported['peak_mb']:.0f} MB (libraries alone: {floor['peak_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
