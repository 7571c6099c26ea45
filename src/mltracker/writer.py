"""The metric writer: a buffer between ``metrics.log`` and the store.

``log`` appends one encoded point to a queue and returns. The queue is written in batches,
one transaction each, in the order the points were logged:

- when someone calls :meth:`MetricWriter.flush` (``flush()``, ``close()``, leaving ``with``,
  and every read or synchronous write of the same store, so the store always holds a prefix
  of the calls a process made);
- by a background thread at most ``interval`` seconds after a point was queued;
- by the logging thread itself once ``max_pending`` points are queued (backpressure, so
  memory stays bounded when the store is slower than the training loop);
- before a process-pool worker sends a task's result back (``mltracker.pools``);
- at normal interpreter exit and on SIGTERM/SIGINT (any previous handler is then called;
  on a signal the flush gives up after ``$MLTRACKER_SIGNAL_FLUSH_SECONDS``, default 10 s,
  and at exit after ``$MLTRACKER_CLOSE_SECONDS``, default 10 s, so that a locked or
  unreachable store cannot keep a process from ending). With
  ``$MLTRACKER_SIGNAL_HANDLERS=0`` no signal handler is installed.

Logging never raises for a store that cannot take points (locked, unreachable, full): the
points stay queued and the background thread retries with backoff. Once ``max_pending``
points wait and the store has not taken them within ``BACKPRESSURE_SECONDS``, they move to
a spool file (``mltracker.spool``) and logging goes on; the spool is written back, in order,
when the store returns, or by the next process that writes to the store. The outage is
reported once on stderr, and raised by explicit calls (``flush()``, reads). ``close()``
waits for the store at most ``$MLTRACKER_CLOSE_SECONDS``: what is left then goes to the
spool, stderr says where, and it returns.
Points of a model deleted meanwhile cannot be stored: they are dropped and reported with
``NotFoundError`` by the next call.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import Any

from mltracker import deadlines, pools
from mltracker.errors import BackendUnavailableError, MLTrackerError, NotFoundError
from mltracker.ports.store import Point, Store
from mltracker.spool import Spool, display, spool_directory

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_PENDING = 100_000
DEFAULT_BATCH_SIZE = 50_000
#: How long a logging thread with ``max_pending`` points queued waits for the store before
#: it moves them to the spool instead.
BACKPRESSURE_SECONDS = 5.0
_MAX_BACKOFF = 30.0


class _Taken:
    """A batch taken from the queue or a spool, with the id it keeps until it is stored."""

    __slots__ = ("end", "id", "points", "source")

    def __init__(self, points: list[Point], source: Spool | None = None, end: int = 0) -> None:
        self.id = uuid.uuid4()
        self.points = points
        #: The spool the batch is in (if any) and the offset after it there.
        self.source = source
        self.end = end


class MetricWriter:
    """Queues metric points for one store and writes them in batches."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = DEFAULT_INTERVAL,
        max_pending: int = DEFAULT_MAX_PENDING,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._store = store
        self.interval = interval
        self._max_pending = max_pending
        # ``append`` takes its slow path once the queue reaches this: normally max_pending,
        # 0 while the thread is not started or an error waits to be reported.
        self._threshold = 0
        self.batch_size = batch_size
        self._queue: deque[Point] = deque()
        # A batch taken from the queue keeps its id until it is written, so that a retry
        # after a lost acknowledgement is recognised by the store and never duplicates.
        self._inflight: _Taken | None = None
        # Spools to write back before the queue, oldest first (another process's, then ours).
        self._spools: list[Spool] = []
        self._own_spool: Spool | None = None
        self._orphans_adopted = False
        # The id of the store these points belong to (learnt at the first write), and that
        # of another store found at its URI since, if any (reported once).
        self._store_id: str | None = None
        self._other_store: str | None = None
        # Held while batches are taken from the queue or spools, or the queue is spilled.
        self._take_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        # Set in a thread from before it waits for the flush lock until it released it, so
        # that a signal handler running in that thread never waits for the thread itself.
        self._in_flush = threading.local()
        self._error: NotFoundError | None = None
        self._outage: BaseException | None = None
        self._spill_failed = False
        self._wakeup = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        _live_writers.add(self)
        _install_signal_handlers()

    @property
    def pending(self) -> int:
        """How many points are queued or spooled and not yet stored."""
        inflight = self._inflight
        spooled = sum(spool.points for spool in list(self._spools))
        if inflight is not None and inflight.source is None:
            spooled += len(inflight.points)
        return len(self._queue) + spooled

    @property
    def spool_files(self) -> list[str]:
        """The spool files holding points of this writer that the store has not taken yet."""
        return [str(spool.path) for spool in list(self._spools)]

    @property
    def max_pending(self) -> int:
        """The queue length at which the logging thread writes the queue itself."""
        return self._max_pending

    @max_pending.setter
    def max_pending(self, value: int) -> None:
        self._max_pending = value
        self._threshold = 0

    @property
    def flushing_in_this_thread(self) -> bool:
        """Whether the calling thread is inside :meth:`flush` (waiting for it or writing)."""
        return bool(getattr(self._in_flush, "active", False))

    def append(self, point: Point) -> None:
        """Queue one point (the hot path of ``metrics.log``).

        Never raises for a store that cannot take points (see the module's docstring).

        Raises:
            NotFoundError: Points logged earlier were dropped because their model was
                deleted meanwhile.
        """
        queue = self._queue
        queue.append(point)
        if len(queue) >= self._threshold:
            self._after_append()

    def _after_append(self) -> None:
        self._threshold = self._max_pending
        if self._closed:
            self._reopen()
        if self._thread is None:
            _register_multiprocessing_exit()
            pools.flush_before_results(flush_all)
            _install_signal_handlers()  # again in a forked child that is not a worker
            self._start_thread()
        if self._error is not None:
            self._raise_error()
        if len(self._queue) >= self._max_pending:
            self._relieve()

    def _relieve(self) -> None:
        """``max_pending`` points wait: write them, or move them to the spool."""
        if self._outage is None:
            try:
                self.flush(within=BACKPRESSURE_SECONDS)
                return
            except NotFoundError:
                raise
            except MLTrackerError as error:
                self._report_outage(error)
        try:
            self._spill()
        except OSError as error:
            if not self._spill_failed:
                self._spill_failed = True
                _say(
                    f"cannot spool metric points to {spool_directory()} ({error}): "
                    f"they stay in memory ({self.pending} now)"
                )
            self._threshold = len(self._queue) + self._max_pending

    def flush(self, *, within: float | None = None) -> None:
        """Write every queued and spooled point; on failure they are kept and the error is
        raised.

        A failure of the background thread that this write outlived is forgotten; one that
        dropped points (their model was deleted) is raised after the write.

        Args:
            within: Give up after about this many seconds (waiting for another thread's
                write, and retrying a locked or unreachable store), keeping the points.

        Raises:
            BackendError: The store could not take the points (they are kept).
            NotFoundError: Points were dropped because their model was deleted.
        """
        if self._queue or self._inflight is not None or self._spools:
            try:
                self._write_all(within)
            except NotFoundError:
                raise
            except MLTrackerError as error:
                self._report_outage(error)
                raise
            self._report_recovery()
        if self._error is not None:
            self._raise_error()

    def _write_all(self, within: float | None) -> None:
        self._in_flush.active = True
        try:
            deadline = None if within is None else time.monotonic() + within
            if not self._flush_lock.acquire(timeout=-1 if within is None else within):
                raise BackendUnavailableError(
                    f"the store did not take a batch being written within {within} s "
                    "(it is locked or unreachable)"
                )
            try:
                if deadline is None:
                    self._write_queued()
                else:  # what waiting for the lock took is not given again to the writes
                    with deadlines.retry_limit(max(0.0, deadline - time.monotonic())):
                        self._write_queued()
            finally:
                self._flush_lock.release()
        finally:
            self._in_flush.active = False
            _deliver_deferred_signal()

    def close(self) -> None:
        """Write every queued point and stop the background thread, within a bounded time.

        The store gets ``$MLTRACKER_CLOSE_SECONDS`` (default 10 s) to take the points. What
        it has not taken by then is moved to a spool file and left there for the next
        process that writes to the store (or ``mltracker sync``); stderr says where, and
        ``close()`` returns: nothing is lost, and the end of a training script is no place
        for an outage to raise (``flush()`` raises it for whoever asks).

        A closed writer stays usable: the next :meth:`append` starts its thread again, and
        whatever is queued is still written by :meth:`flush` and at exit (after the spool
        files that closing left, which this process's next write takes back first).

        Raises:
            BackendError: The store did not take every point in time and the spool cannot
                be written either (the points stay in memory).
            NotFoundError: Points were dropped because their model was deleted.
        """
        deadline = time.monotonic() + deadlines.close_seconds()
        try:
            self.flush(within=deadline - time.monotonic())
        except NotFoundError:
            raise
        except MLTrackerError as error:
            if not self._spool_at_close(error):
                raise  # not even the spool could keep them: the caller must know
        finally:
            with self._thread_lock:
                self._closed = True
                self._threshold = 0  # the next append takes the slow path and reopens
                self._wakeup.set()
                thread, self._thread = self._thread, None
            if thread is not None and thread is not threading.current_thread():
                # Not beyond the bound: a write still retrying ends on its own (the thread
                # is a daemon, and what it writes is in the spool with its batch id).
                thread.join(max(0.0, deadline - time.monotonic()))

    def _spool_at_close(self, error: MLTrackerError) -> bool:
        """Move what is left to the spool and let it go; whether that worked."""
        pending = self.pending
        try:
            files = self.spill_all()
        except OSError as spool_error:
            _say(
                f"cannot spool metric points to {spool_directory()} ({spool_error}): "
                f"{pending} stay in memory until the store takes them or the process ends"
            )
            return False
        _say_kept(pending, error, files)
        self._leave_spools()
        return True

    def _leave_spools(self) -> None:
        """Let the spool files go, with every point not yet stored, for the next process that
        writes to the store; this process's next write adopts them again, before anything
        logged later."""
        with self._take_lock:
            for spool in self._spools:
                spool.release()
            self._spools = []
            self._own_spool = None
            self._inflight = None  # it is in a spool: it was moved there with its id
            self._orphans_adopted = False

    def _reopen(self) -> None:
        with self._thread_lock:
            if self._closed:
                self._closed = False
                self._wakeup = threading.Event()

    def _write_queued(self) -> None:
        """Write the batch in flight, then the spools, then the queue (flush lock held)."""
        if self._store_id is None or self._outage is not None or self._spools or self._inflight:
            self._check_store()
        if not self._orphans_adopted:
            self._adopt_orphans()
        while True:
            taken = self._inflight or self._take()
            if taken is None:
                return
            self._inflight = taken
            try:
                self._store.write_points(taken.points, taken.id)
            except NotFoundError:
                self._check_store()  # no model there: is it still the same store?
                self._done(taken)  # the others were stored; these have no model left
                raise
            self._done(taken)

    def _check_store(self) -> None:
        """Learn the id of the store at the URI (at the first write), or make sure that it
        is still the store whose id was learnt: if another store answers there now, keep
        every point for the old one (in the spool of its id) and write none there.

        Raises:
            BackendUnavailableError: Another store answers at the URI (or none does).
        """
        current = self._store.store_id()
        if self._store_id is None:
            self._store_id = current
        if current == self._store_id:
            self._other_store = None
            return
        try:
            self._spill()
        except OSError as error:
            kept = f"they stay in memory (the spool cannot be written: {error})"
        else:
            kept = f"they stay in {', '.join(self.spool_files)}"
        if self._other_store != current:
            self._other_store = current
            _say(
                f"{self._name} is now another store (id {current}, the spool is for "
                f"{self._store_id}): {self.pending} points stay in "
                f"{', '.join(self.spool_files) or 'memory'}"
            )
        raise BackendUnavailableError(
            f"{self._name} is now another store (id {current}, these points are for "
            f"{self._store_id}): {kept}"
        )

    def _take(self) -> _Taken | None:
        with self._take_lock:
            while self._spools:
                spool = self._spools[0]
                found = spool.peek()
                if found is not None:
                    (batch_id, points), end = found
                    taken = _Taken(points, spool, end)
                    taken.id = batch_id
                    self._inflight = taken
                    return taken
                self._spools.pop(0)
                if spool is self._own_spool:
                    self._own_spool = None
                spool.remove()
            queue = self._queue
            if not queue:
                return None
            popleft = queue.popleft
            taken = _Taken([popleft() for _ in range(min(len(queue), self.batch_size))])
            self._inflight = taken
            return taken

    def _done(self, taken: _Taken) -> None:
        with self._take_lock:
            if taken.source is not None:
                taken.source.advance(taken.end, len(taken.points))
            self._inflight = None

    def _adopt_orphans(self) -> int:
        """Take over the spool files of this store that ended processes left; the number of
        points they hold."""
        if self._store_id is None:
            self._store_id = self._store.store_id()
        self._orphans_adopted = True
        try:
            orphans = Spool.orphans(self._store_id)
            if self._store_id != self._store.uri:  # and those keyed by the URI, if ours
                try:
                    orphans += Spool.unclaimed(self._store.uri, self._has_models)
                except BaseException:
                    for spool in orphans:
                        spool.release()
                    self._orphans_adopted = False
                    raise
                orphans.sort(key=lambda spool: spool.path.stat().st_mtime)
        except OSError as error:
            logger.warning("cannot look for spooled metric points: %s", error)
            return 0
        count = sum(spool.points for spool in orphans)
        if orphans:
            with self._take_lock:
                self._spools[:0] = orphans
            _say(f"writing {count} metric points spooled by an earlier process to {self._name}")
        return count

    def _has_models(self, model_ids: set[uuid.UUID]) -> bool:
        """Whether the store has every one of these models."""
        for model_id in model_ids:
            try:
                self._store.read_step(model_id)
            except NotFoundError:
                return False
        return True

    def sync(self) -> int:
        """Write now the points that ended processes left in spool files for this store
        (``mltracker sync``); return how many there were.

        Raises:
            BackendError: The store could not take them (they stay spooled).
        """
        count = self._adopt_orphans()
        self.flush()
        return count

    def _spill(self) -> None:
        """Move the queue, and a batch in flight from it, to our spool.

        Raises:
            OSError: The spool cannot be written; nothing was moved.
        """
        with self._take_lock:
            queue = self._queue
            inflight = self._inflight
            batches: list[tuple[uuid.UUID, list[Point]]] = []
            # A batch in flight from the queue is older than the queue: it goes first, with
            # its id (if the store takes it meanwhile, the spooled copy is recognised).
            move_inflight = inflight is not None and inflight.source is None
            if move_inflight:
                assert inflight is not None
                batches.append((inflight.id, inflight.points))
            count = len(queue)
            snapshot = list(queue)[:count]
            for start in range(0, count, self.batch_size):
                batches.append((uuid.uuid4(), snapshot[start : start + self.batch_size]))
            if not batches:
                return
            if self._own_spool is None:
                # A writer that never reached its store keys the spool by its URI.
                self._own_spool = Spool.create(self._store_id or self._store.uri, self._store.uri)
                self._spools.append(self._own_spool)
            ends = self._own_spool.append(batches)
            if move_inflight:
                assert inflight is not None
                inflight.source, inflight.end = self._own_spool, ends[0]
            for _ in range(count):
                queue.popleft()

    def spill_all(self) -> list[str]:
        """Move every point not yet stored to the spool; return the spool files.

        Raises:
            OSError: The spool cannot be written.
        """
        self._spill()
        return self.spool_files

    @property
    def _name(self) -> str:
        return display(self._store.uri)

    def _report_outage(self, error: BaseException) -> None:
        if self._outage is None:
            self._outage = error
            _say(
                f"cannot write metric points to {self._name}: {error}. Logging goes on: "
                f"points are kept in memory, then in a spool file under {spool_directory()}, "
                "and written when the store is back."
            )

    def _report_recovery(self) -> None:
        if self._outage is not None and self._inflight is None and not self._spools:
            self._outage = self._other_store = None
            self._spill_failed = False
            _say(f"{self._name} takes metric points again: every kept point was written.")

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _start_thread(self) -> None:
        with self._thread_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, args=(self._wakeup,), name="mltracker-writer", daemon=True
                )
                self._thread.start()

    def _run(self, wakeup: threading.Event) -> None:
        # ``wakeup`` is this thread's own: close() sets it, and a reopened writer's next
        # thread gets a new one, so a thread that is ending never outlives its close.
        backoff = self.interval
        while not wakeup.is_set():
            wakeup.wait(backoff)
            if wakeup.is_set():
                return
            if not self._queue and self._inflight is None and not self._spools:
                continue
            try:
                with self._flush_lock:
                    self._write_queued()
                backoff = self.interval
                self._report_recovery()
            except NotFoundError as error:
                logger.warning("%s", error)
                self._error = error
                self._threshold = 0
            except MLTrackerError as error:
                self._report_outage(error)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception as error:  # keep the thread alive whatever happens
                logger.exception("background flush failed, will retry")
                self._report_outage(error)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    def _after_fork_in_child(self) -> None:
        # The parent still owns its queued and spooled points: a child must not write them.
        self._queue.clear()
        self._inflight = None
        self._spools = []
        self._own_spool = None
        self._orphans_adopted = False
        self._outage = None
        self._take_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._in_flush = threading.local()
        self._thread = None
        self._threshold = 0
        self._thread_lock = threading.Lock()
        self._wakeup = threading.Event()


