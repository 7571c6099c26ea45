"""The part of the metric writer that the writes of a training loop besides its points go
through (``model.step``, ``modules.log``, ``iterations.create``, ``get_or_create``): each is
an operation (``mltracker.operations``) queued after the points logged before it, written at
once when the store takes it within ``$MLTRACKER_WRITE_WAIT_SECONDS``, else left in the queue
for the writer's thread, the spool and the next process. Also the reads a training loop
makes (``model.step``) and the flush before any read, which wait no longer for a store known
to be away, and the flush when training ends (:meth:`LoopWrites.flush_at_end`), bounded.

:class:`LoopWrites` is a base of :class:`~mltracker.writer.metric_writer.MetricWriter`; it
takes the writer's locks in the writer's order (see ``mltracker.writer``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from mltracker import deadlines
from mltracker.errors import (
    AlreadyExistsError,
    BackendError,
    BackendUnavailableError,
    InvalidArgumentError,
    MLTrackerError,
    NotFoundError,
)
from mltracker.operations import IdMap, Operation
from mltracker.ports.store import Point, Store
from mltracker.writer import hooks
from mltracker.writer.notices import what

if TYPE_CHECKING:
    from mltracker.writer.batches import Taken
    from mltracker.writer.spools import SpoolSet

T = TypeVar("T")

logger = logging.getLogger(__name__)


class LoopWrites:
    """The writes of a training loop besides points, and its reads (a base of the writer)."""

    if TYPE_CHECKING:  # the writer's state and steps that these use
        _queue: deque[Point | Operation]
        _operations_queued: int
        _take_lock: threading.Lock
        _inflight: Taken | None
        _max_pending: int
        _outage: BaseException | None
        _behind: bool
        _progress_at: float
        _error: NotFoundError | None
        _closed: bool
        _thread: threading.Thread | None
        _store: Store
        _spools: SpoolSet
        ids: IdMap

        @property
        def _name(self) -> str: ...
        def pending_counts(self) -> tuple[int, int]: ...
        def flush(self, *, within: float | None = None) -> None: ...
        def flush_or_spool(self, within: float | None) -> None: ...
        def _write_all(
            self,
            within: float | None,
            *,
            bounded: bool = False,
            target: Operation | None = None,
        ) -> None: ...
        def _relieve(self) -> None: ...
        def _reopen(self) -> None: ...
        def _start_thread(self) -> None: ...
        def _raise_error(self) -> None: ...
        def _check_store(self) -> None: ...
        def _done(
            self, taken: Taken, *, result: object = None, error: BaseException | None = None
        ) -> bool: ...

    @property
    def away(self) -> bool:
        """Whether the store is known not to take writes now: an outage was reported, or a
        write that a caller waited for did not get through in time. Until what is queued is
        written, the writes of a training loop are queued without waiting for the store."""
        return self._outage is not None or self._behind

    def submit(self, operation: Operation, *, wait: bool = True) -> bool:
        """Queue a write of a training loop after everything queued before it; unless the
        store is known to be away, write it now, waiting for the store at most
        ``$MLTRACKER_WRITE_WAIT_SECONDS`` (default 1 s; not at all with ``wait=False``, for
        the heartbeats and ends of runs). Whether it was written: its
        ``result`` then holds what the store answered. Otherwise it stays queued (then
        spooled) and is written in order when the store takes writes again, by this process
        or the next one; an error of the store about it is then set aside with a message.

        Raises:
            MLTrackerError: The store refused this write now (``NotFoundError``,
                ``AlreadyExistsError``, ``InvalidArgumentError``), or cannot be written for a
                reason that waiting does not mend (``ReadOnlyStoreError``,
                ``SchemaVersionError``, ...): the write is then not queued.
        """
        wait = wait and not self.away
        with hooks.busy(), self._take_lock:
            operation.awaited = wait
            self._queue.append(operation)
            self._operations_queued += 1
        if wait and self._write_now(operation):
            return True
        # It waits in the queue: the thread, and the hooks of exit and signals, see to it.
        if self._closed:
            self._reopen()
        if self._thread is None:
            hooks.install()
            self._start_thread()
        if len(self._queue) >= self._max_pending:
            try:
                self._relieve()
            except NotFoundError as error:  # points of a deleted model: said, not raised here
                logger.warning("%s", error)
        return False

    def _write_now(self, operation: Operation) -> bool:
        """Write the queue up to ``operation`` within the wait of a training-loop write."""
        within = deadlines.write_wait_seconds()
        try:
            while not operation.done:
                try:
                    self._write_all(within, bounded=True, target=operation)
                    break
                except NotFoundError as error:  # points of a deleted model were dropped
                    logger.warning("%s", error)
        except BackendUnavailableError:
            pass  # away: it stays queued
        except BackendError:
            if self._withdraw(operation):
                raise  # waiting does not mend it, and it was not written: the caller knows
        with hooks.busy(), self._take_lock:
            operation.awaited = False
            done, refusal = operation.done, operation.error
        if refusal is not None:
            raise refusal
        if not done:
            self._behind = True
        return done

    def _withdraw(self, operation: Operation) -> bool:
        """Take a write that was not applied out of the queue; whether it was there."""
        with hooks.busy(), self._take_lock:
            inflight = self._inflight
            if inflight is not None and inflight.operation is operation and inflight.source is None:
                self._inflight = None
                return True
            try:
                self._queue.remove(operation)
            except ValueError:  # written meanwhile, or moved to the spool
                return False
            self._operations_queued -= 1
            return True

    def read_now(self, read: Callable[[Store], T]) -> T | None:
        """Run a read that a training loop makes (``model.step``) after writing what is
        queued, unless the store is known to be away or does not answer within
        ``$MLTRACKER_WRITE_WAIT_SECONDS``: ``None`` then (the caller answers what it knows).

        Raises:
            MLTrackerError: The read's error, or the store's that waiting does not mend.
        """
        if self.away:
            return None
        within = deadlines.write_wait_seconds()
        deadline = time.monotonic() + within
        try:
            while self._queue or self._inflight is not None or self._spools:
                try:
                    self._write_all(within, bounded=True)
                    break
                except NotFoundError as error:  # points of a deleted model were dropped
                    logger.warning("%s", error)
            with deadlines.retry_limit(max(0.0, deadline - time.monotonic())):
                return read(self._store)
        except BackendUnavailableError:
            self._behind = True
            return None

    def flush_for_read(self) -> None:
        """Write everything queued before a read (so that it sees every write made before
        it). For a store known to be away, give up within ``$MLTRACKER_WRITE_WAIT_SECONDS``.

        Raises:
            BackendUnavailableError: The store is away (the message says that reads need
                it; the queued writes are kept).
            BackendError: The store could not take the writes (they are kept).
            NotFoundError: Points were dropped because their model was deleted.
        """
        if not self.away:
            self.flush()
            return
        wait = deadlines.write_wait_seconds()
        try:
            self._write_all(wait, bounded=True)
        except NotFoundError:
            raise
        except MLTrackerError as error:
            if time.monotonic() - self._progress_at < wait:
                # It takes writes again, and has more to catch up with than a wait: a read
                # waits for it, as reads do.
                self.flush()
                return
            points, operations_count = self.pending_counts()
            raise BackendUnavailableError(
                f"{self._name} is away ({error}): reads need the store (the writes of a "
                f"training loop do not: {what(points, operations_count)} are kept and "
                "written in order when it is back)"
            ) from None
        if self._error is not None:
            self._raise_error()

    def flush_at_end(self) -> None:
        """Write what is queued when a training loop ends (what the integrations call when
        training ends), bounded like the flush at exit and never raising: within
        ``$MLTRACKER_CLOSE_SECONDS`` (default 10 s), what the store does not take going to
        the spool (stderr says where), to be written when the store is back, by this process
        or the next one that writes to the store, or by ``mltracker sync``.

        When the store is known to be away it waits no longer than any write of a training
        loop, ``$MLTRACKER_WRITE_WAIT_SECONDS``: a framework ends training more than once in
        a process (after ``fit``, then ``test``), and the flush at exit tries again within its
        own bound. (``flush()`` waits out the whole retry budget, and raises.)
        """
        within = deadlines.write_wait_seconds() if self.away else deadlines.close_seconds()
        self.flush_or_spool(within)

    # Applying one (the flush lock held)

    def _apply(self, taken: Taken, operation: Operation) -> None:
        """Apply one operation. An error of the store about it goes to its caller if the
        caller waits for it; else a missing model is raised (like points of a deleted model)
        and any other refusal is set aside with a message."""
        try:
            result = operation.apply(self._store, self.ids)
        except NotFoundError as error:
            self._check_store()  # nothing there: is it still the same store?
            if not self._done(taken, error=error):
                raise NotFoundError(
                    f"the write of {operation.describe()} was dropped: {error}"
                ) from None
        except (AlreadyExistsError, InvalidArgumentError) as error:
            if not self._done(taken, error=error):  # refused for what it is: set it aside
                self._spools.set_aside(operation.id, operation, str(error))
        else:
            self._done(taken, result=result)
