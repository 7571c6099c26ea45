"""A client process of the soak test (``test_soak.py``): ``python soak_client.py 'JSON'``.

It logs steps ``0..steps-1`` of the metric ``loss`` to the model named by its ``hash`` (in
experiment ``soak`` of the server at ``url``), the value of each point being
:func:`expected_value` of the hash and the step, a short pause after each chunk of points (a
training step). At random moments (its own seeded RNG) it forks workers, which log their own
points to their own models the same way:

- ``os.fork``: the child opens a handle of the same URL, logs, then closes every session of
  the process (``close_all``, what a forked child that leaves through ``os._exit`` must do)
  and leaves through ``os._exit``;
- a ``multiprocessing`` pool (fork context): each task logs to a model of its own and
  returns (the points of a task are written before its result is sent back).

Every process, worker or task publishes its progress in a small file of its own,
``DIR/progress/HASH`` (see :data:`SLOTS`), updated after each ``log`` call returns, and
describes itself in ``DIR/info/HASH.json`` (pid, kind, parent, stderr log). It stops
logging when ``DIR/stop`` appears. A client ends by closing its handle, waiting for its
workers (bounded) and printing ``result {...}``.

Only the standard library is imported before ``main``; MLTracker is imported there, once the
process knows where its stderr goes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from children import Counters  # noqa: E402 - the path above first

EXPERIMENT = "soak"
METRIC = "loss"
#: The slots of a progress file.
RETURNED, STATE, SPOOLED_AT_END, CLOSE_STARTED_MS, CLOSE_ENDED_MS, PID = range(6)
SLOTS = 6
#: Values of the ``STATE`` slot.
STARTING, LOGGING, CLOSING, CLOSED, CLOSE_RAISED = range(5)
CHUNK = 50
SETUP_SECONDS = 60.0
WORKER_WAIT_SECONDS = 40.0

T = TypeVar("T")


def expected_value(hash: str, step: int) -> float:
    """The value a process logs at ``step`` to the model ``hash`` (exact in binary)."""
    return float(zlib.crc32(hash.encode()) % 997) + step * 0.25


def say(*words: object) -> None:
    print(*words, flush=True)


def retried(call: Callable[[], T], what: str) -> T:
    """``call()``, again after each MLTracker error (a setup call meeting a fault), bounded."""
    import mltracker

    deadline = time.monotonic() + SETUP_SECONDS
    while True:
        try:
            return call()
        except mltracker.MLTrackerError as error:
            if time.monotonic() > deadline:
                raise
            print(f"soak: {what} failed, again: {type(error).__name__}: {error}", file=sys.stderr)
            time.sleep(0.2)


def own_spooled_points(directory: str) -> int:
    """Points in the spool files this process created that are still there."""
    total = 0
    folder = Path(directory)
    for path in folder.glob(f"*-{os.getpid()}-*.spool") if folder.is_dir() else []:
        try:
            lines = path.read_bytes().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            try:
                total += len(json.loads(line)["points"])
            except (ValueError, KeyError):
                pass
    return total


def describe_self(root: Path, hash: str, kind: str, parent: str | None, log: str) -> Counters:
    """Create this process's progress file and its description; the progress counters."""
    counters = Counters(root / "progress" / hash, SLOTS, create=True)
    counters[PID] = os.getpid()
    info = {"hash": hash, "kind": kind, "pid": os.getpid(), "parent": parent, "log": log}
    temporary = root / "info" / f"{hash}.json.partial"
    temporary.write_text(json.dumps(info))
    temporary.rename(root / "info" / f"{hash}.json")
    return counters


def log_steps(
    tracker: Any,
    root: Path,
    hash: str,
    steps: int,
    pause: float,
    counters: Counters,
    every_chunk: Callable[[], None] | None = None,
) -> int:
    """Get the model ``hash`` through the handle ``tracker`` and log its steps until done or
    stopped; how many ``log`` calls returned."""
    experiment = retried(lambda: tracker.experiments.get_or_create(EXPERIMENT), "experiment")
    model = retried(lambda: experiment.models.get_or_create(hash), "model")
    log = model.metrics.log
    stop = root / "stop"
    counters[STATE] = LOGGING
    step = 0
    while step < steps:
        log(METRIC, expected_value(hash, step), step=step)
        step += 1
        counters[RETURNED] = step  # after the call returned: stored >= this
        if step % CHUNK == 0:
            if stop.exists():
                break
            if every_chunk is not None:
                every_chunk()
            time.sleep(pause)
    return step


def redirect_stderr(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 2)
    os.close(descriptor)


# Workers --------------------------------------------------------------------------------------
def fork_worker(url: str, root: Path, hash: str, parent: str, steps: int, pause: float) -> int:
    """In a child forked from a client: log, close every session, leave; the exit code."""
    import mltracker
    from mltracker.connect import close_all

    log = root / "logs" / f"{hash}.err"
    redirect_stderr(log)
    counters = describe_self(root, hash, "fork", parent, str(log))
    try:
        log_steps(mltracker.connect(url), root, hash, steps, pause, counters)
        counters[STATE] = CLOSING
        counters[CLOSE_STARTED_MS] = int(time.time() * 1000)
        try:
            close_all()
            counters[STATE] = CLOSED
        except Exception:  # noqa: BLE001 - reported, the test judges it
            counters[STATE] = CLOSE_RAISED
            traceback.print_exc()
        counters[CLOSE_ENDED_MS] = int(time.time() * 1000)
        counters[SPOOLED_AT_END] = own_spooled_points(os.environ["MLTRACKER_SPOOL_DIR"])
        return 0 if counters[STATE] == CLOSED else 3
    except BaseException:  # noqa: BLE001 - the child must end here, never in the client's code
        traceback.print_exc()
        return 1


