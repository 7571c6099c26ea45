"""Searching the runs of a sweep: ``experiment.runs.search`` against reading the points and
filtering in pandas, on SQLite and PostgreSQL.

```
.venv/bin/python benchmarks/bench_search.py                 # 10,000 runs x 8 series, both databases
.venv/bin/python benchmarks/bench_search.py --runs 1000 --no-postgres   # seconds
```

1. **Sweep**: one experiment of ``--runs`` runs (``--runs-per-model`` per model) with params
   ``lr``, ``optimizer``, ``batch``, and ``--series`` series each (``loss@validation``, ...)
   of ``--points`` points, made by the database and summarised as the upgrade does (with
   ``--write-path``: written by ``Store.write_points``, whose summaries the writes keep).
   Timed: the search ``params.lr < 0.01 AND metrics.loss@validation.min < 0.3`` ordered by
   ``metrics.loss@validation.min`` (limit 10), and the same answer computed the way one
   would without it: every point read (``Store.list_metrics`` per model), a pandas
   ``groupby`` for the minimum, the params joined, filtered, sorted. Both answers are checked
   to be the same runs.
2. **Flatness**: the same search over ``--flat-runs`` runs of ``--series`` series whose
   points per series are each of ``--flat-points`` (default 1k and 100k): the
   search's time should not move, the pandas one grows with the points.

Prints seconds and ratios (best of ``--repeat``); never fails on a time. PostgreSQL runs in a
schema ``bench_<random>`` of ``$MLTRACKER_TEST_POSTGRES_URL`` (or ``--postgres-url``),
dropped afterwards; it is skipped with a note when it cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy as sa  # noqa: E402

import mltracker  # noqa: E402
from mltracker.backends.sql import summaries  # noqa: E402
from mltracker.ports.store import (  # noqa: E402
    ExperimentRecord,
    MetricFilter,
    ModelRecord,
    RunRecord,
    Series,
)
from mltracker.values import FLOAT  # noqa: E402

WHERE = "params.lr < 0.01 AND metrics.loss@validation.min < 0.3"
ORDER_BY = "metrics.loss@validation.min"
LIMIT = 10
SERIES = [
    ("loss", "validation"),
    ("loss", "train"),
    ("accuracy", "validation"),
    ("accuracy", "train"),
    ("lr", None),
    ("grad_norm", "train"),
    ("epoch_time", None),
    ("memory", None),
]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def fill(
    uri: str,
    runs: int,
    per_model: int,
    series: int,
    points: int,
    seed: int = 7,
    *,
    write_path: bool = False,
) -> None:
    """An experiment ``sweep`` of ``runs`` runs, each with ``series`` series of ``points``:
    the runs imported ten models at a time (``Store.restore``), the points made by the
    database (:func:`generate_points`), or with ``write_path`` written by
    ``Store.write_points`` in batches of 100,000 (which keeps the summaries as it goes)."""
    rng = random.Random(seed)
    experiment_id = uuid.uuid4()
    now = time.time()
    models: list[ModelRecord] = []
    pending: list[tuple[uuid.UUID, uuid.UUID, float]] = []
    with mltracker.connect(uri) as tracker:
        store = tracker.store

        def write_points() -> None:
            batch: list[Any] = []
            for model_id, run_id, floor in pending:
                for name, phase in SERIES[:series]:
                    entry = Series(model_id, name, phase, run_id)
                    for step in range(points):
                        value = floor + rng.random() / (step + 1)
                        batch.append((entry, step, FLOAT, value, None, now))
                    if len(batch) >= 100_000:
                        store.write_points(batch)
                        batch = []
            if batch:
                store.write_points(batch)
            pending.clear()

        for first in range(0, runs, per_model):
            model_id = uuid.uuid4()
            records = []
            for index in range(first, min(first + per_model, runs)):
                run_id = uuid.uuid4()
                params = {
                    "lr": rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]),
                    "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
                    "batch": rng.choice([32, 64, 128]),
                }
                records.append(
                    RunRecord(run_id, f"r{index}", "finished", now, now + 1, params=params)
                )
                pending.append((model_id, run_id, rng.random()))
            hash = f"m{first // per_model}"
            models.append(ModelRecord(model_id, hash, None, None, 0, [], [], [], records))
            if len(models) == 10 or first + per_model >= runs:
                store.restore([ExperimentRecord(experiment_id, "sweep", models)])
                models = []
                if write_path:
                    write_points()
                else:
                    pending.clear()
                done = min(first + per_model, runs)
                if done % 1000 == 0 or done == runs:
                    progress(f"  {done:,} runs written")
    if not write_path:
        generate_points(uri, series, points)


def generate_points(uri: str, series: int, points: int) -> None:
    """Give every run ``series`` series of ``points`` points each, made by the database
    (``floor + random / (step + 1)``, a floor per run), then summarise them as the upgrade
    does (``summaries.recompute``)."""
    engine = sa.create_engine(_driver_uri(uri))
    sqlite = engine.dialect.name == "sqlite"
    random_value = "(abs(random()) % 1000000) / 1000000.0" if sqlite else "random()"
    numbers = (
        "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
        "SELECT i FROM n) AS n"
        if sqlite
        else "generate_series(0, :last) AS n(i)"
    )
    with engine.begin() as connection:
        for name, phase in SERIES[:series]:
            connection.execute(
                sa.text(
                    "INSERT INTO series (model_pk, name, phase, run_pk) "
                    "SELECT model_pk, :name, :phase, pk FROM runs"
                ),
                {"name": name, "phase": phase or ""},
            )
        connection.execute(
            sa.text(
                "INSERT INTO metrics (series_pk, step, kind, value, timestamp) "
                f"SELECT s.pk, n.i, 0, ((s.run_pk * 7919) % 1000) / 1000.0 + {random_value} "
                f"/ (n.i + 1), 0 FROM series AS s, {numbers}"
            ),
            {"last": points - 1},
        )
        summaries.recompute(connection)
    engine.dispose()


def _driver_uri(uri: str) -> str:
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    return f"sqlite:///{uri}"


def search(tracker: mltracker.Connection) -> list[str]:
    experiment = tracker.experiments.read("sweep")
    assert experiment is not None
    found = experiment.runs.search(WHERE, order_by=ORDER_BY, limit=LIMIT)
    return [str(run.name) for run in found]


def with_pandas(tracker: mltracker.Connection) -> list[str]:
    """The same answer from the points: read them all, aggregate and filter in pandas."""
    import pandas

    experiment = tracker.experiments.read("sweep")
    assert experiment is not None
    store = tracker.store
    frames = []
    for model in store.list_models(experiment.id):
        points = store.list_metrics(model.id, MetricFilter())
        frames.append(
            pandas.DataFrame(
                {
                    "run": [point.run_id for point in points],
                    "name": [point.name for point in points],
                    "phase": [point.phase for point in points],
                    "value": [point.value for point in points],
                }
            )
        )
    runs = store.list_experiment_runs(experiment.id)
    points = pandas.concat(frames, ignore_index=True)
    chosen = points[(points["name"] == "loss") & (points["phase"] == "validation")]
    low = chosen.groupby("run")["value"].min().rename("min")
    table = pandas.DataFrame(
        {"run": [row.id for row in runs], "name": [row.name for row in runs]}
        | {"lr": [row.params.get("lr") for row in runs]}
    ).join(low, on="run")
    table = table[(table["lr"] < 0.01) & (table["min"] < 0.3)]
    return list(table.sort_values("min", kind="stable")["name"][:LIMIT])


@contextmanager
def store_uri(backend: str, workdir: Path, url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield str(workdir / f"search-{uuid.uuid4().hex[:8]}.db")
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in url else "?"
            yield f"{url}{separator}options=-csearch_path%3D{schema}"
        finally:
            mltracker.connect  # noqa: B018 - the handles are closed by now
            from mltracker.connect import close_all

            close_all()
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def measure(uri: str, repeat: int) -> tuple[float, float, list[str]]:
    with mltracker.connect(uri) as tracker:
        search(tracker)  # the connection is open, the tables known
        searched, found = best(repeat, lambda: search(tracker))
        read, expected = best(1, lambda: with_pandas(tracker))
    if found != expected:
        raise SystemExit(f"the search found {found}, pandas {expected}")
    return searched, read, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--runs-per-model", type=int, default=100)
    parser.add_argument("--series", type=int, default=8, choices=range(1, 9))
    parser.add_argument("--points", type=int, default=10, help="points per series (sweep)")
    parser.add_argument("--flat-runs", type=int, default=10)
    parser.add_argument("--flat-points", default="1000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--write-path",
        action="store_true",
        help="write the sweep's points with Store.write_points (slower to fill)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the SQLite stores here (default: a temporary directory)",
    )
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("MLTRACKER_TEST_POSTGRES_URL", DEFAULT_URL)
    )
    args = parser.parse_args(argv)
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    flat_points = [int(part) for part in args.flat_points.split(",") if part.strip()]
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as directory:
        workdir = args.workdir or Path(directory)
        workdir.mkdir(parents=True, exist_ok=True)
        for backend in backends:
            try:
                with store_uri(backend, workdir, args.postgres_url) as uri:
                    progress(f"{backend}: {args.runs:,} runs x {args.series} series")
                    started = time.perf_counter()
                    fill(
                        uri,
                        args.runs,
                        args.runs_per_model,
                        args.series,
                        args.points,
                        write_path=args.write_path,
                    )
                    progress(f"  filled in {time.perf_counter() - started:.1f}s")
                    searched, read, _ = measure(uri, args.repeat)
                    rows.append(
                        (
                            backend,
                            f"{args.runs:,} x {args.series} x {args.points}",
                            f"{searched * 1000:.1f} ms",
                            f"{read:.2f} s",
                            f"{read / searched:,.0f}x",
                        )
                    )
                for points in flat_points:
                    with store_uri(backend, workdir, args.postgres_url) as uri:
                        progress(f"{backend}: {args.flat_runs} runs, {points:,} points per series")
                        fill(uri, args.flat_runs, args.runs_per_model, args.series, points)
                        searched, read, _ = measure(uri, args.repeat)
                        rows.append(
                            (
                                backend,
                                f"{args.flat_runs:,} x {args.series} x {points:,}",
                                f"{searched * 1000:.1f} ms",
                                f"{read:.2f} s",
                                f"{read / searched:,.0f}x",
                            )
                        )
            except ImportError as error:
                progress(f"{backend}: skipped ({error})")
            except Exception as error:  # noqa: BLE001 - PostgreSQL away: say so, go on
                if backend == "sqlite":
                    raise
                progress(f"{backend}: skipped ({type(error).__name__}: {error})")
    print(f"search: {WHERE!r} order by {ORDER_BY!r} limit {LIMIT}")
    print("runs x series x points: the store; search: experiment.runs.search (best of")
    print(f"{args.repeat}); pandas: every point read, groupby, filter, sort; ratio: pandas/search")
    header = ("backend", "runs x series x points", "search", "pandas", "ratio")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
