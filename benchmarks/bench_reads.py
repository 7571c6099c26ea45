"""Benchmark MLTracker's reads of one long series against raw drivers and peer trackers.

    .venv/bin/python benchmarks/bench_reads.py              # 1M points (a few minutes)
    .venv/bin/python benchmarks/bench_reads.py --quick      # 2,000 points, SQLite, no peers

A store holds one series ("loss", value ``i * 0.001`` at step ``i``, phase "train") of
``--points`` points, logged with the library. Each read is timed best of ``--runs`` (3), in
this process:

- raw: the driver alone, ``SELECT step, value, timestamp FROM metrics WHERE series_pk = ?
  ORDER BY seq`` and ``fetchall()`` (tuples: what it costs Python just to get the rows out),
  with ``sqlite3`` and with psycopg 3;
- ours: ``metrics.list("loss")``, ``metrics.to_pandas("loss")``, ``metrics.to_arrow("loss")``,
  ``metrics.latest()``, a read thinned to a point budget of 2,000 (what the server's
  ``budget`` parameter runs, ``Store.metric_buckets``), and a page of 1,000 points after the
  middle of the series (``list(after=..., limit=1000)``);
- the CLI: ``mltracker metrics list EXP HASH`` (no ``--limit``) as a subprocess, output to a
  pipe: time to the first row, to the end, and its peak memory;
- peers, in their own venvs (``bash benchmarks/peers/setup.sh``), at ``--peer-points``
  (100,000): MLflow's ``get_metric_history`` and trackio's ``get_metric_values`` read of the
  series their script logged, against ``metrics.list`` of ours at the same size.

PostgreSQL (``--postgres-url``, a fresh schema dropped afterwards, analysed after loading as
autovacuum would) gets the same reads against psycopg. Ratios are speeds relative to raw
(raw time / our time: above 1 is faster than raw) or times relative to ``list``. Then a
Targets block. Progress goes to stderr, the report to stdout; ``--json PATH`` saves results.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peers import PEERS, PeerError, run_peer, venvs_dir  # noqa: E402

import mltracker  # noqa: E402
from mltracker.connect import close_all  # noqa: E402
from mltracker.ports.store import MetricFilter  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get(
    "MLTRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BUDGET = 2_000
PAGE = 1_000
#: The peers whose read of the series is measured.
READ_PEERS = [
    peer
    for peer in PEERS
    if (peer.key, peer.variant) in {("mlflow", "log_batch"), ("trackio", None)}
]


@dataclass
class Read:
    """One measured read."""

    backend: str
    who: str
    points: int
    seconds: float
    note: str = ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_of(runs: int, read: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = read()
        times.append(time.perf_counter() - start)
        del result
    return min(times)


def fill(uri: str, points: int) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("bench").models.create("h")
        metrics_log = model.metrics.log
        now = time.time()
        for i in range(points):
            metrics_log("loss", i * 0.001, step=i, phase="train", timestamp=now + i * 1e-3)


def measure_ours(uri: str, backend: str, points: int, runs: int) -> list[Read]:
    reads: list[Read] = []
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("bench")
        assert experiment is not None
        model = experiment.models.read("h")
        assert model is not None
        store = tracker.store
        listed = model.metrics.list("loss")
        assert len(listed) == points, (len(listed), points)
        middle = listed[len(listed) // 2]
        del listed
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("ours metrics.list", lambda: model.metrics.list("loss")),
            ("ours metrics.to_pandas", lambda: model.metrics.to_pandas("loss")),
            ("ours metrics.to_arrow", lambda: model.metrics.to_arrow("loss")),
            ("ours metrics.latest", model.metrics.latest),
            (
                f"ours budget {BUDGET:,}",
                lambda: store.metric_buckets(model.id, MetricFilter("loss"), BUDGET),
            ),
            (
                f"ours page of {PAGE:,}",
                lambda: model.metrics.list("loss", after=middle, limit=PAGE),
            ),
        ]
        for who, read in cases:
            log(f"  {backend} {who}")
            read()  # warm: connections, imports
            reads.append(Read(backend, who, points, best_of(runs, read)))
    return reads


def measure_raw_sqlite(path: str, points: int, runs: int) -> Read:
    connection = sqlite3.connect(path)
    key = connection.execute("SELECT pk FROM series").fetchone()[0]
    query = "SELECT step, value, timestamp FROM metrics WHERE series_pk = ? ORDER BY seq"

    def read() -> list[Any]:
        rows = connection.execute(query, (key,)).fetchall()
        assert len(rows) == points
        return rows

    seconds = best_of(runs, read)
    connection.close()
    return Read("sqlite", "raw sqlite3 fetchall", points, seconds)


def measure_raw_postgres(uri: str, points: int, runs: int) -> Read:
    import psycopg

    with psycopg.connect(uri) as connection:
        key = connection.execute("SELECT pk FROM series").fetchone()[0]
        query = "SELECT step, value, timestamp FROM metrics WHERE series_pk = %s ORDER BY seq"

        def read() -> list[Any]:
            rows = connection.execute(query, (key,)).fetchall()
            assert len(rows) == points
            return rows

        seconds = best_of(runs, read)
    return Read("postgresql", "raw psycopg fetchall", points, seconds)


def measure_cli(uri: str, backend: str, points: int) -> list[Read]:
    """``mltracker metrics list`` as a subprocess: first row, whole output, peak memory."""
    log(f"  {backend} CLI metrics list")
    command = [sys.executable, "-m", "mltracker", "--uri", uri, "metrics", "list", "bench", "h"]
    # VmHWM (Linux) starts afresh at exec; ru_maxrss would include this process's memory.
    measure = (
        "import runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('mltracker', run_name='__main__')\n"
        "finally:\n"
        "    with open('/proc/self/status') as status:\n"
        "        peak = next(line for line in status if line.startswith('VmHWM:'))\n"
        "    print(peak.split()[1], file=sys.stderr)\n"
    )
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", measure, *command[2:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None and process.stderr is not None
    first: float | None = None
    lines = 0
    for _line in process.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines += 1
    errors = process.stderr.read().decode()
    process.wait()
    total = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"mltracker metrics list failed: {errors}")
    peak_mb = int(errors.strip().splitlines()[-1]) / 1024
    return [
        Read(backend, "CLI metrics list: first row", points, first or total),
        Read(backend, "CLI metrics list: all rows", points, total, f"peak {peak_mb:,.0f} MB"),
    ]


def measure_peers(points: int, runs: int, workdir: Path) -> list[Read]:
    reads: list[Read] = []
    for peer in READ_PEERS:
        if not peer.python.exists():
            log(f"  {peer.label}: no venv at {peer.python.parent.parent} (skipped)")
            continue
        log(f"  {peer.label} at {points:,} points (logs, then reads once)")
        try:
            result = run_peer(peer, points, workdir / "peers", timeout=1800)
        except PeerError as error:
            log(f"  {error}")
            continue
        if result.read_seconds is not None:
            reads.append(Read("peers", f"{peer.label} read", points, result.read_seconds))
    path = str(workdir / f"ours-{points}.db")
    fill(path, points)
    with mltracker.connect(path) as tracker:
        experiment = tracker.experiments.read("bench")
        assert experiment is not None
        model = experiment.models.read("h")
        assert model is not None
        seconds = best_of(runs, lambda: model.metrics.list("loss"))
    reads.append(Read("peers", "ours metrics.list", points, seconds))
    return reads


def postgres_schema(url: str) -> tuple[str, Callable[[], None]] | None:
    try:
        import psycopg

        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        log(f"PostgreSQL not reachable at {url}: {error} (skipped)")
        return None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    uri = f"{url}{separator}options=-csearch_path%3D{schema}"

    def drop() -> None:
        close_all()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()

    return uri, drop


def ratio(numerator: float, denominator: float) -> str:
    value = numerator / denominator if denominator else float("inf")
    return f"{value:,.3f}x" if value < 0.1 else f"{value:,.2f}x"


def report(reads: list[Read], args: argparse.Namespace) -> str:
    lines = [
        f"MLTracker {mltracker.__version__} read benchmark",
        f"  Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f} at start of report",
        f"  one series of {args.points:,} points, best of {args.runs}",
        "",
    ]
    outcomes: list[tuple[str, str, str, bool]] = []
    for backend, raw_name in (("sqlite", "raw sqlite3"), ("postgresql", "raw psycopg")):
        mine = [r for r in reads if r.backend == backend and r.points == args.points]
        raw = next((r for r in mine if r.who.startswith(raw_name)), None)
        if raw is None:
            continue
        listed = next(r for r in mine if r.who == "ours metrics.list")
        lines.append(f"{backend}: reads of {args.points:,} points")
        lines.append("  who                                seconds  vs raw speed  vs list time")
        lines.append("  ---------------------------------  -------  ------------  ------------")
        for read in mine:
            lines.append(
                f"  {read.who:33s}  {read.seconds:7.3f}  {ratio(raw.seconds, read.seconds):>12s}"
                f"  {ratio(read.seconds, listed.seconds):>12s}  {read.note}"
            )
        lines.append("")

        def get(who: str, table: list[Read] = mine) -> Read:
            return next(r for r in table if r.who == who)

        speed = raw.seconds / listed.seconds
        outcomes.append(
            (f"{backend} metrics.list vs raw", ">= 0.5x", f"{speed:.2f}x", speed >= 0.5)
        )
        pandas = raw.seconds / get("ours metrics.to_pandas").seconds
        outcomes.append(
            (f"{backend} metrics.to_pandas vs raw", ">= 2x", f"{pandas:.2f}x", pandas >= 2)
        )
        latest = get("ours metrics.latest").seconds / listed.seconds
        outcomes.append(
            (f"{backend} metrics.latest vs list", "<= 1%", f"{latest:.2%}", latest <= 0.01)
        )
        budget = get(f"ours budget {BUDGET:,}").seconds / listed.seconds
        outcomes.append(
            (f"{backend} budget {BUDGET:,} vs list", "<= 0.05x", f"{budget:.3f}x", budget <= 0.05)
        )
        first = next((r for r in mine if r.who == "CLI metrics list: first row"), None)
        if first is not None:
            outcomes.append(
                (
                    f"{backend} CLI first row",
                    "at once (< 2 s)",
                    f"{first.seconds:.2f} s",
                    first.seconds < 2,
                )
            )
    peers = [r for r in reads if r.backend == "peers"]
    ours = next((r for r in peers if r.who == "ours metrics.list"), None)
    if ours is not None and len(peers) > 1:
        lines.append(
            f"peers: reading back the {args.peer_points:,} points each one logged (SQLite)"
        )
        lines.append("  who                                seconds  ours is")
        lines.append("  ---------------------------------  -------  ---------------")
        for read in peers:
            faster = read.seconds / ours.seconds
            lines.append(f"  {read.who:33s}  {read.seconds:7.3f}  {faster:,.1f}x as fast")
        lines.append("")
    lines.append("Targets")
    lines.append("  target                                  wanted           measured  status")
    lines.append("  --------------------------------------  ---------------  --------  -------")
    for name, wanted, measured, met in outcomes:
        status = "MET" if met else "NOT MET"
        lines.append(f"  {name:38s}  {wanted:15s}  {measured:>8s}  {status}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--peer-points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 points, SQLite, no peers")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="save the results here")
    args = parser.parse_args()
    if args.quick:
        args.points, args.no_peers, args.no_postgres, args.runs = 2_000, True, True, 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mltracker-reads-"))
    workdir.mkdir(parents=True, exist_ok=True)
    reads: list[Read] = []
    try:
        path = str(workdir / "ours.db")
        log(f"sqlite: logging {args.points:,} points")
        fill(path, args.points)
        reads.append(measure_raw_sqlite(path, args.points, args.runs))
        reads.extend(measure_ours(path, "sqlite", args.points, args.runs))
        if not args.no_cli:
            reads.extend(measure_cli(path, "sqlite", args.points))
        if not args.no_postgres:
            found = postgres_schema(args.postgres_url)
            if found is not None:
                uri, drop = found
                try:
                    log(f"postgresql: logging {args.points:,} points")
                    fill(uri, args.points)
                    import psycopg

                    with psycopg.connect(uri, autocommit=True) as connection:
                        connection.execute("ANALYZE")
                    reads.append(measure_raw_postgres(uri, args.points, args.runs))
                    reads.extend(measure_ours(uri, "postgresql", args.points, args.runs))
                    if not args.no_cli:
                        reads.extend(measure_cli(uri, "postgresql", args.points))
                finally:
                    drop()
        if not args.no_peers:
            log(f"peers in {venvs_dir()}")
            reads.extend(measure_peers(args.peer_points, args.runs, workdir))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(reads, args))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(read) for read in reads], indent=2))


if __name__ == "__main__":
    main()
