"""Process-pool workers: the points of a task are written before its result is sent back.

A worker of ``multiprocessing.Pool`` or ``concurrent.futures.ProcessPoolExecutor`` reports
each task's result through a ``SimpleQueue``. Once the parent has every result it may end the
workers at once (``Pool.__exit__`` calls ``terminate()``, which sends SIGTERM), so points still
queued in a worker would be lost. Workers keep the default signal actions (a Python handler can
stay pending while a worker waits in C for its next task), so instead of flushing on the signal,
the worker flushes before each result leaves: the queue's write lock is wrapped so that taking
it first writes every queued point. A result that is back therefore means its points are
stored, whatever the start method and whatever the parent does next.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import Any

#: The worker loops of the standard library and the name of their result queue.
_WORKER_LOOPS = (
    ("multiprocessing.pool", "worker", "outqueue"),
    ("concurrent.futures.process", "_process_worker", "result_queue"),
)

_hooked_pid: int | None = None
_hook_lock = threading.Lock()


class _FlushFirst:
    """Wraps a queue's write lock (or its writer): ``flush`` runs before every send."""

    def __init__(self, wrapped: Any, flush: Callable[[], None]) -> None:
        self._wrapped = wrapped
        self._flush = flush

    def __enter__(self) -> Any:
        self._flush()
        return self._wrapped.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        return self._wrapped.__exit__(exc_type, exc, traceback)

    def send_bytes(self, *args: Any, **kwargs: Any) -> Any:
        self._flush()
        return self._wrapped.send_bytes(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


def flush_before_results(flush: Callable[[], None]) -> None:
    """If this process is a pool worker, make it call ``flush`` before sending any result.

    Cheap to call often: the work is done once per process.
    """
    global _hooked_pid
    if _hooked_pid == os.getpid():
        return
    with _hook_lock:
        if _hooked_pid == os.getpid():
            return
        _hooked_pid = os.getpid()
        result_queue = _result_queue_of_this_worker()
        if result_queue is None or isinstance(getattr(result_queue, "_wlock", None), _FlushFirst):
            return
        if getattr(result_queue, "_wlock", None) is not None:
            result_queue._wlock = _FlushFirst(result_queue._wlock, flush)
        elif hasattr(result_queue, "_writer"):  # where pipe writes need no lock (Windows)
            result_queue._writer = _FlushFirst(result_queue._writer, flush)


def _result_queue_of_this_worker() -> Any:
    """The result queue of the worker loop running in the main thread, if there is one."""
    loops: dict[CodeType, str] = {}
    for module_name, function_name, queue_name in _WORKER_LOOPS:
        module = sys.modules.get(module_name)
        function = getattr(module, function_name, None)
        code = getattr(function, "__code__", None)
        if code is not None:
            loops[code] = queue_name
    if not loops:
        return None
    frame: FrameType | None = sys._current_frames().get(threading.main_thread().ident or -1)
    while frame is not None:
        found = loops.get(frame.f_code)
        if found is not None:
            return frame.f_locals.get(found)
        frame = frame.f_back
    return None
