"""Metric logging with MLflow's SQLite backend store.

Variants:
  log_metric  one ``mlflow.log_metric`` call per point (the plain per-call API)
  log_batch   ``MlflowClient.log_batch`` in chunks of 1000 metrics (MLflow's
              per-request limit)

The database schema migration and run creation happen before the clock starts;
``mlflow.end_run()`` is inside the timed section.

Run with the ``mlflow`` peer venv:
    VENV/bin/python benchmarks/peers/mlflow_bench.py --points 1000 --workdir /tmp/bench \
        --variant log_batch
"""

from __future__ import annotations

import os
import time

from _common import check_series, emit, fresh_dir, parse_args, quiet_stdout, store_bytes, value

PEER = "mlflow"
VARIANTS = ["log_metric", "log_batch"]
BATCH_LIMIT = 1000


def main() -> None:
    args = parse_args(__doc__, VARIANTS)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    quiet_stdout()

    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    store = fresh_dir(args.workdir / f"mlflow-{args.variant}")
    os.chdir(store)  # anything written relative to the cwd stays in the store
    n = args.points

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    client = MlflowClient()
    exp_id = client.create_experiment("bench", artifact_location=(store / "artifacts").as_uri())
    run = mlflow.start_run(experiment_id=exp_id)
    run_id = run.info.run_id

    start = time.perf_counter()
    if args.variant == "log_metric":
        for i in range(n):
            mlflow.log_metric("loss", value(i), step=i)
    else:
        for lo in range(0, n, BATCH_LIMIT):
            ts = int(time.time() * 1000)
            batch = [Metric("loss", value(i), ts, i) for i in range(lo, min(lo + BATCH_LIMIT, n))]
            client.log_batch(run_id, metrics=batch)
    mlflow.end_run()
    seconds = time.perf_counter() - start

    nbytes = store_bytes(store)

    start = time.perf_counter()
    history = client.get_metric_history(run_id, "loss")
    read_seconds = time.perf_counter() - start
    check_series([m.value for m in history], n, f"{PEER}/{args.variant}")

    emit(PEER, args.variant, n, seconds, nbytes, read_seconds)


if __name__ == "__main__":
    main()