def _say(message: str) -> None:
    """Tell the person running the process, on stderr, whatever logging is set up."""
    try:
        print(f"mltracker: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left (a closed pipe, interpreter ending)
        pass
    logger.info(message)


_live_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


def flush_all(within: float | None = None) -> None:
    """Flush every writer of this process; what a store cannot take goes to a spool file.

    Never raises: failures are reported on stderr.
    """
    for writer in list(_live_writers):
        budget = within
        if writer._outage is not None:  # known to be away: do not wait out a full retry
            budget = min(within or float("inf"), deadlines.signal_flush_seconds())
        try:
            writer.flush(within=budget)
        except NotFoundError as error:
            _say(str(error))
        except Exception as error:
            _spill_at_end(writer, error)


def _spill_at_end(writer: MetricWriter, error: BaseException) -> None:
    """Move what ``writer`` could not write to the spool, and say so."""
    pending = writer.pending
    try:
        files = writer.spill_all()
    except OSError as spool_error:
        _say(
            f"LOST {pending} metric points: the store failed ({error}) and so did the spool "
            f"({spool_error})"
        )
        return
    _say_kept(pending, error, files)


def _say_kept(pending: int, error: BaseException, files: list[str]) -> None:
    _say(
        f"{pending} metric points could not be written ({error}); they are kept in "
        f"{', '.join(files)} and will be written by the next process that writes to this "
        "store (or by `mltracker sync`)"
    )


def _flush_at_exit() -> None:
    flush_all(within=deadlines.close_seconds())


atexit.register(_flush_at_exit)
_multiprocessing_exit_pid: int | None = None


def _register_multiprocessing_exit() -> None:
    """Flush when a ``multiprocessing`` child ends: it leaves through ``os._exit``, which
    skips ``atexit``, after running the finalizers of ``multiprocessing.util``."""
    global _multiprocessing_exit_pid
    util = sys.modules.get("multiprocessing.util")
    if util is None or _multiprocessing_exit_pid == os.getpid():
        return
    _multiprocessing_exit_pid = os.getpid()
    util.Finalize(None, _flush_at_exit, exitpriority=100)


def _after_fork_in_child() -> None:
    _locks_held_for_fork.clear()  # the child's writers get new locks
    try:
        for writer in list(_live_writers):
            writer._after_fork_in_child()
    finally:
        _restore_signal_handlers()


#: How long a fork waits for the writers' writes in progress to end.
FORK_WAIT_SECONDS = 10.0
_locks_held_for_fork: list[threading.Lock] = []


def _before_fork() -> None:
    """No writer thread may be inside the database driver when the process forks: the child
    would inherit its locks held (SQLite's allocator mutex, say) and hang on first use."""
    for writer in list(_live_writers):
        if writer.flushing_in_this_thread:
            continue
        lock = writer._flush_lock
        if lock.acquire(timeout=FORK_WAIT_SECONDS):
            _locks_held_for_fork.append(lock)


def _after_fork_in_parent() -> None:
    while _locks_held_for_fork:
        _locks_held_for_fork.pop().release()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


# Signals: flush, then behave as the process would have without us.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
_previous_handlers: dict[int, Handler] = {}
_deferred_signal: list[tuple[int, FrameType | None]] = []
_signals_lock = threading.Lock()


#: Set to ``0`` (or ``false``, ``no``, ``off``) to keep MLTracker from installing its SIGTERM
#: and SIGINT handlers, for a process whose server or framework owns its signals. Read each
#: time a writer is created; points are then flushed by ``flush()``, ``close()`` and at exit.
SIGNAL_HANDLERS_VARIABLE = "MLTRACKER_SIGNAL_HANDLERS"
_OFF = frozenset({"0", "false", "no", "off"})


def signal_handlers_enabled() -> bool:
    """Whether writers install their SIGTERM/SIGINT handlers: ``$MLTRACKER_SIGNAL_HANDLERS``
    is not ``0``/``false``/``no``/``off`` (default: they do)."""
    return os.environ.get(SIGNAL_HANDLERS_VARIABLE, "").strip().lower() not in _OFF


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread() or _in_multiprocessing_child():
        return
    if not signal_handlers_enabled():
        return
    with _signals_lock:
        for signum in (signal.SIGTERM, signal.SIGINT):
            current = signal.getsignal(signum)
            if current is _on_signal:
                continue
            _previous_handlers[signum] = current
            try:
                signal.signal(signum, _on_signal)
            except ValueError:  # not the main interpreter
                return


def _restore_signal_handlers() -> None:
    """In a forked child, put back the handlers we replaced. A ``multiprocessing`` child must
    keep them (see ``_in_multiprocessing_child``); any other child installs ours again when it
    first logs, and until then has nothing queued."""
    for signum, previous in list(_previous_handlers.items()):
        try:
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        except (ValueError, OSError):  # not the main thread of the main interpreter
            return


def _in_multiprocessing_child() -> bool:
    """A ``multiprocessing`` child keeps the default signal actions: its parent ends it with
    SIGTERM (``Pool.terminate``), and a Python-level handler can leave that signal pending
    while the child waits in C for its next task. Its points are flushed at its normal end."""
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _in_multiprocessing_child():  # inherited through fork: behave as the child would
        _chain(signum, frame)
        return
    if any(writer.flushing_in_this_thread for writer in list(_live_writers)):
        # The signal interrupted a flush of this very thread: finish it first.
        _deferred_signal.append((signum, frame))
        return
    flush_all(within=deadlines.signal_flush_seconds())
    _chain(signum, frame)


def _deliver_deferred_signal() -> None:
    if _deferred_signal and threading.current_thread() is threading.main_thread():
        signum, frame = _deferred_signal.pop()
        _deferred_signal.clear()
        flush_all(within=deadlines.signal_flush_seconds())
        _chain(signum, frame)


def _chain(signum: int, frame: FrameType | None) -> None:
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        # The default action: terminate as if we had never caught the signal.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
