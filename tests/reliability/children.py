"""Child processes of the reliability tests, and raw looks at a store from outside MLTracker.

Each ``role_*`` function below is what one child process does. A test starts it with
:class:`Child`, which runs ``python children.py ROLE 'JSON ARGUMENTS'`` and reads the lines
it prints: ``ready``-style progress lines, then ``result {...}`` (JSON) at the end.

This module imports only the standard library at the top, so a child can set up signal
handlers or wait at a start line before MLTracker is imported.
"""

from __future__ import annotations

import json
import mmap
import os
import queue
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SLOT = struct.Struct("<q")


# Shared between processes -------------------------------------------------------------------
class Counters:
    """Int64 slots in a small file, mapped in memory: a child publishes its progress there
    without a system call, and the parent (or another child) reads it at any moment."""

    def __init__(self, path: str | os.PathLike[str], slots: int = 1, *, create: bool = False):
        if create:
            Path(path).write_bytes(bytes(SLOT.size * slots))
        self._file = open(path, "r+b")  # noqa: SIM115 - kept open with the mapping
        self._map = mmap.mmap(self._file.fileno(), SLOT.size * slots)

    def __getitem__(self, slot: int) -> int:
        return int(SLOT.unpack_from(self._map, slot * SLOT.size)[0])

    def __setitem__(self, slot: int, value: int) -> None:
        SLOT.pack_into(self._map, slot * SLOT.size, value)

    def close(self) -> None:
        self._map.close()
        self._file.close()


def wait_for_file(path: str | os.PathLike[str], timeout: float) -> None:
    """Spin until ``path`` exists (a start line for many processes at once)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout} s")
        time.sleep(0.0005)


def say(*words: object) -> None:
    print(*words, flush=True)


def report(**result: Any) -> None:
    say("result", json.dumps(result))


def describe(error: BaseException) -> dict[str, Any]:
    """What a test needs to know about an exception that reached the user."""
    import mltracker

    return {
        "type": type(error).__name__,
        "module": type(error).__module__,
        "mro": [f"{c.__module__}.{c.__name__}" for c in type(error).__mro__],
        "mltracker": isinstance(error, mltracker.MLTrackerError),
        "backend": isinstance(error, mltracker.BackendError),
        "message": str(error)[:500],
    }


# Raw SQL, from outside MLTracker --------------------------------------------------------------
def is_postgres(uri: str) -> bool:
    return uri.startswith(("postgresql://", "postgres://", "postgresql+"))


def sqlite_path(uri: str) -> str:
    return uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else uri


@contextmanager
def raw_connection(uri: str) -> Iterator[Any]:
    """A DB-API connection (autocommit) to the store's tables: sqlite3 or psycopg."""
    if is_postgres(uri):
        import psycopg

        url = uri.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
            yield connection
    else:
        connection = sqlite3.connect(sqlite_path(uri), isolation_level=None, timeout=60)
        try:
            yield connection
        finally:
            connection.close()


