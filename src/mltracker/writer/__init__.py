"""The metric writer: a buffer between a training loop and the store.

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

Batches are cut by count and by estimated encoded size (``mltracker.writer.batches``); a batch
the store refuses as too large or invalid is split in halves until the refused points are
found, and those are set aside in a file of their own (stderr says where) instead of blocking
the points behind them.

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

The other writes of a training loop (``model.step = ...`` and ``+= 1``, ``modules.log`` and
its conditional forms, ``iterations.create``, ``get_or_create`` of an experiment or a model)
go into the same queue as
operations (``mltracker.operations``: one kind each, with its encoding for the spool and the
one call that applies it), so the store gets everything in the order it was made.
:meth:`MetricWriter.submit` queues one and writes the queue up to it at once, waiting for the
store at most ``$MLTRACKER_WRITE_WAIT_SECONDS`` (default 1 s): what the store answered goes
back to the caller, with its error if it refused it. When the store is known to be away
(:attr:`MetricWriter.away`), or does not answer in time, the operation stays queued and is
written, spooled and replayed like points (idempotent by the id it carries); the caller goes
on with what it knows. Reads wait for a store known to be away no longer than that either
(:meth:`MetricWriter.flush_for_read`), then raise, saying that reads need the store. When
training ends, :meth:`MetricWriter.flush_at_end` writes what is queued within the bound of
the flush at exit (no longer than that wait, for a store known to be away), leaving the rest
in the spool.

The parts: ``metric_writer`` (the queue and its thread), ``batches`` (cutting and splitting),
``spools`` (the spool files of one writer), ``hooks`` (exit, fork, signals and pools,
installed when a point is first queued, never at import).

Locks, always taken in this order, never the other way:

1. a writer's flush lock: held by the one thread writing that writer's batches to the store
   (the background thread, or a caller of ``flush``), across the store's retries;
2. a writer's take lock: held briefly while an entry is queued (an operation), taken from the
   queue or spools, marked done (with what the store answered), taken back out of the queue
   (an operation the store refused for good before it was written), or while the queue is
   moved to the spool;
3. the writer's spool set lock: held while its list of files changes or one is written.

A signal handler takes none of them while the code it interrupted is inside a section that
may hold one (``hooks.busy``): it is handled at the end of that section. The map of ids
(``MetricWriter.ids``) takes no lock: it is written under the flush lock, one dictionary
operation at a time, and read by any thread.
"""

from mltracker.writer.hooks import (
    SIGNAL_HANDLERS_VARIABLE,
    flush_all,
    signal_handlers_enabled,
)
from mltracker.writer.metric_writer import (
    BACKPRESSURE_SECONDS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_INTERVAL,
    DEFAULT_MAX_PENDING,
    MetricWriter,
)

__all__ = [
    "BACKPRESSURE_SECONDS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_PENDING",
    "SIGNAL_HANDLERS_VARIABLE",
    "MetricWriter",
    "flush_all",
    "signal_handlers_enabled",
]
