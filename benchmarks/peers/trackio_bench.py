"""Metric logging with trackio in local mode (SQLite under TRACKIO_DIR).

trackio reads TRACKIO_DIR once, at import time, so it is pointed into
--workdir before the import. Every variable that would make it talk to a
Hugging Face Space, dataset, bucket or self-hosted server is removed, and
the hub client is forced offline. ``trackio.init`` (and the schema
creation) happen before the clock starts; ``trackio.finish()``, which waits
for trackio's background writer thread to flush, is inside the timed
section.

Run with the ``trackio`` peer venv:
    VENV/bin/python benchmarks/peers/trackio_bench.py --points 1000 --workdir /tmp/bench
"""

from __future__ import annotations

import os
import time

from _common import check_series, emit, fresh_dir, parse_args, quiet_stdout, store_bytes, value

PEER = "trackio"
VARIANT = "log"
PROJECT = "bench"
RUN = "run"

_REMOTE_ENV = (
    "TRACKIO_SPACE_ID",
    "TRACKIO_SERVER_URL",
    "TRACKIO_WRITE_TOKEN",
    "TRACKIO_DATASET_ID",
    "TRACKIO_BUCKET_ID",
    "TRACKIO_REGISTRY_BUCKET_ID",
    "SPACE_ID",
    "SPACE_REPO_NAME",
    "SPACE_HOST",
    "SYSTEM",
    "HF_TOKEN",
    "TRACKIO_WEBHOOK_URL",
    "TRACKIO_STORAGE_MODE",
)


def main() -> None:
    args = parse_args(__doc__)
    quiet_stdout()

    store = fresh_dir(args.workdir / "trackio")
    hf_home = fresh_dir(args.workdir / "trackio-hf-home")
    for name in _REMOTE_ENV:
        os.environ.pop(name, None)
    os.environ["TRACKIO_DIR"] = str(store)
    os.environ["HF_HOME"] = str(hf_home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["TRACKIO_STORAGE_MODE"] = "sqlite"
    os.chdir(store)

    import trackio
    from trackio.sqlite_storage import SQLiteStorage

    n = args.points
    SQLiteStorage.init_db(PROJECT)
    run = trackio.init(
        project=PROJECT, name=RUN, embed=False, auto_log_cpu=False, auto_log_gpu=False
    )

    start = time.perf_counter()
    for i in range(n):
        trackio.log({"loss": value(i)}, step=i)
    trackio.finish()
    seconds = time.perf_counter() - start

    nbytes = store_bytes(store)

    start = time.perf_counter()
    rows = SQLiteStorage.get_metric_values(PROJECT, RUN, "loss", run_id=run.id)
    read_seconds = time.perf_counter() - start
    check_series([r["value"] for r in rows], n, PEER)

    emit(PEER, VARIANT, n, seconds, nbytes, read_seconds)


if __name__ == "__main__":
    main()
