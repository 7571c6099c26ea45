"""Metric logging over REST to MLflow's tracking server on a SQLite backend store.

Starts ``mlflow server --backend-store-uri sqlite:///DIR/mlflow.db --port P`` from this venv
(MLflow's default workers; artifacts under the workdir; its job runner for GenAI features
switched off with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``, so that no consumer process
competes for the CPU) on a free port of 127.0.0.1, waits for its ``/health`` and until its
processes are idle (every worker has finished importing MLflow), creates an experiment and a
run (untimed), then times
``MlflowClient.log_batch`` in chunks of 1000 metrics (MLflow's per-request limit) until the
last batch is answered, plus ``end_run``. Read = ``get_metric_history`` over REST. The server
is stopped at the end.

Run with the ``mlflow`` peer venv:
    VENV/bin/python benchmarks/peers/mlflow_server_bench.py --points 1000 --workdir /tmp/bench
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import check_series, emit, fresh_dir, parse_args, quiet_stdout, store_bytes, value

PEER = "mlflow"
VARIANT = "server log_batch"
BATCH_LIMIT = 1000
STARTUP_SECONDS = 180.0
#: The server's processes count as idle once they use less CPU than this share of a core.
IDLE_SHARE = 0.05


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow server ended (exit {server.returncode}) before answering")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"mlflow server did not answer {url}/health within {STARTUP_SECONDS:.0f} s")


def group_cpu_seconds(group: int) -> float:
    """CPU seconds used so far by the live processes of a process group (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields: state, ppid, pgrp, ..., utime (11), stime (12)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def wait_until_idle(group: int, window: float = 0.5) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    before = group_cpu_seconds(group)
    while time.monotonic() < deadline:
        time.sleep(window)
        after = group_cpu_seconds(group)
        if after - before < IDLE_SHARE * window:
            return
        before = after


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main() -> None:
    args = parse_args(__doc__)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_BACKEND_STORE_URI"):
        os.environ.pop(name, None)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    quiet_stdout()

    store = fresh_dir(args.workdir / "mlflow-server")
    os.chdir(store)  # anything the server writes relative to the cwd stays in the store
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--default-artifact-root",
        (store / "artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # Its own process group: the server's workers end with it.
    server = subprocess.Popen(command, stdout=2, stderr=2, start_new_session=True)
    try:
        wait_for(url, server)
        wait_until_idle(server.pid)

        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(url)
        client = MlflowClient(url)
        exp_id = client.create_experiment("bench")
        run_id = client.create_run(exp_id).info.run_id
        n = args.points

        start = time.perf_counter()
        for lo in range(0, n, BATCH_LIMIT):
            ts = int(time.time() * 1000)
            batch = [Metric("loss", value(i), ts, i) for i in range(lo, min(lo + BATCH_LIMIT, n))]
            client.log_batch(run_id, metrics=batch)
        client.set_terminated(run_id)
        seconds = time.perf_counter() - start

        start = time.perf_counter()
        history = client.get_metric_history(run_id, "loss")
        read_seconds = time.perf_counter() - start
        check_series([m.value for m in history], n, f"{PEER}/{VARIANT}")
    finally:
        stop(server)
    emit(PEER, VARIANT, n, seconds, store_bytes(store), read_seconds)


if __name__ == "__main__":
    main()
