"""How long a backend may keep retrying, and how that is shortened for a process that ends.

A backend retries a store that is locked or unreachable for ``$MLTRACKER_RETRY_SECONDS``
(default 120 s, long enough to ride out a database restart under a training run). Code that
must finish sooner, such as the flush that runs when a process is told to stop
(:func:`signal_flush_seconds`) or closes its writer (:func:`close_seconds`), caps that
budget for the operations it runs with :func:`retry_limit`; so does a write of a training loop,
which waits :func:`write_wait_seconds` at most and is then queued. A program where a person waits
for the answer, such as the ``mltracker`` command, lowers the default with
:func:`default_retry_seconds` (``$MLTRACKER_RETRY_SECONDS`` still wins).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger(__name__)

DEFAULT_RETRY_SECONDS = 120.0
#: How long the flush on SIGTERM/SIGINT may take before the process goes on ending.
DEFAULT_SIGNAL_FLUSH_SECONDS = 10.0
#: How long ``close()`` and the flush at a normal exit may wait for the store.
DEFAULT_CLOSE_SECONDS = 10.0
#: How long a write of a training loop (``model.step = ...``, ``modules.log``, ...) waits for
#: the store before it is queued instead, and a read for a store known to be away.
DEFAULT_WRITE_WAIT_SECONDS = 1.0

_cap: ContextVar[float | None] = ContextVar("mltracker_retry_cap", default=None)
#: The default budget set by :func:`default_retry_seconds`, for every thread of the process.
_process_default: float | None = None


def _seconds_from_environment(name: str, default: float) -> float:
    configured = os.environ.get(name)
    if not configured:
        return default
    try:
        return max(0.0, float(configured))
    except ValueError:
        logger.warning("ignoring %s=%r: not a number", name, configured)
        return default


def retry_seconds(default: float = DEFAULT_RETRY_SECONDS) -> float:
    """The retry budget of one operation: ``$MLTRACKER_RETRY_SECONDS``, else ``default``
    (lowered by :func:`default_retry_seconds`), within any cap."""
    if _process_default is not None:
        default = min(default, _process_default)
    budget = _seconds_from_environment("MLTRACKER_RETRY_SECONDS", default)
    cap = _cap.get()
    return budget if cap is None else min(budget, cap)


def current_cap() -> float | None:
    """The cap :func:`retry_limit` set for this thread, if any."""
    return _cap.get()


def signal_flush_seconds() -> float:
    """How long the flush on a signal may take: ``$MLTRACKER_SIGNAL_FLUSH_SECONDS``."""
    return _seconds_from_environment("MLTRACKER_SIGNAL_FLUSH_SECONDS", DEFAULT_SIGNAL_FLUSH_SECONDS)


def close_seconds() -> float:
    """How long closing a writer (``close()``, the flush at a normal exit) may wait for its
    store before what is left goes to the spool: ``$MLTRACKER_CLOSE_SECONDS``."""
    return _seconds_from_environment("MLTRACKER_CLOSE_SECONDS", DEFAULT_CLOSE_SECONDS)


def write_wait_seconds() -> float:
    """How long a write of a training loop waits for its store before it is queued and the
    loop goes on (and a read waits for a store known to be away before it raises):
    ``$MLTRACKER_WRITE_WAIT_SECONDS``."""
    return _seconds_from_environment("MLTRACKER_WRITE_WAIT_SECONDS", DEFAULT_WRITE_WAIT_SECONDS)


@contextmanager
def default_retry_seconds(seconds: float) -> Iterator[None]:
    """Lower the default retry budget to ``seconds`` in the whole process while the block
    runs; ``$MLTRACKER_RETRY_SECONDS``, when set, still decides."""
    global _process_default
    previous = _process_default
    _process_default = seconds
    try:
        yield
    finally:
        _process_default = previous


@contextmanager
def retry_limit(seconds: float) -> Iterator[None]:
    """Cap the retry budget of what runs inside the block, in this thread."""
    token = _cap.set(seconds)
    try:
        yield
    finally:
        _cap.reset(token)