def pool_initializer(root: str) -> None:
    redirect_stderr(Path(root) / "logs" / f"pool-{os.getpid()}.err")


def pool_task(url: str, root: str, hash: str, parent: str, steps: int, pause: float) -> int:
    """A task of a pool worker: log to a model of its own; how many points it logged."""
    import mltracker

    folder = Path(root)
    log = folder / "logs" / f"pool-{os.getpid()}.err"
    counters = describe_self(folder, hash, "pool", parent, str(log))
    try:
        logged = log_steps(mltracker.connect(url), folder, hash, steps, pause, counters)
        counters[STATE] = CLOSED  # its points are written before this result is sent back
        return logged
    finally:
        counters.close()


# The client -----------------------------------------------------------------------------------
class Client:
    def __init__(self, arguments: dict[str, Any]) -> None:
        self.url: str = arguments["url"]
        self.root = Path(arguments["root"])
        self.hash: str = arguments["hash"]
        self.steps: int = arguments["steps"]
        self.pause: float = arguments["pause"]
        self.fork: bool = arguments["fork"]
        self.interval: float = arguments["interval"]
        self.max_pending: int = arguments["max_pending"]
        self.rng = random.Random(arguments["seed"])
        self.workers: dict[int, str] = {}  # pid -> hash
        self.worker_codes: dict[str, int] = {}
        self.tasks: list[tuple[str, Any]] = []
        self.pool: Any = None
        self.forks = 0

    def every_chunk(self) -> None:
        self.reap(block=False)
        if not self.fork:
            return
        draw = self.rng.random()
        if draw < 0.012 and len(self.workers) < 2:
            self.start_fork()
        elif draw > 0.992 and sum(not result.ready() for _, result in self.tasks) < 2:
            self.start_task()

    def worker_steps(self) -> int:
        return self.rng.randint(10, 60) * CHUNK

    def start_fork(self) -> None:
        hash = f"{self.hash}f{self.forks}"
        self.forks += 1
        steps = self.worker_steps()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = fork_worker(self.url, self.root, hash, self.hash, steps, self.pause)
            finally:
                os._exit(code)
        self.workers[pid] = hash

    def start_task(self) -> None:
        import multiprocessing

        if self.pool is None:
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(2, initializer=pool_initializer, initargs=(str(self.root),))
        hash = f"{self.hash}p{len(self.tasks)}"
        arguments = (self.url, str(self.root), hash, self.hash, self.worker_steps(), self.pause)
        self.tasks.append((hash, self.pool.apply_async(pool_task, arguments)))

    def reap(self, *, block: bool) -> None:
        deadline = time.monotonic() + (WORKER_WAIT_SECONDS if block else 0.0)
        while self.workers:
            for pid in list(self.workers):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    self.worker_codes[self.workers.pop(pid)] = os.waitstatus_to_exitcode(status)
            if not block or not self.workers:
                return
            if time.monotonic() > deadline:
                for pid, hash in list(self.workers.items()):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    self.worker_codes[hash] = -9
                    print(f"soak: worker {hash} (pid {pid}) hung: killed", file=sys.stderr)
                self.workers.clear()
                return
            time.sleep(0.02)

    def end_pool(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        if self.pool is None:
            return results
        deadline = time.monotonic() + WORKER_WAIT_SECONDS
        for hash, result in self.tasks:
            try:
                results[hash] = result.get(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as error:  # noqa: BLE001 - reported
                results[hash] = f"{type(error).__name__}: {error}"
        self.pool.terminate()  # as Pool.__exit__ does, once every result is back
        self.pool.join()
        return results

    def run(self) -> None:
        import mltracker

        log = self.root / "logs" / f"{self.hash}.err"
        counters = describe_self(self.root, self.hash, "client", None, str(log))
        say("ready")
        tracker = mltracker.connect(self.url)
        tracker.writer.interval = self.interval  # the workers forked from us inherit these
        tracker.writer.max_pending = self.max_pending
        logged = log_steps(
            tracker, self.root, self.hash, self.steps, self.pause, counters, self.every_chunk
        )
        counters[STATE] = CLOSING
        counters[CLOSE_STARTED_MS] = int(time.time() * 1000)
        close_error = None
        try:
            tracker.close()  # the process's only handle: the session closes
            counters[STATE] = CLOSED
        except Exception as error:  # noqa: BLE001 - reported, the test judges it
            counters[STATE] = CLOSE_RAISED
            close_error = f"{type(error).__name__}: {error}"
        counters[CLOSE_ENDED_MS] = int(time.time() * 1000)
        counters[SPOOLED_AT_END] = own_spooled_points(os.environ["MLTRACKER_SPOOL_DIR"])
        tasks = self.end_pool()
        self.reap(block=True)
        say(
            "result",
            json.dumps(
                {
                    "logged": logged,
                    "close_error": close_error,
                    "worker_codes": self.worker_codes,
                    "tasks": tasks,
                }
            ),
        )


def main() -> None:
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks a hung one
    Client(json.loads(sys.argv[1])).run()


if __name__ == "__main__":
    main()
