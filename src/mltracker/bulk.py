"""Building many objects at once: the cyclic garbage collector paused meanwhile.

A read of a million metric points makes a million objects that all live on. Each few hundred
allocations would start a collection that walks the young objects, and the older generations
are walked again and again as they grow: most of the time of such a read. None of these
objects can form a cycle, so :func:`paused_gc` turns the collector off for the duration (in
the whole process, as the collector is global; nested and concurrent uses are counted, and
the collector comes back on when the last one ends, if it was on before the first).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
