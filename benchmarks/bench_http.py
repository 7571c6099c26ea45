"""Logging to and reading from a tracking server over loopback HTTP, against the same work
embedded in one process, and against MLflow's tracking server.

```
.venv/bin/python benchmarks/bench_http.py            # 1M points, about 80 seconds on 2 cores
.venv/bin/python benchmarks/bench_http.py --quick    # tiny sizes, no peer, seconds
```

Every client is a process of its own (this script with ``--worker``): it connects, creates
its model (untimed), says it is ready and waits for the start signal, then calls
``model.metrics.log("loss", i * 0.001, step=i, phase="train")`` per point and ``flush()``
(timed). The server is ``mltracker --uri <fresh SQLite file> server --port 0``, another
process, started afresh for each measurement; the URL it prints is where clients log.

1. **Write**: one embedded process on a SQLite file; one client process over HTTP; then
   ``--clients`` processes at once, each into its own model, first splitting the points
   between them (the total equals the other rows', so the store ends the same size), then
   logging ``--points`` each (the steady state of many long jobs), timed from the first
   start to the last flush. MLflow's tracking server (``mlflow server`` on SQLite, from
   the peer venv of ``peers/setup.sh``) gets ``MlflowClient.log_batch`` over REST in
   batches of 1000, capped at ``--mlflow-cap`` points; ours run at the cap too, so the
   ratio compares equal sizes.
2. **Read** of the series of the one-client run: ``model.metrics.list("loss")`` over HTTP,
   and ``GET /api/v1/models/{id}/metrics?name=loss&budget=2000`` with urllib3, the JSON
   decoded (best of 3), against the embedded process's ``metrics.list``. Read rates are
   points of the series per second, also for the budget read (which returns ~2,000).

Then the targets, MET / NOT MET. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import METRIC, PHASE, settle  # noqa: E402
from bench_peers import venvs_dir  # noqa: E402
from bench_report import Target, div, n_, rate_, ratio_, table, targets_section  # noqa: E402

DEFAULT_POINTS = 1_000_000
QUICK_POINTS = 5_000
DEFAULT_CLIENTS = 8
DEFAULT_MLFLOW_CAP = 100_000
QUICK_MLFLOW_CAP = 2_000
BUDGET = 2_000
EXPERIMENT = "bench"
#: How long a server may take to print its URL, and a worker to get ready.
STARTUP_SECONDS = 60.0


@dataclass
class Write:
    """``points`` logged by ``clients`` processes in ``seconds`` (first start to last flush)."""

    who: str  # "embedded", "http", "mlflow"
    points: int
    seconds: float
    clients: int = 1

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    @property
    def each(self) -> int:
        """Points per client (the first's, when they do not divide evenly)."""
        return split(self.points, self.clients)[0]


@dataclass
class Read:
    """A read of a series of ``points`` points that returned ``returned`` of them."""

    who: str  # "embedded list", "http list", "http budget", "mlflow history"
    points: int
    returned: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Outcome:
    writes: list[Write]
    reads: list[Read]
    notes: list[str]

    def write(self, who: str, points: int, clients: int = 1) -> Write | None:
        for found in self.writes:
            if found.who == who and found.points == points and found.clients == clients:
                return found
        return None

    def read(self, who: str, points: int) -> Read | None:
        for found in self.reads:
            if found.who == who and found.points == points:
                return found
        return None


# The client processes --------------------------------------------------------------------


def worker(args: argparse.Namespace) -> int:
    """One client: log ``--points`` points into model ``--model`` of ``--uri``; print JSON."""
    import mltracker

    with mltracker.connect(args.uri) as connection:
        try:
            experiment = connection.experiments.create(EXPERIMENT)
        except mltracker.AlreadyExistsError:  # another client made it first
            experiment = connection.experiments.read(EXPERIMENT)
            assert experiment is not None
        model = experiment.models.create(args.model)
        log = model.metrics.log
        settle()
        print("ready", flush=True)
        sys.stdin.readline()  # the start signal

        start = time.monotonic()
        for i in range(args.points):
            log(METRIC, i * 0.001, step=i, phase=PHASE)
        connection.flush()
        end = time.monotonic()

        record: dict[str, Any] = {"points": args.points, "start": start, "end": end}
        if args.read:
            record["reads"] = reads(args.uri, model, args.points, args.budget)
    print(json.dumps(record), flush=True)
    return 0


def reads(uri: str, model: Any, n: int, budget: int) -> list[dict[str, Any]]:
    """The series read whole with ``metrics.list``, and (over HTTP) with a point budget."""
    found: list[dict[str, Any]] = []
    http = uri.startswith(("http://", "https://"))
    settle()
    start = time.perf_counter()
    points = model.metrics.list(METRIC)
    seconds = time.perf_counter() - start
    if len(points) != n or points[0].value != 0.0 or points[-1].step != n - 1:
        raise SystemExit(f"{uri}: read back {len(points)} points, expected {n}")
    del points
    found.append({"who": "http list" if http else "embedded list", "seconds": seconds})
    if http:
        import orjson
        import urllib3

        url = f"{uri}/api/v1/models/{model.id}/metrics?name={METRIC}&budget={budget}"
        pool = urllib3.PoolManager()
        pool.request("GET", f"{uri}/api/v1/health")  # the connection is open before timing
        times, returned = [], 0
        for _ in range(3):
            settle()
            start = time.perf_counter()
            response = pool.request("GET", url)
            document = orjson.loads(response.data)
            times.append(time.perf_counter() - start)
            if response.status != 200:
                raise SystemExit(f"GET {url}: HTTP {response.status}")
            returned = len(document["s"])
        pool.clear()
        found.append({"who": "http budget", "seconds": min(times), "returned": returned})
    return found


def start_workers(uri: str, counts: list[int], read: bool, budget: int) -> list[dict[str, Any]]:
    """Start one client per count, let them log at once, and return what each printed."""
    processes: list[subprocess.Popen[str]] = []
    try:
        for number, count in enumerate(counts):
            command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
            command += ["--uri", uri, "--model", f"client-{number}", "--points", str(count)]
            command += ["--budget", str(budget)] + (["--read"] if read else [])
            processes.append(
                subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env()
                )
            )
        for process in processes:
            line = _line(process.stdout, STARTUP_SECONDS)
            if line.strip() != "ready":
                raise RuntimeError(f"a client did not get ready: {line!r}")
        for process in processes:  # all at once
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"a client failed (exit {process.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRACKER_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _line(stream: IO[str] | None, timeout: float) -> str:
    """The next line of ``stream``, or an error after ``timeout`` seconds."""
    import selectors

    assert stream is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError(f"nothing printed within {timeout:.0f} s")
    return stream.readline()


