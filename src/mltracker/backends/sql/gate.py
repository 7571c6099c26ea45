"""The fork gate: no thread is inside a database driver when the process forks.

A child forked while another thread is inside the driver inherits the driver's locks held
(SQLite's allocator mutex, say) and hangs on first use. So each call into the driver passes
the gate (:func:`inside_driver`, many threads at once), and a fork waits, at most
:data:`FORK_WAIT_SECONDS`, for the calls in progress to end, holding new ones back until it
is done. Only the calls themselves count: a retry's backoff sleeps are outside, so a store
that is locked or unreachable does not hold up a fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: How long a fork waits for the driver calls in progress to end.
FORK_WAIT_SECONDS = 10.0

_condition = threading.Condition()
_inside = 0
_forking = False
#: The thread that is forking: its own calls are never held back.
_forker: int | None = None


@contextmanager
def inside_driver() -> Iterator[None]:
    """Mark a call into the database driver; it waits while the process forks."""
    global _inside
    with _condition:
        while _forking and _forker != threading.get_ident():
            _condition.wait()
        _inside += 1
    try:
        yield
    finally:
        with _condition:
            _inside -= 1
            if _inside == 0:
                _condition.notify_all()


def calls_in_progress() -> int:
    """How many threads are inside the driver now."""
    return _inside


def _before_fork() -> None:
    global _forking, _forker
    with _condition:
        _forking, _forker = True, threading.get_ident()
        _condition.wait_for(lambda: _inside == 0, timeout=FORK_WAIT_SECONDS)


def _after_fork_in_parent() -> None:
    global _forking, _forker
    with _condition:
        _forking, _forker = False, None
        _condition.notify_all()


def _after_fork_in_child() -> None:
    global _condition, _inside, _forking, _forker
    _condition = threading.Condition()  # the parent's threads are not here
    _inside, _forking, _forker = 0, False, None


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
