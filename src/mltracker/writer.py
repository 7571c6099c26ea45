"""The metric writer: a buffer between ``metrics.log`` and the store.

``log`` appends one encoded point to a queue and returns. The queue is written in batches,
one transaction each, in the order the points were logged:

- when someone calls :meth:`MetricWriter.flush` (``flush()``, ``close()``, leaving ``with``,
  and every read or synchronous write of the same store, so the store always holds a prefix
  of the calls a process made);
- by a background thread at most ``interval`` seconds after a point was queued;
- by the logging thread itself once ``max_pending`` points are queued (backpressure, so
  memory stays bounded when the store is slower than the training loop);
- at normal interpreter exit and on SIGTERM/SIGINT (any previous handler is then called;
  on a signal the flush gives up after ``$MLTRACKER_SIGNAL_FLUSH_SECONDS``, default 10 s,
  so that a locked or unreachable store cannot keep a process from ending).

A background flush that fails keeps its points queued and is retried with backoff; the
error is raised once by the next ``log`` or ``flush`` call. Nothing is dropped, except points
of a model that was deleted meanwhile, which are reported with ``NotFoundError``.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import Any

from mltracker import deadlines, pools
from mltracker.errors import BackendUnavailableError, MLTrackerError, NotFoundError
from mltracker.ports.store import Point, Store

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_PENDING = 100_000
DEFAULT_BATCH_SIZE = 50_000
_MAX_BACKOFF = 30.0


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
        self._inflight: tuple[uuid.UUID, list[Point]] | None = None
        self._flush_lock = threading.Lock()
        # Set in a thread from before it waits for the flush lock until it released it, so
        # that a signal handler running in that thread never waits for the thread itself.
        self._in_flush = threading.local()
        self._error: MLTrackerError | None = None
        self._wakeup = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        _live_writers.add(self)
        _install_signal_handlers()

    @property
    def pending(self) -> int:
        """How many points are queued and not yet stored."""
        inflight = self._inflight
        return len(self._queue) + (len(inflight[1]) if inflight is not None else 0)

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

        Raises:
            MLTrackerError: A background flush failed since the last call (this point and
                the earlier ones stay queued and are retried).
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
            self._start_thread()
        if self._error is not None:
            self._raise_error()
        if len(self._queue) >= self._max_pending:
            self.flush()

    def flush(self, *, within: float | None = None) -> None:
        """Write every queued point; on failure they stay queued and the error is raised.

        A failure of the background thread that this write outlived is forgotten; one that
        dropped points (their model was deleted) is raised after the write.

        Args:
            within: Give up after about this many seconds (waiting for another thread's
                flush, and retrying a locked or unreachable store), leaving the points queued.
        """
        if self._queue or self._inflight is not None:
            self._write_all(within)
            if not isinstance(self._error, NotFoundError):
                self._error = None
        if self._error is not None:
            self._raise_error()

    def _write_all(self, within: float | None) -> None:
        self._in_flush.active = True
        try:
            if not self._flush_lock.acquire(timeout=-1 if within is None else within):
                raise BackendUnavailableError(f"another flush did not end within {within} s")
            try:
                if within is None:
                    self._write_queued()
                else:
                    with deadlines.retry_limit(within):
                        self._write_queued()
            finally:
                self._flush_lock.release()
        finally:
            self._in_flush.active = False
            _deliver_deferred_signal()

    def close(self) -> None:
        """Write every queued point and stop the background thread.

        A closed writer stays usable: the next :meth:`append` starts its thread again, and
        whatever is queued is still written by :meth:`flush` and at exit.
        """
        try:
            self.flush()
        finally:
            with self._thread_lock:
                self._closed = True
                self._threshold = 0  # the next append takes the slow path and reopens
                self._wakeup.set()
                thread, self._thread = self._thread, None
            if thread is not None and thread is not threading.current_thread():
                thread.join()

    def _reopen(self) -> None:
        with self._thread_lock:
            if self._closed:
                self._closed = False
                self._wakeup = threading.Event()

    def _write_queued(self) -> None:
        queue = self._queue
        while self._inflight is not None or queue:
            if self._inflight is None:
                popleft = queue.popleft
                batch = [popleft() for _ in range(min(len(queue), self.batch_size))]
                self._inflight = (uuid.uuid4(), batch)
            batch_id, batch = self._inflight
            try:
                self._store.write_points(batch, batch_id)
            except NotFoundError:
                self._inflight = None  # the others were stored; these have no model left
                raise
            self._inflight = None

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
            if not self._queue and self._inflight is None:
                continue
            try:
                with self._flush_lock:
                    self._write_queued()
                backoff = self.interval
            except MLTrackerError as error:
                logger.warning("background flush failed, will retry: %s", error)
                self._error = error
                self._threshold = 0
                if not isinstance(error, NotFoundError):
                    backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception as error:  # keep the thread alive whatever happens
                logger.exception("background flush failed, will retry")
                self._error = MLTrackerError(f"background flush failed: {error!r}")
                self._threshold = 0
                backoff = min(backoff * 2, _MAX_BACKOFF)

    def _after_fork_in_child(self) -> None:
        # The parent still owns its queued points: a child must not write them again.
        self._queue.clear()
        self._inflight = None
        self._flush_lock = threading.Lock()
        self._in_flush = threading.local()
        self._thread = None
        self._threshold = 0
        self._thread_lock = threading.Lock()
        self._wakeup = threading.Event()


_live_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


def flush_all(within: float | None = None) -> None:
    """Flush every live writer of this process, logging (not raising) failures."""
    for writer in list(_live_writers):
        try:
            writer.flush(within=within)
        except Exception:
            logger.exception("could not write %d queued metric points", writer.pending)


atexit.register(flush_all)
_multiprocessing_exit_pid: int | None = None


def _register_multiprocessing_exit() -> None:
    """Flush when a ``multiprocessing`` child ends: it leaves through ``os._exit``, which
    skips ``atexit``, after running the finalizers of ``multiprocessing.util``."""
    global _multiprocessing_exit_pid
    util = sys.modules.get("multiprocessing.util")
    if util is None or _multiprocessing_exit_pid == os.getpid():
        return
    _multiprocessing_exit_pid = os.getpid()
    util.Finalize(None, flush_all, exitpriority=100)


def _after_fork_in_child() -> None:
    for writer in list(_live_writers):
        writer._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


# Signals: flush, then behave as the process would have without us.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
_previous_handlers: dict[int, Handler] = {}
_deferred_signal: list[tuple[int, FrameType | None]] = []
_signals_lock = threading.Lock()


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread() or _in_multiprocessing_child():
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


def _in_multiprocessing_child() -> bool:
    """A ``multiprocessing`` child keeps the default signal actions: its parent ends it with
    SIGTERM (``Pool.terminate``), and a Python-level handler can leave that signal pending
    while the child waits in C for its next task. Its points are flushed at its normal end."""
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def _on_signal(signum: int, frame: FrameType | None) -> None:
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
