"""What the dashboard costs: a long series read with a point budget, an experiment page of many
models, and the time to the first chart in headless Chromium.

```
.venv/bin/python benchmarks/bench_dashboard.py            # about 4 minutes on 2 cores
.venv/bin/python benchmarks/bench_dashboard.py --quick    # small sizes, seconds
.venv/bin/python benchmarks/bench_dashboard.py --mlflow   # also MLflow's UI (minutes more)
```

1. **Budgeted read**: one series of ``--points`` (1M) points in SQLite. Reading it whole with
   ``model.metrics.list("loss")`` against ``GET /api/v1/models/{id}/metrics?name=loss&budget=2000``
   from a tracking server in this process (what a chart asks for). Target: <= 0.05x.
2. **Experiment page**: ``--models`` (500) models of ``--series`` (6) series of ``--per-series``
   (200) points. The SQL statements and the time of ``GET /api/v1/overview/experiment`` (what
   the page reads, and polls), with 100 models and with all of them: the number of statements
   must not grow with the models.
3. **Time to first chart**: a model with 4 series of ``--chart-points`` (1M) points each, one
   chart per series; headless Chromium (``/usr/bin/chromium``) opens the model's page; the
   time until the first chart is drawn and until all four are, best of ``--runs`` (2). With
   ``--mlflow``, the same data logged to MLflow (``log_batch``, in the venv of
   ``benchmarks/peers/setup.sh``) and its run page's "Model metrics" opened in the same
   browser.

Progress goes to stderr, the figures and ratios to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import urllib3  # noqa: E402

import mltracker  # noqa: E402
from mltracker.connect import open_store  # noqa: E402
from mltracker.server.serve import ServerThread, prepared_store  # noqa: E402

CHROMIUM = os.environ.get("MLTRACKER_CHROMIUM", "/usr/bin/chromium")
MLFLOW_VENV = (
    Path(os.environ.get("MLTRACKER_BENCH_VENVS", Path.home() / ".cache" / "mltracker-bench"))
    / "mlflow"
)
CHART_SERIES = ("loss", "accuracy", "grad_norm", "lr")
BUDGET = 2000
HTTP = urllib3.PoolManager(timeout=urllib3.Timeout(total=600), retries=False)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_of(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def value(step: int, count: int, offset: float = 0.0) -> float:
    """A noisy decaying curve (what training logs), deterministic."""
    return offset + 1.0 / (1.0 + step / (count / 20)) + 0.05 * ((step * 7919) % 101) / 101


# 1. Budgeted read --------------------------------------------------------------------------


def budgeted_read(folder: Path, points: int, runs: int) -> dict[str, Any]:
    uri = str(folder / "read.db")
    note(f"[read] logging {points:,} points")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("read").models.create("m")
        for step in range(points):
            model.metrics.log("loss", value(step, points), step=step, phase="train")
        model_id = model.id
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.read("read").models.read("m")  # type: ignore[union-attr]
        whole = best_of(runs, lambda: model.metrics.list("loss"))
    store = prepared_store(uri)
    server = ServerThread(store)
    try:
        url = f"{server.url}/api/v1/models/{model_id}/metrics?name=loss&budget={BUDGET}"
        answer = HTTP.request("GET", url)
        kept = len(json.loads(answer.data)["s"])
        budgeted = best_of(runs, lambda: json.loads(HTTP.request("GET", url).data))
    finally:
        server.stop()
        store.close()
    return {"points": points, "whole": whole, "budgeted": budgeted, "kept": kept}


# 2. Experiment page ------------------------------------------------------------------------


def experiment_page(
    folder: Path, models: int, series: int, per_series: int, runs: int
) -> list[dict[str, Any]]:
    uri = str(folder / "page.db")
    note(f"[page] logging {models} models x {series} series x {per_series} points")
    names = [f"metric{index}" for index in range(series)]
    with mltracker.connect(uri) as tracker:
        for experiment_name, count in (("some", min(100, models)), ("all", models)):
            experiment = tracker.experiments.create(experiment_name)
            for index in range(count):
                model = experiment.models.create(f"h{index}", name=f"model {index}")
                for step in range(per_series):
                    model.metrics.log_many(
                        {name: value(step, per_series, index * 0.01) for name in names},
                        step=step,
                    )
    store = prepared_store(uri)
    statements: list[str] = []

    import sqlalchemy as sa

    def trace(dbapi: Any, _record: Any) -> None:
        dbapi.set_trace_callback(statements.append)

    sa.event.listen(store.engine, "connect", trace)  # type: ignore[attr-defined]
    store.engine.dispose()  # type: ignore[attr-defined]
    server = ServerThread(store)
    found = []
    try:
        for experiment_name in ("some", "all"):
            for counts in (True, False):
                url = f"{server.url}/api/v1/overview/experiment?name={experiment_name}"
                if not counts:
                    url += "&counts=false"
                HTTP.request("GET", url)  # warm
                statements.clear()
                HTTP.request("GET", url)
                queries = sum(
                    1 for text in statements if text.lstrip().upper().startswith(("SELECT", "WITH"))
                )
                seconds = best_of(runs, lambda url=url: HTTP.request("GET", url))
                count = min(100, models) if experiment_name == "some" else models
                found.append(
                    {"models": count, "counts": counts, "queries": queries, "seconds": seconds}
                )
    finally:
        server.stop()
        store.close()
    return found


# 3. Time to first chart --------------------------------------------------------------------


def chart_store(folder: Path, points: int) -> str:
    uri = str(folder / "charts.db")
    note(f"[chart] logging {len(CHART_SERIES)} series x {points:,} points")
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("charts").models.create("run", name="long run")
        for step in range(points):
            model.metrics.log_many(
                {name: value(step, points, i) for i, name in enumerate(CHART_SERIES)},
                step=step,
                phase="train",
            )
    return uri


DRAWN = """count => {
    const charts = [...document.querySelectorAll('.chart')]
        .filter(chart => chart.mlChart && chart.mlChart.summary().drawn);
    return charts.length >= count;
}"""


def time_to_charts(browser: Any, url: str, runs: int) -> tuple[float, float]:
    first = every = float("inf")
    for _ in range(runs):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_function(DRAWN, arg=1, timeout=600_000, polling=20)
        first = min(first, time.perf_counter() - start)
        page.wait_for_function(DRAWN, arg=len(CHART_SERIES), timeout=600_000, polling=20)
        every = min(every, time.perf_counter() - start)
        page.close()
    return first, every


def ours_in_browser(uri: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    store = open_store(uri)
    server = ServerThread(store, read_only=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                first, every = time_to_charts(
                    browser, f"{server.url}/experiments/charts/models/run", runs
                )
            finally:
                browser.close()
    finally:
        server.stop()
        store.close()
    return {"first": first, "all": every}


MLFLOW_LOG = textwrap.dedent(
    """
    import sys, time
    import mlflow
    from mlflow.entities import Metric
    uri, points, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("charts")
    run = client.create_run(experiment, run_name="long run")
    now = int(time.time() * 1000)
    def value(step, count, offset):
        return offset + 1.0 / (1.0 + step / (count / 20)) + 0.05 * ((step * 7919) % 101) / 101
    batch = []
    for step in range(points):
        for i, name in enumerate(names):
            batch.append(Metric(name, value(step, points, i), now + step, step))
        if len(batch) >= 1000:
            client.log_batch(run.info.run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
    print(experiment, run.info.run_id)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mlflow_in_browser(folder: Path, points: int, runs: int) -> dict[str, Any] | None:
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        note(f"[mlflow] skipped: no venv at {MLFLOW_VENV} (bash benchmarks/peers/setup.sh)")
        return None
    from playwright.sync_api import sync_playwright

    store = f"sqlite:///{folder / 'mlflow.db'}"
    note(f"[mlflow] logging {len(CHART_SERIES)} series x {points:,} points with log_batch")
    start = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", MLFLOW_LOG, store, str(points), ",".join(CHART_SERIES)],
        capture_output=True,
        text=True,
        check=True,
        cwd=folder,
    )
    note(f"[mlflow] logged in {time.perf_counter() - start:.0f} s")
    experiment, run = done.stdout.split()
    port = free_port()
    server = subprocess.Popen(
        [
            str(python),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            store,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--workers",
            "1",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if HTTP.request("GET", base + "/health").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.2)
        url = f"{base}/#/experiments/{experiment}/runs/{run}/model-metrics"
        drawn = """count => document.querySelectorAll(
            '.js-plotly-plot .scatterlayer .trace path.js-line').length >= count"""
        first = every = float("inf")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                for _ in range(runs):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    start = time.perf_counter()
                    page.goto(url)
                    page.wait_for_function(drawn, arg=1, timeout=600_000, polling=20)
                    first = min(first, time.perf_counter() - start)
                    page.wait_for_function(
                        drawn, arg=len(CHART_SERIES), timeout=600_000, polling=20
                    )
                    every = min(every, time.perf_counter() - start)
                    page.close()
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"first": first, "all": every}


