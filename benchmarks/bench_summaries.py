"""What keeping the summaries of series costs ``metrics.log``, measured in one process.

```
.venv/bin/python benchmarks/bench_summaries.py              # SQLite and PostgreSQL
.venv/bin/python benchmarks/bench_summaries.py --no-postgres
```

Logs ``--points`` (200,000) points of one series (``loss``, phase ``train``) per
measurement with ``model.metrics.log`` per point and ``flush()``, into a fresh store, with
the summaries kept (as shipped) and with their upsert replaced by nothing, alternately
``--repeat`` (5) times each; the best of each is kept (the machine is shared: the best is the
least disturbed). Prints points/s and the cost: 1 - with / without. Never fails on a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import mltracker  # noqa: E402
from mltracker.backends.sql import summaries  # noqa: E402
from mltracker.connect import close_all  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_store(backend: str, workdir: Path, url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield str(workdir / f"log-{uuid.uuid4().hex[:8]}.db")
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in url else "?"
            yield f"{url}{separator}options=-csearch_path%3D{schema}"
        finally:
            close_all()
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def log_rate(uri: str, points: int) -> float:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("log").models.create("m")
        model.metrics.log("loss", 0.0, step=-1, phase="train")
        tracker.flush()  # the store and the run exist: only the logging is timed
        log = model.metrics.log
        started = time.perf_counter()
        for step in range(points):
            log("loss", step * 0.001, step=step, phase="train")
        tracker.flush()
        return points / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("MLTRACKER_TEST_POSTGRES_URL", DEFAULT_URL)
    )
    args = parser.parse_args()
    kept = summaries.add_batch
    print(f"metrics.log per point + flush(), {args.points:,} points, best of {args.repeat}")
    print(f"{'backend':>10}  {'with summaries':>15}  {'without':>12}  {'cost':>6}")
    with tempfile.TemporaryDirectory() as directory:
        for backend in ["sqlite"] + (["postgresql"] if args.postgres else []):
            rates: dict[bool, list[float]] = {True: [], False: []}
            try:
                for _ in range(args.repeat):
                    for keep in (True, False):
                        summaries.add_batch = kept if keep else (lambda connection, rows: None)
                        with fresh_store(backend, Path(directory), args.postgres_url) as uri:
                            rates[keep].append(log_rate(uri, args.points))
            except Exception as error:  # noqa: BLE001 - PostgreSQL away: say so, go on
                if backend == "sqlite":
                    raise
                print(f"{backend:>10}  skipped ({type(error).__name__}: {error})")
                continue
            finally:
                summaries.add_batch = kept
            with_, without = max(rates[True]), max(rates[False])
            print(
                f"{backend:>10}  {with_:>11,.0f} p/s  {without:>8,.0f} p/s  "
                f"{1 - with_ / without:>6.1%}"
            )


if __name__ == "__main__":
    main()
