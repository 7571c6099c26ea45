"""Pausing Python's cyclic garbage collector around work that builds an object per point.

Decoding and writing a batch of 50,000 points, or building a million ``Metric`` objects
for a read, allocates containers that live until the work is done and are then freed by
reference counting: they hold no cycles. The collector, triggered by the allocations,
passes over them again and again, and its full passes also walk every object of the
process's modules (many, in a server); that costs about as much as the work itself.
:data:`collector_paused` switches it off while at least one thread is inside it, and on
again when the last one leaves (if it was on before). Threads may overlap freely; while
pauses overlap without a break, a full pass still runs every ``longest`` seconds, so that
cyclic garbage made meanwhile by other work is never kept for long.
"""

from __future__ import annotations

import gc
import threading
import time
from types import TracebackType

__all__ = ["CollectorPause", "collector_paused"]


class CollectorPause:
    """A reentrant, thread-safe pause of the cyclic garbage collector (a context manager)."""

    def __init__(self, longest: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False
        self._longest = longest
        self._last_pass = time.monotonic()

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
                self._last_pass = time.monotonic()
            self._depth += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                if self._resume:
                    gc.enable()
                return
            overdue = time.monotonic() - self._last_pass > self._longest
            if overdue:
                self._last_pass = time.monotonic()
        if overdue:
            gc.collect()


#: The pause the whole process shares.
collector_paused = CollectorPause()
