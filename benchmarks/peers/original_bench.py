"""Metric logging with the published mltracker 0.4.0 (TinyDB JSON file).

Run with the ``original`` peer venv (Python 3.12):
    VENV/bin/python benchmarks/peers/original_bench.py --points 1000 --workdir /tmp/bench
"""

from __future__ import annotations

import time

from _common import check_series, emit, fresh_dir, parse_args, quiet_stdout, store_bytes, value

PEER = "original"
VARIANT = "metrics.log"


def main() -> None:
    args = parse_args(__doc__)
    quiet_stdout()

    from mltracker import getExperiment

    store = fresh_dir(args.workdir / "original")
    db_path = store / "db.json"
    n = args.points

    exp = getExperiment("bench", path=str(db_path))
    model = exp.models.create("m")
    metrics = model.metrics

    start = time.perf_counter()
    for i in range(n):
        metrics.log("loss", value(i), step=i, phase="train")
    seconds = time.perf_counter() - start

    nbytes = store_bytes(store)

    start = time.perf_counter()
    series = model.metrics.list("loss")
    read_seconds = time.perf_counter() - start
    check_series([m.value for m in series], n, PEER)

    emit(PEER, VARIANT, n, seconds, nbytes, read_seconds)


if __name__ == "__main__":
    main()