# Report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--series", type=int, default=6)
    parser.add_argument("--per-series", type=int, default=200)
    parser.add_argument("--chart-points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mlflow", action="store_true", help="also MLflow's UI")
    parser.add_argument("--no-browser", action="store_true", help="skip part 3")
    parser.add_argument("--workdir", type=Path, help="keep the stores here")
    options = parser.parse_args()
    if options.quick:
        options.points, options.models, options.per_series = 20_000, 120, 20
        options.chart_points = 20_000
    with tempfile.TemporaryDirectory() as temporary:
        folder = options.workdir or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        report(folder, options)


def report(folder: Path, options: argparse.Namespace) -> None:
    read = budgeted_read(folder, options.points, options.runs)
    ratio = read["budgeted"] / read["whole"]
    print(f"1. A series of {read['points']:,} points (SQLite)")
    print(f"   metrics.list('loss'), whole:              {read['whole'] * 1000:9.1f} ms")
    print(
        f"   GET .../metrics?budget={BUDGET} ({read['kept']:,} kept): "
        f"{read['budgeted'] * 1000:9.1f} ms   {ratio:.3f}x   target <= 0.05x  "
        f"{verdict(ratio <= 0.05)}"
    )

    page = experiment_page(folder, options.models, options.series, options.per_series, options.runs)
    print(
        f"2. GET /api/v1/overview/experiment: models x {options.series} series x "
        f"{options.per_series} points"
    )
    for row in page:
        label = "with point counts" if row["counts"] else "counts=false     "
        print(
            f"   {row['models']:5d} models, {label}: {row['queries']:3d} SQL statements, "
            f"{row['seconds'] * 1000:8.1f} ms"
        )
    constant = all(
        a["queries"] == b["queries"] for a in page for b in page if a["counts"] == b["counts"]
    )
    print(f"   statements independent of the number of models: {verdict(constant)}")

    if options.no_browser:
        return
    if not Path(CHROMIUM).exists():
        print(f"3. skipped: no Chromium at {CHROMIUM}")
        return
    uri = chart_store(folder, options.chart_points)
    ours = ours_in_browser(uri, options.runs)
    print(
        f"3. Time to charts in headless Chromium, {len(CHART_SERIES)} series x "
        f"{options.chart_points:,} points (best of {options.runs})"
    )
    print(f"   MLTracker: first chart {ours['first']:7.2f} s, all four {ours['all']:7.2f} s")
    if options.mlflow:
        mlflow = mlflow_in_browser(folder, options.chart_points, options.runs)
        if mlflow is not None:
            print(
                f"   MLflow UI: first chart {mlflow['first']:7.2f} s, all four "
                f"{mlflow['all']:7.2f} s   (MLTracker/MLflow: "
                f"{ours['first'] / mlflow['first']:.2f}x, {ours['all'] / mlflow['all']:.2f}x)"
            )


if __name__ == "__main__":
    main()