def query(uri: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with raw_connection(uri) as connection:
        if is_postgres(uri):
            sql = sql.replace("?", "%s")
        return [tuple(row) for row in connection.execute(sql, parameters).fetchall()]


#: Rows whose owner is missing, table by table.
ORPHAN_QUERIES = {
    "models": "SELECT count(*) FROM models WHERE experiment_pk NOT IN (SELECT pk FROM experiments)",
    "series": "SELECT count(*) FROM series WHERE model_pk NOT IN (SELECT pk FROM models)",
    "metrics": "SELECT count(*) FROM metrics WHERE series_pk NOT IN (SELECT pk FROM series)",
    "iterations": "SELECT count(*) FROM iterations WHERE model_pk NOT IN (SELECT pk FROM models)",
    "modules": (
        "SELECT count(*) FROM modules WHERE (model_pk IS NOT NULL AND model_pk NOT IN "
        "(SELECT pk FROM models)) OR (iteration_pk IS NOT NULL AND iteration_pk NOT IN "
        "(SELECT pk FROM iterations))"
    ),
}


def orphans(uri: str) -> dict[str, int]:
    with raw_connection(uri) as connection:
        counts = {t: connection.execute(q).fetchone()[0] for t, q in ORPHAN_QUERIES.items()}
    return {table: count for table, count in counts.items() if count}


def integrity_problems(uri: str) -> list[str]:
    """Empty when the store is sound: SQLite's own checks, then orphan rows on both backends."""
    problems: list[str] = []
    if not is_postgres(uri):
        with raw_connection(uri) as connection:
            check = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
            if check != ["ok"]:
                problems.append(f"integrity_check: {check[:10]}")
            foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
            if foreign:
                problems.append(f"foreign_key_check: {foreign[:10]}")
    problems.extend(f"{count} orphan rows in {table}" for table, count in orphans(uri).items())
    return problems


def steps_by_model(uri: str, hash: str | None = None) -> dict[str, list[int]]:
    """Stored metric steps of each model (by hash), in storage order."""
    sql = (
        "SELECT m.hash, x.step FROM metrics x JOIN series s ON x.series_pk = s.pk "
        "JOIN models m ON s.model_pk = m.pk"
    )
    parameters: tuple[Any, ...] = ()
    if hash is not None:
        sql += " WHERE m.hash = ?"
        parameters = (hash,)
    steps: dict[str, list[int]] = {}
    for model, step in query(uri, sql + " ORDER BY x.seq", parameters):
        steps.setdefault(model, []).append(step)
    return steps


def version_rows(uri: str) -> list[int]:
    return [row[0] for row in query(uri, "SELECT version FROM mltracker_schema")]


def describe_gaps(steps: list[int]) -> str:
    """A short account of how ``steps`` differs from ``0..len-1``."""
    if steps == list(range(len(steps))):
        return "unbroken"
    seen: set[int] = set()
    duplicates = [s for s in steps if s in seen or seen.add(s)]  # type: ignore[func-returns-value]
    missing = sorted(set(range(max(steps, default=-1) + 1)) - set(steps))
    disorder = next((i for i in range(1, len(steps)) if steps[i] < steps[i - 1]), None)
    return (
        f"{len(steps)} steps, max {max(steps, default=None)}, {len(duplicates)} duplicated "
        f"(first {duplicates[:5]}), {len(missing)} missing (first {missing[:5]}), "
        f"first out of order at index {disorder}"
    )


# Starting children ----------------------------------------------------------------------------
class Child:
    """A child process running one role of this module; use it as a context manager.

    Its stdout lines are collected by a thread, so waiting for one is bounded; its stderr
    goes to a file that failures quote.
    """

    def __init__(self, role: str, *arguments: Any, log: str | os.PathLike[str]):
        self.role = role
        self.log = Path(log)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        with open(self.log, "wb") as stderr:
            self.popen = subprocess.Popen(
                [sys.executable, str(HERE), role, json.dumps(arguments)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr(self, limit: int = 6000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-limit:]

    def fail(self, message: str) -> AssertionError:
        if self.popen.poll() is None:  # still there: have it print where each thread is
            self.popen.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
        return AssertionError(
            f"{self.role} (pid {self.pid}): {message}\nstdout: {self.seen[-10:]}\n"
            f"stderr:\n{self.stderr()}"
        )

    def expect(self, prefix: str, timeout: float = 60.0) -> str:
        """Wait for the next line that starts with ``prefix`` and return it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.fail(f"no line {prefix!r} within {timeout} s")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.lines.put(None)
                raise self.fail(f"ended (code {self.popen.poll()}) before printing {prefix!r}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def result(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait for the ``result`` line and a clean exit; return the result."""
        line = self.expect("result ", timeout)
        code = self.wait(timeout)
        if code != 0:
            raise self.fail(f"exited with {code}")
        return dict(json.loads(line[len("result ") :]))

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.fail(f"still running after {timeout} s") from None

    def send_signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        self.popen.kill()
        self.popen.wait(timeout=30)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.popen.stdout is not None
        self.popen.stdout.close()


# The roles ------------------------------------------------------------------------------------
def role_writer(
    uri: str, index: int, points: int, flush_every: int, go: str, progress: str
) -> None:
    """Open a fresh store at the start line with the others, log ``points`` to a model of
    this process; slot ``index`` of ``progress`` counts the calls of ``log`` begun."""
    import mltracker
    from mltracker.connect import close_all

    counters = Counters(progress, index + 1)
    say("ready")
    wait_for_file(go, 120)
    experiment = mltracker.get_experiment("shared", uri)
    tracker = mltracker.connect(uri)
    tracker.writer.interval = 0.02
    model = experiment.models.create(f"w{index}")
    log = model.metrics.log
    for step in range(points):
        counters[index] = step + 1  # published before the call: stored <= this, always
        log("loss", step * 0.5, step=step)
        if (step + 1) % flush_every == 0:
            tracker.flush()
    tracker.close()
    close_all()
    report(logged=points)


def role_reader(uri: str, writers: int, points: int, go: str, progress: str, stop: str) -> None:
    """Poll every model's ``metrics.list()`` until ``stop`` appears; report what looked wrong."""
    import mltracker

    counters = Counters(progress, writers)
    wait_for_file(go, 120)
    tracker = mltracker.connect(uri)
    last: dict[str, int] = {}
    problems: list[str] = []
    polls = 0
    deadline = time.monotonic() + 300
    while True:
        stopping = os.path.exists(stop)
        experiment = tracker.experiments.read("shared")
        for model in experiment.models.list() if experiment is not None else []:
            steps = [point.step for point in model.metrics.list()]
            begun = counters[int(model.hash[1:])]
            count = len(steps)
            if count < last.get(model.hash, 0):
                problems.append(f"{model.hash}: count fell from {last[model.hash]} to {count}")
            if count > begun or count > points:
                problems.append(f"{model.hash}: {count} stored but only {begun} log calls begun")
            if steps != list(range(count)):
                problems.append(f"{model.hash}: not a prefix: {describe_gaps(steps)}")
            last[model.hash] = count
        polls += 1
        if stopping or time.monotonic() > deadline or len(problems) > 20:
            break
        time.sleep(0.05)
    tracker.close()
    report(polls=polls, last=last, problems=problems[:20])


def role_kill_logger(uri: str, hash: str, ack: str, interval: float, every: int) -> None:
    """Log forever; after each explicit flush of ``every`` points, append the count to ``ack``."""
    import mltracker

    tracker = mltracker.connect(uri)
    tracker.writer.interval = interval
    model = tracker.experiments.get_or_create("kill").models.create(hash)
    log = model.metrics.log
    step = 0
    with open(ack, "a") as acks:
        while True:
            log("loss", step * 0.5, step=step)
            step += 1
            if step % every == 0:
                tracker.flush()
                acks.write(f"{step}\n")
                acks.flush()
                if step == every:
                    say("ready")
                time.sleep(0.002)


def role_signalled_logger(
    uri: str, hash: str, mode: str, max_pending: int, progress: str, ready_after: int
) -> None:
    """Log forever, flushing in the logging thread every ``max_pending`` points.

    Slot 0 of ``progress``: how many ``log`` calls returned. Slot 1: how many times our own
    SIGTERM handler ran (mode ``own-handler`` exits 7 from it; ``counting-handler`` only
    counts, so many signals can be sent and the process must keep going).
    """
    counters = Counters(progress, 2)
    if mode == "own-handler":

        def leave(signum: int, frame: object) -> None:
            counters[1] = counters[1] + 1
            sys.exit(7)

        signal.signal(signal.SIGTERM, leave)
    elif mode == "counting-handler":

        def count(signum: int, frame: object) -> None:
            counters[1] = counters[1] + 1

        signal.signal(signal.SIGTERM, count)

    import mltracker

    tracker = mltracker.connect(uri)
    tracker.writer.interval = 3600.0
    tracker.writer.max_pending = max_pending
    model = tracker.experiments.get_or_create("signals").models.create(hash)
    log = model.metrics.log
    step = 0
    stop = progress + ".stop"
    while True:
        log("loss", step * 0.5, step=step)
        step += 1
        counters[0] = step
        if step == ready_after:
            say("ready")
        if step % 1000 == 0 and os.path.exists(stop):
            break
    tracker.close()
    report(logged=step, handled=counters[1])


def role_series_logger(uri: str, experiment: str, hash: str, batch: int, stop: str) -> None:
    """Log batches of ``batch`` points, each batch to a new series (a new metric name), with a
    flush after each, until the model is deleted under us (or ``stop`` appears)."""
    import mltracker

    tracker = mltracker.connect(uri)
    tracker.writer.interval = 3600.0
    model = tracker.experiments.read(experiment).models.read(hash)
    log = model.metrics.log
    flushed, ended_by = 0, None
    for number in range(1_000_000):
        name = f"series{number}"
        try:
            for step in range(batch):
                log(name, step * 0.5, step=step)
            tracker.flush()
        except Exception as error:  # noqa: BLE001 - the test judges it
            ended_by = describe(error)
            break
        flushed += 1
        if flushed == 3:
            say("ready")
        if os.path.exists(stop):
            break
    try:
        tracker.close()
    except Exception as error:  # noqa: BLE001
        ended_by = ended_by or describe(error)
    report(flushed_batches=flushed, ended_by=ended_by)


def role_deleter(uri: str, name: str) -> None:
    """Delete the experiment ``name``; print when the call starts and how long it took."""
    import mltracker

    tracker = mltracker.connect(uri)
    experiment = tracker.experiments.read(name)
    assert experiment is not None
    say("deleting")
    started = time.perf_counter()
    tracker.experiments.delete(experiment.id)
    say("deleted", time.perf_counter() - started)
    tracker.close()
    report(seconds=time.perf_counter() - started)


def upgrade_step(runs: str) -> Callable[[Any], None]:
    """A schema upgrade for the tests: adds a column, and notes each run in ``runs``."""

    def add_notes(connection: Any) -> None:
        import sqlalchemy as sa

        with open(runs, "a") as file:
            file.write(f"{os.getpid()}\n")
        connection.execute(sa.text("ALTER TABLE experiments ADD COLUMN notes TEXT"))

    return add_notes


def role_opener(uri: str, index: int, go: str, mode: str, runs: str) -> None:
    """Open the store at the start line with the others.

    ``fresh``: get the shared experiment, add a model and a point. ``upgrade``: first register
    a test upgrade step to a new schema version (``UPGRADES[v] = step``, then
    ``schema.SCHEMA_VERSION += 1``), then open with ``mltracker.connect``, read everything
    (reading upgrades nothing) and write something that changes nothing (renaming the first
    experiment to its own name), which upgrades the store first.
    ``new-release``: the same, and ``ensure_schema``'s default target follows, as it would in
    a release whose ``schema.py`` says the new version.
    """
    import mltracker
    from mltracker.backends.sql import migrations, schema
    from mltracker.connect import close_all

    if mode != "fresh":
        migrations.UPGRADES[schema.SCHEMA_VERSION] = upgrade_step(runs)
        schema.SCHEMA_VERSION += 1
    if mode == "new-release":
        migrations.ensure_schema.__defaults__ = (schema.SCHEMA_VERSION,)
    say("ready")
    wait_for_file(go, 120)
    if mode == "fresh":
        experiment = mltracker.get_experiment("shared", uri)
        model = experiment.models.create(f"m{index}")
        model.metrics.log("loss", float(index), step=index)
        close_all()
        report(index=index)
        return
    with mltracker.connect(uri) as tracker:
        content = api_snapshot(tracker)
        first = tracker.experiments.list()[0]
        tracker.experiments.update(first.id, first.name)
        report(index=index, content=content)
    close_all()


def api_snapshot(tracker: Any) -> list[Any]:
    """Everything a connection shows, as plain JSON-able data."""
    content: list[Any] = []
    for experiment in tracker.experiments.list():
        models = []
        for model in experiment.models.list():
            models.append(
                {
                    "hash": model.hash,
                    "name": model.name,
                    "step": model.step,
                    "metrics": [[p.name, p.phase, p.step, p.value] for p in model.metrics.list()],
                    "modules": [[m.name, m.attributes] for m in model.modules.list()],
                    "iterations": [
                        [i.step, [[m.name, m.attributes] for m in i.modules.list()]]
                        for i in model.iterations.list()
                    ],
                }
            )
        content.append({"name": experiment.name, "models": models})
    return content


def role_locker(uri: str, seconds: float) -> None:
    """Hold a write lock on the store for ``seconds``, then roll back.

    SQLite: ``BEGIN IMMEDIATE`` and an insert, held open. PostgreSQL: ``LOCK TABLE metrics IN
    EXCLUSIVE MODE`` (reads pass, every insert of points waits).
    """
    import uuid

    with raw_connection(uri) as connection:
        if is_postgres(uri):
            connection.execute("BEGIN")
            connection.execute("LOCK TABLE metrics IN EXCLUSIVE MODE")
            connection.execute(
                "INSERT INTO experiments (id, name, created_at) VALUES (%s, %s, %s)",
                (uuid.uuid4(), "locker", time.time()),
            )
        else:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO experiments (id, name, created_at) VALUES (?, ?, ?)",
                (uuid.uuid4().hex, "locker", time.time()),
            )
        say("locked")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
    say("released")
    report(held=seconds)


def role_steady_logger(
    uri: str, hash: str, every: int, pause: float, interval: float, stop: str, progress: str
) -> None:
    """Log until ``stop`` appears: a flush every ``every`` points, then a short pause (a
    training step). Every exception that reaches this "user" is recorded, and logging goes on.
    Slot 0 of ``progress``: points logged; slot 1: points durably flushed."""
    import mltracker

    counters = Counters(progress, 2)
    errors: list[dict[str, Any]] = []
    tracker = mltracker.connect(uri)
    tracker.writer.interval = interval
    model = tracker.experiments.get_or_create("steady").models.create(hash)
    log = model.metrics.log
    step = 0
    longest = 0.0
    say("ready")
    while True:
        stopping = os.path.exists(stop)
        for _ in range(every):
            try:
                log("loss", step * 0.5, step=step)
            except Exception as error:  # noqa: BLE001 - the test reports every one
                errors.append(describe(error))
            step += 1
            counters[0] = step
        started = time.monotonic()
        try:
            tracker.flush()
            counters[1] = step
        except Exception as error:  # noqa: BLE001
            errors.append(describe(error))
        longest = max(longest, time.monotonic() - started)
        if stopping or len(errors) > 50:
            break
        time.sleep(pause)
    final: dict[str, Any] | None = None
    try:
        tracker.close()
    except Exception as error:  # noqa: BLE001
        final = describe(error)
    report(
        logged=step,
        errors=errors[:20],
        error_count=len(errors),
        close_error=final,
        longest_flush=longest,
    )


def role_http_logger(
    url: str,
    index: int,
    points: int,
    chunk: int,
    pause: float,
    max_pending: int,
    go: str,
    progress: str,
) -> None:
    """Log ``points`` steps to model ``h{index}`` of experiment ``killed`` on a tracking
    server, a pause after each ``chunk`` (a training step), then close. Slot ``index`` of
    ``progress`` counts the calls of ``log`` that returned. Every exception that reaches this
    "user" is reported."""
    import mltracker

    counters = Counters(progress, index + 1)
    tracker = mltracker.connect(url)
    tracker.writer.interval = 0.05
    tracker.writer.max_pending = max_pending
    experiment = tracker.experiments.read("killed")
    assert experiment is not None
    model = experiment.models.create(f"h{index}")
    log = model.metrics.log
    errors: list[dict[str, Any]] = []
    say("ready")
    wait_for_file(go, 120)
    for step in range(points):
        try:
            log("loss", step * 0.5, step=step)
        except Exception as error:  # noqa: BLE001 - the test reports every one
            errors.append(describe(error))
        counters[index] = step + 1
        if (step + 1) % chunk == 0:
            time.sleep(pause)
    close_error = None
    try:
        tracker.close()
    except Exception as error:  # noqa: BLE001
        close_error = describe(error)
    report(logged=points, errors=errors[:5], error_count=len(errors), close_error=close_error)


def role_open_read_write(path: str) -> None:
    """Open a store (corrupted, or on a full disk), read all of it, write to it; report the
    first error and the stage it came at."""
    import mltracker

    stage = "open"
    try:
        tracker = mltracker.connect(path)
        tracker.experiments.list()
        stage = "read"
        api_snapshot(tracker)
        stage = "write"
        experiment = tracker.experiments.get_or_create("after corruption")
        model = experiment.models.create(f"m{os.getpid()}")
        for step in range(1000):
            model.metrics.log("loss", 0.5, step=step)
        tracker.flush()
        model.modules.log("module", {"a": 1})
        tracker.close()
    except BaseException as error:  # noqa: BLE001 - whatever it is, the test judges it
        report(stage=stage, error=describe(error))
        return
    report(stage="done", error=None)


def role_rlimit_disk_full(path: str) -> None:
    """Disk full where mounting a small tmpfs is not permitted: a file-size limit instead."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def fill() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, hard))

    def free() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    report(**disk_full_run(path, fill, free))


def disk_full_run(path: str, fill: Callable[[], None], free: Callable[[], None]) -> dict[str, Any]:
    """Log into the SQLite store ``path`` until the disk is full, then free space and flush.

    ``fill`` makes the disk fill soon (called once the store exists), ``free`` frees space.
    Returns what happened, for the test to judge.
    """
    import mltracker

    tracker = mltracker.connect(path)
    tracker.writer.interval = 3600.0
    model = tracker.experiments.create("full").models.create("m")
    fill()
    chunk, logged, flushed = 2_000, 0, 0
    error: BaseException | None = None
    while logged < 5_000_000:
        for _ in range(chunk):
            model.metrics.log("loss", logged * 0.5, step=logged)
            logged += 1
        try:
            tracker.flush()
        except Exception as caught:  # noqa: BLE001 - the test judges it
            error = caught
            break
        flushed = logged
    stored_when_full = [row[0] for row in query(path, "SELECT step FROM metrics ORDER BY seq")]
    problems_when_full = integrity_problems(path)
    pending_when_full = tracker.writer.pending
    logged_when_full = logged
    free()
    retry_error = None
    try:
        tracker.flush()
        model.metrics.log("loss", logged * 0.5, step=logged)
        logged += 1
        tracker.close()
    except Exception as caught:  # noqa: BLE001
        retry_error = describe(caught)
    stored = [row[0] for row in query(path, "SELECT step FROM metrics ORDER BY seq")]
    return {
        "logged": logged,
        "flushed": flushed,
        "error": None if error is None else describe(error),
        "stored_when_full": describe_gaps(stored_when_full),
        "stored_count_when_full": len(stored_when_full),
        "problems_when_full": problems_when_full,
        "pending_when_full": pending_when_full,
        "logged_when_full": logged_when_full,
        "retry_error": retry_error,
        "stored": describe_gaps(stored),
        "stored_count": len(stored),
        "problems": integrity_problems(path),
    }


def main() -> None:
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # Child.fail asks for the stacks
    role, arguments = sys.argv[1], json.loads(sys.argv[2])
    globals()[f"role_{role.replace('-', '_')}"](*arguments)


if __name__ == "__main__":
    main()
