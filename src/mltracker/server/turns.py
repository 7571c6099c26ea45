"""Taking turns: batches of metric points written one at a time, in the order they came.

A store takes one writer at a time anyway (SQLite's write lock; on PostgreSQL a batch is
mostly this process's own work). Left to the store, concurrent batches wait in SQLite's busy
handler, which sleeps up to 100 ms between tries and serves no order: with 8 clients logging
at once, some batches waited more than 5 s while later ones went by, and their clients, taking
the server for unreachable, spooled points to disk. Here the next batch starts the moment the
previous one is done, first come, first served.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Turns"]


class Turns:
    """A first-come, first-served lock handed from one holder to the next waiter."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._waiting: deque[threading.Event] = deque()

    @property
    def waiting(self) -> int:
        """How many callers wait for their turn."""
        return len(self._waiting)

    def acquire(self, timeout: float) -> bool:
        """Wait for this caller's turn, at most ``timeout`` seconds; whether it came."""
        with self._mutex:
            if not self._busy:
                self._busy = True
                return True
            called = threading.Event()
            self._waiting.append(called)
        if called.wait(timeout):
            return True
        with self._mutex:
            if called.is_set():  # handed over meanwhile
                return True
            self._waiting.remove(called)
            return False

    def release(self) -> None:
        """End this turn: the longest waiter's starts at once."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._busy = False

    @contextmanager
    def turn(self, timeout: float) -> Iterator[bool]:
        """A turn, or after ``timeout`` seconds of waiting none (the block runs either way);
        yields whether the turn came."""
        mine = self.acquire(timeout)
        try:
            yield mine
        finally:
            if mine:
                self.release()