def split(n: int, clients: int) -> list[int]:
    """``n`` points over ``clients`` clients, as evenly as can be."""
    return [n // clients + (1 if k < n % clients else 0) for k in range(clients)]


# The server --------------------------------------------------------------------------------


class Server:
    """``mltracker --uri PATH server --port 0`` in a process of its own."""

    def __init__(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        command = [sys.executable, "-m", "mltracker", "--uri", str(path), "server", "--port", "0"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
        )
        try:
            self.url = _line(self.process.stdout, STARTUP_SECONDS).strip()
        except RuntimeError:
            self.stop()
            raise
        if not self.url.startswith("http://"):
            error = self.stop()
            raise RuntimeError(f"the server did not start: {self.url!r} {error}")

    def stop(self) -> str:
        """Stop it as Ctrl-C would; what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, error = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, error = self.process.communicate()
        return error or ""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The measurements --------------------------------------------------------------------------


def measure_embedded(path: Path, n: int, outcome: Outcome, read: bool) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    (result,) = start_workers(str(path), [n], read, BUDGET)
    outcome.writes.append(Write("embedded", n, result["end"] - result["start"]))
    _add_reads(outcome, n, result)


def measure_http(path: Path, counts: list[int], outcome: Outcome, read: bool) -> Write:
    """Clients of ``counts`` points each, logging at once to a server of their own."""
    with Server(path) as server:
        results = start_workers(server.url, counts, read, BUDGET)
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    found = Write("http", sum(counts), end - start, len(counts))
    outcome.writes.append(found)
    if read:
        _add_reads(outcome, found.points, results[0])
    return found


def _add_reads(outcome: Outcome, n: int, result: dict[str, Any]) -> None:
    for found in result.get("reads", []):
        returned = found.get("returned", n)
        outcome.reads.append(Read(found["who"], n, returned, found["seconds"]))


def measure_mlflow(cap: int, workdir: Path, timeout: float, outcome: Outcome) -> bool:
    python = venvs_dir() / "mlflow" / "bin" / "python"
    if not python.exists():
        outcome.notes.append(
            f"MLflow server: skipped, no venv at {python.parent.parent} "
            "(run: bash benchmarks/peers/setup.sh)"
        )
        return False
    script = HERE / "peers" / "mlflow_server_bench.py"
    command = [str(python), str(script), "--points", str(cap), "--workdir", str(workdir)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        outcome.notes.append(f"MLflow server at {cap:,} points: no result within {timeout:.0f} s")
        return False
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
        outcome.notes.append(f"MLflow server failed (exit {completed.returncode}): {tail}")
        return False
    record = json.loads(lines[-1])
    outcome.writes.append(Write("mlflow", int(record["points"]), float(record["seconds"])))
    if record.get("read_seconds") is not None:
        outcome.reads.append(Read("mlflow history", cap, cap, float(record["read_seconds"])))
    return True


# The report --------------------------------------------------------------------------------

WHO = {
    "embedded": "embedded, one process (SQLite file)",
    "http": "HTTP, one client process",
    "mlflow": "MLflow server, log_batch of 1000 (REST)",
}
READ_WHO = {
    "embedded list": "embedded metrics.list",
    "http list": "HTTP metrics.list",
    "http budget": "HTTP GET budget={budget}, JSON decoded",
    "mlflow history": "MLflow server get_metric_history (REST)",
}


def write_section(outcome: Outcome, n: int, clients: int, cap: int | None) -> str:
    rows = []
    for size in sorted({n} | ({cap} if cap else set()), reverse=True):
        embedded = outcome.write("embedded", size)
        one = outcome.write("http", size)
        base = embedded.rate if embedded else None
        candidates = [embedded, one]
        if clients > 1 and size == n:
            candidates.append(outcome.write("http", size, clients))
            candidates.append(outcome.write("http", size * clients, clients))
        if size == cap:
            candidates.append(outcome.write("mlflow", size))
        for found in candidates:
            if found is None:
                continue
            label = WHO[found.who]
            if found.clients > 1:
                label = f"HTTP, {found.clients} client processes at once, {n_(found.each)} each"
            versus = "-" if found.who == "http" and found.clients == 1 else None
            rows.append(
                [
                    n_(found.points),
                    label,
                    rate_(found.rate),
                    ratio_(div(found.rate, base)),
                    versus or ratio_(div(one.rate if one else None, found.rate)),
                ]
            )
    return "\n".join(
        [
            "1. Write: points/s, model.metrics.log per point + flush() (higher is better)",
            "   every client is a process of its own, the server another, on a fresh SQLite",
            f"   file; N = points in all; the {clients} clients log into models of their own,",
            f"   {n_(n)} points between them, then {n_(n)} each, timed from the first",
            "   start to the last flush; vs embedded = this rate / embedded's in the same",
            "   group; one client/this = the one HTTP client's rate in the group / this rate",
            table(["N", "who", "points/s", "vs embedded", "one client/this"], rows),
        ]
    )


def read_section(outcome: Outcome, n: int, cap: int | None) -> str:
    rows = []
    for size in sorted({n} | ({cap} if cap else set()), reverse=True):
        embedded = outcome.read("embedded list", size)
        http = outcome.read("http list", size)
        for who in ("embedded list", "http list", "http budget", "mlflow history"):
            found = outcome.read(who, size)
            if found is None:
                continue
            rows.append(
                [
                    n_(size),
                    READ_WHO[who].format(budget=BUDGET),
                    n_(found.returned),
                    f"{found.seconds:.3f}",
                    rate_(found.rate),
                    ratio_(div(found.rate, embedded.rate if embedded else None)),
                    "-"
                    if who == "http list"
                    else ratio_(div(http.rate if http else None, found.rate)),
                ]
            )
    return "\n".join(
        [
            "2. Read: one series of N points (higher points/s is better)",
            "   points/s = N / seconds, also for the budget read; best of 3 for the budget read",
            "   vs embedded = this / embedded metrics.list; HTTP list/this = our HTTP read / this",
            table(
                ["N", "who", "returned", "seconds", "points/s", "vs embedded", "HTTP list/this"],
                rows,
            ),
        ]
    )


def _target(name: str, minimum: float, ratio: float | None, missing: str) -> Target:
    if ratio is None:
        return Target(name, f">= {minimum:g}x", None, None, missing)
    return Target(name, f">= {minimum:g}x", ratio_(ratio), ratio >= minimum)


def targets(outcome: Outcome, n: int, clients: int, cap: int | None) -> list[Target]:
    embedded, one = outcome.write("embedded", n), outcome.write("http", n)
    base = embedded.rate if embedded else None
    found = [
        _target(
            f"one HTTP client vs embedded at {n_(n)} points",
            0.3,
            div(one.rate if one else None, base),
            "not run",
        )
    ]
    for total in (n, n * clients):
        many = outcome.write("http", total, clients)
        found.append(
            _target(
                f"{clients} HTTP clients of {n_(split(total, clients)[0])} points together "
                f"vs one embedded process of {n_(n)}",
                1.0,
                div(many.rate if many else None, base),
                "not run",
            )
        )
    mlflow = outcome.write("mlflow", cap) if cap else None
    ours = outcome.write("http", cap) if cap else None
    found.append(
        _target(
            f"one HTTP client vs MLflow server at {n_(cap)} points" if cap else "vs MLflow server",
            20.0,
            div(ours.rate if ours else None, mlflow.rate if mlflow else None),
            "peer not run",
        )
    )
    return found


def header(n: int, clients: int) -> str:
    import mltracker

    return "\n".join(
        [
            f"MLTracker {mltracker.__version__} HTTP benchmark, loopback",
            f"  Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"{platform.system()} {platform.machine()}, {os.cpu_count() or 0} CPUs",
            f"  {n_(n)} points; {clients} clients; server: mltracker server, one process; "
            "one run per measurement",
        ]
    )


def render(outcome: Outcome, n: int, clients: int, cap: int | None) -> tuple[str, list[Target]]:
    found = targets(outcome, n, clients, cap)
    sections = [header(n, clients), write_section(outcome, n, clients, cap)]
    sections.append(read_section(outcome, n, cap))
    if outcome.notes:
        sections.append("Notes\n" + "\n".join(f"  - {note}" for note in outcome.notes))
    sections.append(targets_section(found))
    return "\n\n".join(sections), found


# The command line --------------------------------------------------------------------------


def count(text: str) -> int:
    """``"1M"`` -> 1000000, ``"100k"`` -> 100000."""
    text = text.strip().replace("_", "").replace(",", "").lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        value = int(float(text.rstrip("km")) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of points: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--points",
        type=count,
        default=None,
        help=f"points per measurement, k/M allowed (default {DEFAULT_POINTS:,}; "
        f"with --quick {QUICK_POINTS:,})",
    )
    parser.add_argument(
        "--clients", type=int, default=DEFAULT_CLIENTS, help="client processes logging at once"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes; MLflow only if asked")
    parser.add_argument(
        "--mlflow",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run MLflow's tracking server as the peer (default: yes, except with --quick)",
    )
    parser.add_argument(
        "--mlflow-cap",
        type=count,
        default=None,
        metavar="N",
        help=f"most points for MLflow (default {DEFAULT_MLFLOW_CAP:,}; "
        f"with --quick {QUICK_MLFLOW_CAP:,})",
    )
    parser.add_argument(
        "--peer-timeout", type=float, default=900.0, metavar="SECONDS", help="(default 900)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the stores here (default: temporary)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    # A client process (started by this script).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--read", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=BUDGET, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.points is None:
        args.points = QUICK_POINTS if args.quick else DEFAULT_POINTS
    # Why MLflow is left out, if it is.
    args.mlflow_off_by = "--quick; add --mlflow to run it" if args.mlflow is None else "--no-mlflow"
    if args.mlflow is None:
        args.mlflow = not args.quick
    if args.mlflow_cap is None:
        args.mlflow_cap = QUICK_MLFLOW_CAP if args.quick else DEFAULT_MLFLOW_CAP
    if args.points < 1 or args.clients < 1:
        parser.error("--points and --clients must be >= 1")
    return args


_BEGAN = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


def rate_of(found: Write | None) -> float:
    return found.rate if found is not None else 0.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    n, clients = args.points, args.clients
    cap = min(args.mlflow_cap, n) if args.mlflow and args.mlflow_cap > 0 else None
    outcome = Outcome([], [], [])
    if not args.mlflow:
        outcome.notes.append(f"MLflow server: left out ({args.mlflow_off_by})")
    elif args.mlflow_cap == 0:
        outcome.notes.append("MLflow server: skipped (--mlflow-cap 0)")

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="mltracker-http-")) if temporary else args.workdir
    workdir = workdir.expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    progress(f"stores in {workdir}" + (" (deleted at the end)" if temporary else ""))
    began = time.perf_counter()
    try:
        sizes = sorted({n} | ({cap} if cap else set()), reverse=True)
        for size in sizes:
            measure_embedded(workdir / f"embedded-{size}.db", size, outcome, read=True)
            rate = rate_of(outcome.write("embedded", size))
            progress(f"embedded, {size:,} points: {rate:,.0f}/s")
            one = measure_http(workdir / f"http-{size}.db", [size], outcome, read=True)
            progress(f"HTTP, one client, {size:,} points: {one.rate:,.0f}/s")
            if size == n and clients > 1:
                for counts in (split(n, clients), [n] * clients):
                    path = workdir / f"http-{size}-{clients}x{counts[0]}.db"
                    many = measure_http(path, counts, outcome, read=False)
                    progress(f"HTTP, {clients} clients of {counts[0]:,} points: {many.rate:,.0f}/s")
        if cap:
            progress("MLflow server")
            if measure_mlflow(cap, workdir / "peers", args.peer_timeout, outcome):
                rate = rate_of(outcome.write("mlflow", cap))
                progress(f"MLflow server, {cap:,} points: {rate:,.1f}/s")
            else:
                progress(outcome.notes[-1])
                cap = None
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)

    report, found = render(outcome, n, clients, cap)
    elapsed = time.perf_counter() - began
    print(report)
    print(f"\nTotal time: {elapsed:.0f} s")
    if args.json is not None:
        document = {
            "points": n,
            "clients": clients,
            "mlflow_cap": cap,
            "writes": [
                asdict(w) | {"each": w.each, "rate": round(w.rate, 3)} for w in outcome.writes
            ],
            "reads": [asdict(r) | {"rate": round(r.rate, 3)} for r in outcome.reads],
            "notes": outcome.notes,
            "targets": [t.to_json() for t in found],
            "seconds": round(elapsed, 3),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
