"""The metric writer: the ordered log of one store's writes (metric points and the other
writes of a training loop) and the thread that writes them."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque

from mltracker import deadlines, operations
from mltracker.errors import (
    BackendUnavailableError,
    InvalidArgumentError,
    MLTrackerError,
    NotFoundError,
    PayloadTooLargeError,
)
from mltracker.operations import IdMap, Operation
from mltracker.ports.store import Point, Store, is_provisional
from mltracker.spool import display, spool_directory
from mltracker.writer import hooks
from mltracker.writer.batches import (
    DEFAULT_MAX_BATCH_BYTES,
    Taken,
    entries_of,
    take_entry,
    take_from,
)
from mltracker.writer.loop_writes import LoopWrites
from mltracker.writer.notices import say, what
from mltracker.writer.spools import SpoolSet

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_PENDING = 100_000
DEFAULT_BATCH_SIZE = 50_000
#: How long a logging thread with ``max_pending`` points queued waits for the store before
#: it moves them to the spool instead.
BACKPRESSURE_SECONDS = 5.0
_MAX_BACKOFF = 30.0


class _Late(BackendUnavailableError):
    """A bounded write did not get through everything it had to write in time."""


class MetricWriter(LoopWrites):
    """Queues metric points, and the other writes of a training loop, for one store and
    writes them in order: points in batches, each other write as one call of the store
    (see :class:`~mltracker.writer.loop_writes.LoopWrites`)."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = DEFAULT_INTERVAL,
        max_pending: int = DEFAULT_MAX_PENDING,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self._store = store
        self.interval = interval
        self._max_pending = max_pending
        # ``append`` takes its slow path once the queue reaches this: normally max_pending,
        # 0 while the thread is not started or an error waits to be reported.
        self._threshold = 0
        self.batch_size = batch_size
        #: A batch is cut when its estimated encoded size reaches this.
        self.max_batch_bytes = max_batch_bytes
        # Points (plain tuples) and operations, in the order they were made.
        self._queue: deque[Point | Operation] = deque()
        # How many of the queue's items are operations (0: it holds points only).
        self._operations_queued = 0
        #: The store's ids of experiments and models the client named while it was away.
        self.ids = IdMap()
        # A batch taken from the queue keeps its id until it is written, so that a retry
        # after a lost acknowledgement is recognised by the store and never duplicates.
        self._inflight: Taken | None = None
        self._spools = SpoolSet(store.uri)
        # The id of the store these points belong to (learnt at the first write), and that
        # of another store found at its URI since, if any (reported once).
        self._store_id: str | None = None
        self._other_store: str | None = None
        # Held while batches are taken from the queue or spools, or the queue is spilled.
        self._take_lock = threading.Lock()
        # Held by the thread that writes batches to the store (one at a time).
        self._flush_lock = threading.Lock()
        self._error: NotFoundError | None = None
        self._outage: BaseException | None = None
        # A write that a caller waited for did not get through in time: until everything is
        # written, training-loop writes are queued without waiting (and reads do not wait).
        self._behind = False
        # When the store last took an entry (``time.monotonic()``).
        self._progress_at = float("-inf")
        self._spill_failed = False
        self._wakeup = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        hooks.register(self)

    # What callers see

    @property
    def pending(self) -> int:
        """How many points, and other writes, are queued or spooled and not yet stored."""
        points, operations_count = self.pending_counts()
        return points + operations_count

    def pending_counts(self) -> tuple[int, int]:
        """How many points, and how many other writes, are queued or spooled and not yet
        stored."""
        inflight = self._inflight
        queued_operations = self._operations_queued
        points = len(self._queue) - queued_operations + self._spools.points
        operations_count = queued_operations + self._spools.operations
        if inflight is not None and inflight.source is None:
            if inflight.operation is not None:
                operations_count += 1
            else:
                points += len(inflight.points)
        return points, operations_count

    @property
    def spool_files(self) -> list[str]:
        """The spool files holding points of this writer that the store has not taken yet."""
        return self._spools.files

    @property
    def max_pending(self) -> int:
        """The queue length at which the logging thread writes the queue itself."""
        return self._max_pending

    @max_pending.setter
    def max_pending(self, value: int) -> None:
        self._max_pending = value
        self._threshold = 0

    def append(self, point: Point) -> None:
        """Queue one point (the hot path of ``metrics.log``).

        Never raises for a store that cannot take points (see the package's docstring).

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
            hooks.install()
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
                say(
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
        if self._error is not None:
            self._raise_error()

    def flush_or_spool(self, within: float | None) -> None:
        """Flush within ``within`` seconds (less when the store is known to be away); what
        the store does not take goes to the spool. Never raises: stderr says what happened
        (what exit, signals and pools call)."""
        budget = within
        if self.away:  # known to be away: do not wait out a full retry
            budget = min(within or float("inf"), deadlines.signal_flush_seconds())
        try:
            self.flush(within=budget)
        except NotFoundError as error:
            say(str(error))
        except Exception as error:
            pending = self.pending_counts()
            try:
                files = self.spill_all()
            except OSError as spool_error:
                say(
                    f"LOST {what(*pending)}: the store failed ({error}) and so did "
                    f"the spool ({spool_error})"
                )
                return
            _say_kept(pending, error, files)

    def _write_all(
        self, within: float | None, *, bounded: bool = False, target: Operation | None = None
    ) -> None:
        """Write what is queued (up to ``target``, if given), each store call retried for
        ``within`` seconds at most; ``bounded``: all of it within ``within`` seconds, else
        raise ``_Late`` (what was written stays written)."""
        # A signal that lands from here on (while this thread waits for the lock, or holds
        # it) is handled when the write ends, within ``within``: a handler that flushed now
        # would wait for a lock this thread holds.
        with hooks.busy():
            deadline = None if within is None else time.monotonic() + within
            if not self._flush_lock.acquire(timeout=-1 if within is None else within):
                raise BackendUnavailableError(
                    f"the store did not take a batch being written within {within:.3g} s "
                    "(it is locked or unreachable)"
                )
            try:
                if deadline is None:
                    self._write_queued()
                else:  # what waiting for the lock took is not given again to the writes
                    with deadlines.retry_limit(max(0.0, deadline - time.monotonic())):
                        self._write_queued(deadline if bounded else None, target)
                if target is None:
                    self._report_recovery()
            finally:
                self._flush_lock.release()

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
        pending = self.pending_counts()
        try:
            files = self.spill_all()
        except OSError as spool_error:
            say(
                f"cannot spool metric points to {spool_directory()} ({spool_error}): "
                f"{what(*pending)} stay in memory until the store takes them or the process "
                "ends"
            )
            return False
        _say_kept(pending, error, files)
        with hooks.busy(), self._take_lock:
            self._spools.release()
            self._inflight = None  # it is in a spool: it was moved there with its id
        return True

    def _reopen(self) -> None:
        with self._thread_lock:
            if self._closed:
                self._closed = False
                self._wakeup = threading.Event()

    # Writing (the flush lock held)

    def _write_queued(self, deadline: float | None = None, target: Operation | None = None) -> None:
        """Write the entry in flight, then the spools, then the queue (until ``target`` is
        written, if given; raising ``_Late`` once past ``deadline``, if given)."""
        if (
            self._store_id is None
            or self._outage is not None
            or self._behind
            or self._spools
            or self._inflight
        ):
            self._check_store()
        if not self._spools.adopted:
            self._spools.adopt_orphans(self._name, self._has_models)
        while target is None or not target.done:
            if deadline is not None and time.monotonic() > deadline:
                raise _Late("the store did not take what was queued in time")
            taken = self._inflight or self._take()
            if taken is None:
                return
            self._write_batch(taken)

    def _write_batch(self, taken: Taken) -> None:
        """Write ``taken``: an operation, or points (in parts, if the store refuses them
        whole); refused entries are set aside."""
        if taken.operation is not None:
            self._apply(taken, taken.operation)
            return
        while True:
            part_id, points, part_of = taken.next_part()
            try:
                operations.write_points(self._store, points, part_id, self.ids, part_of)
            except NotFoundError:
                self._check_store()  # no model there: is it still the same store?
                self._done(taken)  # the others were stored; these have no model left
                raise
            except (PayloadTooLargeError, InvalidArgumentError) as error:
                # Refused for what it holds, not for the store's state: find the culprits.
                if taken.split_part():
                    continue
                self._spools.set_aside(part_id, points, str(error))
            if taken.part_done():
                self._done(taken)
                return

    def _check_store(self) -> None:
        """Learn the id of the store at the URI (at the first write), or make sure that it
        is still the store whose id was learnt: if another store answers there now, keep
        every point for the old one (in the spool of its id) and write none there.

        Raises:
            BackendUnavailableError: Another store answers at the URI (or none does).
        """
        current = self._store.store_id()
        if self._store_id is None:
            if not is_provisional(current):  # a store without an id yet gets it when written
                self._store_id = self._spools.store_id = current
            return
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
            say(
                f"{self._name} is now another store (id {current}, the spool is for "
                f"{self._store_id}): {self.pending} points stay in "
                f"{', '.join(self.spool_files) or 'memory'}"
            )
        raise BackendUnavailableError(
            f"{self._name} is now another store (id {current}, these points are for "
            f"{self._store_id}): {kept}"
        )

    def _has_models(self, model_ids: set[uuid.UUID]) -> bool:
        """Whether the store has every one of these models."""
        for model_id in model_ids:
            try:
                self._store.read_step(model_id)
            except NotFoundError:
                return False
        return True

    def _take(self) -> Taken | None:
        with hooks.busy(), self._take_lock:
            taken = self._spools.take()
            if taken is None:
                queue = self._queue
                if not queue:
                    return None
                if not self._operations_queued:  # points only: the fast path
                    taken = Taken(take_from(queue, self.batch_size, self.max_batch_bytes))  # type: ignore[arg-type]
                else:
                    entry = take_entry(queue, self.batch_size, self.max_batch_bytes)
                    if isinstance(entry, Operation):
                        self._operations_queued -= 1
                    taken = Taken.of(entry)
            self._inflight = taken
            return taken

    def _done(
        self, taken: Taken, *, result: object = None, error: BaseException | None = None
    ) -> bool:
        """Mark ``taken`` as written (or refused); for an operation, note ``result`` or
        ``error`` on it and return whether its caller waits for it (and so hears of it)."""
        with hooks.busy(), self._take_lock:
            if taken.source is not None:
                self._spools.advance(taken)
            self._inflight = None
            self._progress_at = time.monotonic()
            operation = taken.operation
            if operation is None:
                return False
            operation.result, operation.error = result, error
            operation.done = True
            return operation.awaited

    def sync(self) -> int:
        """Write now the points and other writes that ended processes left in spool files
        for this store (``mltracker sync``); return how many there were.

        Raises:
            BackendError: The store could not take them (they stay spooled).
        """
        return sum(self.sync_counts())

    def sync_counts(self) -> tuple[int, int]:
        """:meth:`sync`, returning how many points and how many other writes there were."""
        if self._store_id is None:
            self._check_store()
        counts = self._spools.adopt_orphans(self._name, self._has_models)
        self.flush()
        return counts

    # The spool

    def _spill(self) -> None:
        """Move the queue, and an entry in flight from it, to our spool (the ids of
        experiments and models that the store gave others mapped, so that the file needs
        nothing else to be replayed).

        Raises:
            OSError: The spool cannot be written; nothing was moved.
        """
        with hooks.busy(), self._take_lock:
            queue = self._queue
            inflight = self._inflight
            entries: list[tuple[uuid.UUID, operations.Entry]] = []
            # An entry in flight from the queue is older than the queue: it goes first, with
            # its id (if the store takes it meanwhile, the spooled copy is recognised).
            move_inflight = inflight is not None and inflight.source is None
            if move_inflight:
                assert inflight is not None
                entries.append((inflight.id, inflight.entry))
            items = list(queue)
            entries.extend(entries_of(items, self.batch_size, self.max_batch_bytes))
            if not entries:
                return
            ends = self._spools.append(entries, self.ids)
            if move_inflight:
                assert inflight is not None
                inflight.source, inflight.end = self._spools.own, ends[0]
            for _ in range(len(items)):
                queue.popleft()
            self._operations_queued = 0

    def spill_all(self) -> list[str]:
        """Move every point and other write not yet stored to the spool; return the spool
        files.

        Raises:
            OSError: The spool cannot be written.
        """
        self._spill()
        return self.spool_files

    # Reports

    @property
    def _name(self) -> str:
        return display(self._store.uri)

    def _report_outage(self, error: BaseException) -> None:
        if self._outage is None:
            self._outage = error
            say(
                f"cannot write metric points to {self._name}: {error}. Logging goes on: "
                f"points (and the other writes of the training loop) are kept in memory, "
                f"then in a spool file under {spool_directory()}, and written in order when "
                "the store is back."
            )

    def _report_recovery(self) -> None:
        """Say once that the store takes points again (called with the flush lock held,
        after everything queued was written)."""
        self._behind = False
        if self._outage is not None and self._inflight is None and not self._spools:
            self._outage = self._other_store = None
            self._spill_failed = False
            say(f"{self._name} takes metric points again: every kept point was written.")

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    # The background thread

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
            if not self._queue and self._inflight is None and not self._spools and not self.away:
                continue
            try:
                with self._flush_lock:
                    self._write_queued()
                    self._report_recovery()  # under the lock: a flush() that follows sees it
                backoff = self.interval
            except NotFoundError as error:
                logger.warning("%s", error)
                self._error = error
                self._threshold = 0
                backoff = 0.0  # it dropped what it was about: go on with the rest at once
            except MLTrackerError as error:
                self._report_outage(error)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception as error:  # keep the thread alive whatever happens
                logger.exception("background flush failed, will retry")
                self._report_outage(error)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent still owns its queued and spooled points."""
        self._queue.clear()
        self._operations_queued = 0
        self._inflight = None
        self._spools.forget_after_fork()
        self._outage = None
        self._behind = False
        self._take_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._thread = None
        self._threshold = 0
        self._thread_lock = threading.Lock()
        self._wakeup = threading.Event()


def _say_kept(pending: tuple[int, int], error: BaseException, files: list[str]) -> None:
    say(
        f"{what(*pending)} could not be written ({error}); they are kept in "
        f"{', '.join(files)} and will be written by the next process that writes to this "
        "store (or by `mltracker sync`)"
    )
