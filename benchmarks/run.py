"""Benchmark MLTracker's metric logging against raw drivers and peer trackers.

One command, from the repository root:

    .venv/bin/python benchmarks/run.py            # the full run (several minutes)
    .venv/bin/python benchmarks/run.py --quick    # ours and raw sqlite3 at tiny sizes only

It prints five tables (write, flatness, read, disk, PostgreSQL) with ratios, then the
targets with MET / NOT MET. Peers run in their own venvs (``bash benchmarks/peers/setup.sh``
makes them); a peer whose venv is missing is skipped with a note, and so is PostgreSQL when
it cannot be reached. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_postgres  # noqa: E402
import bench_sqlite  # noqa: E402
from bench_common import best, runs_for  # noqa: E402
from bench_peers import PEERS, Peer, PeerError, run_peer, venvs_dir  # noqa: E402
from bench_report import Outcome, render, targets  # noqa: E402

DEFAULT_POINTS = (10_000, 20_000, 100_000, 200_000, 1_000_000)
QUICK_POINTS = (1_000, 5_000)
DEFAULT_PG_POINTS = (100_000, 1_000_000)


def parse_sizes(text: str) -> list[int]:
    """``"10000,100k,1M"`` -> ``[10000, 100000, 1000000]``."""
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "").lower()
        if not part:
            continue
        scale = 1
        if part[-1] in "km":
            scale = 1_000 if part[-1] == "k" else 1_000_000
            part = part[:-1]
        try:
            size = int(float(part) * scale)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of points: {part!r}") from None
        if size < 1:
            raise argparse.ArgumentTypeError("numbers of points must be >= 1")
        sizes.append(size)
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one number of points")
    return sorted(set(sizes))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark MLTracker's metric logging against raw drivers and peers.",
    )
    parser.add_argument(
        "--points",
        type=parse_sizes,
        default=None,
        help="comma-separated sizes, k/M suffixes allowed (default "
        f"{','.join(map(str, DEFAULT_POINTS))}; with --quick {','.join(map(str, QUICK_POINTS))})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="ours and raw only, tiny sizes; peers and PostgreSQL only if asked",
    )
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the peer trackers (default: yes, except with --quick)",
    )
    parser.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the PostgreSQL section (default: yes, except with --quick)",
    )
    parser.add_argument(
        "--pg-points",
        type=parse_sizes,
        default=None,
        help="sizes for PostgreSQL (default "
        f"{','.join(map(str, DEFAULT_PG_POINTS))}; with --quick the largest "
        "of --points)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MLTRACKER_TEST_POSTGRES_URL", bench_postgres.DEFAULT_URL),
        help="server and database; each size runs in a schema of its own, dropped afterwards "
        f"(default $MLTRACKER_TEST_POSTGRES_URL, else {bench_postgres.DEFAULT_URL})",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the stores go (default: a temporary directory, deleted "
        "at the end; a given directory is kept)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the results as JSON to PATH",
    )
    for peer in PEERS:
        parser.add_argument(
            peer.cap_option,
            type=int,
            default=peer.default_cap,
            metavar="N",
            help=f"most points for {peer.label}, 0 skips it (default {peer.default_cap})",
        )
    parser.add_argument(
        "--peer-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="give up on one peer run after this long (default 900)",
    )
    args = parser.parse_args(argv)
    if args.points is None:
        args.points = list(QUICK_POINTS if args.quick else DEFAULT_POINTS)
    if args.peers is None:
        args.peers = not args.quick
    # Why PostgreSQL is off, if it is: --quick leaves it out unless --postgres is given.
    args.postgres_off_by = (
        "--quick; add --postgres to run it" if args.postgres is None else "--no-postgres"
    )
    if args.postgres is None:
        args.postgres = not args.quick
    if args.pg_points is None:
        args.pg_points = [max(args.points)] if args.quick else list(DEFAULT_PG_POINTS)
    return args


class Progress:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=sys.stderr, flush=True)


def peer_plan(args: argparse.Namespace, outcome: Outcome) -> list[tuple[Peer, list[int]]]:
    """Each runnable peer with its sizes: every --points size, capped (so also the cap)."""
    plan = []
    if not args.peers:
        return plan
    for peer in PEERS:
        cap = getattr(args, peer.dest)
        if cap <= 0:
            outcome.notes.append(f"{peer.label}: skipped ({peer.cap_option} 0)")
            continue
        if not peer.python.exists():
            outcome.notes.append(
                f"{peer.label}: skipped, no venv at {peer.python.parent.parent} "
                "(run: bash benchmarks/peers/setup.sh)"
            )
            continue
        plan.append((peer, sorted({min(n, cap) for n in args.points})))
    return plan


def run_local(sizes: list[int], workdir: Path, outcome: Outcome, progress: Progress) -> None:
    for n in sizes:
        raws, ourss = [], []
        for run in range(runs_for(n)):
            raws.append(bench_sqlite.run_raw(workdir / f"raw-{n}-{run}.db", n))
            ourss.append(bench_sqlite.run_ours(workdir / f"ours-{n}-{run}.db", n))
        raw, ours = best(raws), best(ourss)
        outcome.sqlite += [raw, ours]
        progress(
            f"sqlite {n:>9,} points: raw {raw.rate:>10,.0f}/s, ours {ours.rate:>10,.0f}/s "
            f"(best of {ours.runs})"
        )


def run_peers(
    plan: list[tuple[Peer, list[int]]],
    workdir: Path,
    timeout: float,
    outcome: Outcome,
    progress: Progress,
) -> None:
    for peer, sizes in plan:
        for n in sizes:
            try:
                runs = [run_peer(peer, n, workdir, timeout) for _ in range(runs_for(n))]
            except PeerError as error:
                outcome.notes.append(str(error))
                progress(str(error))
                break  # larger sizes would fail or time out as well
            result = best(runs)
            outcome.sqlite.append(result)
            progress(
                f"{peer.label} {n:>9,} points: {result.rate:>10,.1f}/s (best of {result.runs})"
            )


def run_postgres(args: argparse.Namespace, outcome: Outcome, progress: Progress) -> str | None:
    if not args.postgres:
        outcome.postgres_note = f"left out by {args.postgres_off_by}"
        return None
    try:
        version = bench_postgres.server_version(args.postgres_url)
    except Exception as error:  # noqa: BLE001 - missing driver or unreachable server
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        outcome.postgres_note = f"unreachable at {args.postgres_url}: {first_line}"
        progress(f"PostgreSQL: {outcome.postgres_note}")
        return None
    for n in args.pg_points:
        try:
            ours, raw = bench_postgres.run_pair(args.postgres_url, n)
        except Exception as error:  # noqa: BLE001 - report it and keep the other sections
            outcome.notes.append(f"PostgreSQL at {n:,} points failed: {error!r}")
            progress(outcome.notes[-1])
            continue
        outcome.postgres += [raw, ours]
        progress(
            f"postgresql {n:>9,} points: raw COPY {raw.rate:>10,.0f}/s, ours {ours.rate:>10,.0f}/s"
        )
    return version


def header(args: argparse.Namespace, outcome: Outcome, pg_version: str | None) -> str:
    import mltracker

    cpus = os.cpu_count() or 0
    extra = [n for n in outcome.sizes() if n not in args.points]
    sizes = ", ".join(f"{n:,}" for n in args.points)
    if extra:
        sizes += f" (and {', '.join(f'{n:,}' for n in extra)} for the capped peers)"
    parts = [
        f"MLTracker {mltracker.__version__} metric-logging benchmark",
        f"  Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        + (f"PostgreSQL {pg_version}, " if pg_version else "")
        + f"{platform.system()} {platform.machine()}, {cpus} CPUs",
        f"  sizes {sizes}",
        "  one run per measurement, best of 2 up to 20,000 points",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    outcome = Outcome(requested=list(args.points))
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="mltracker-bench-")) if temporary else args.workdir
    workdir = workdir.expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    progress(f"stores in {workdir}" + (" (deleted at the end)" if temporary else ""))
    try:
        plan = peer_plan(args, outcome)
        sizes = sorted(set(args.points).union(*(set(s) for _, s in plan)))
        (workdir / "local").mkdir(exist_ok=True)
        run_local(sizes, workdir / "local", outcome, progress)
        if plan:
            progress(f"peers from {venvs_dir()}")
            run_peers(plan, workdir / "peers", args.peer_timeout, outcome, progress)
        pg_version = run_postgres(args, outcome, progress)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)

    found = targets(outcome)
    elapsed = time.perf_counter() - progress.start
    print(header(args, outcome, pg_version))
    print()
    print(render(outcome, found))
    print(f"\nTotal time: {elapsed:.0f} s")
    if args.json is not None:
        document = {
            "command": [sys.executable, *sys.argv] if argv is None else argv,
            "points": args.points,
            "postgres_points": args.pg_points if outcome.postgres else [],
            "sqlite": [r.to_json() for r in outcome.sqlite],
            "postgres": [r.to_json() for r in outcome.postgres],
            "postgres_note": outcome.postgres_note,
            "notes": outcome.notes,
            "targets": [t.to_json() for t in found],
            "seconds": round(elapsed, 3),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
