"""What the metric writers need from the process: exit, fork, signals and pools.

Nothing is installed when ``mltracker`` is imported: :func:`install` runs when a writer first
queues a point (or another write that the store did not take at once), and installs, once
per process:

- an ``atexit`` hook (and a ``multiprocessing`` finalizer, since its children leave through
  ``os._exit``) that flushes every writer, within ``$MLTRACKER_CLOSE_SECONDS``, what a store
  cannot take going to the spool;
- fork hooks: a forked child forgets its parent's queues (the parent still owns them) and puts
  back the signal handlers we replaced; a ``multiprocessing`` pool worker ends on SIGTERM
  whatever handler its parent had (``Pool.terminate`` relies on it);
- SIGTERM/SIGINT/SIGHUP handlers (unless ``$MLTRACKER_SIGNAL_HANDLERS=0``) that flush every
  writer within ``$MLTRACKER_SIGNAL_FLUSH_SECONDS`` and then do what the previous handler
  would have done.

Before the flush of exit and of a signal, the callbacks of :func:`before_last_flush` run (the
runs of the process end there).

A signal handler runs in the main thread between two bytecodes of whatever it interrupted, so
it takes no lock that code may hold: when the main thread is inside a writer's locked section
(:func:`busy`), the signal is recorded and handled when the outermost section ends. Every
wait of a section is bounded (a flush by its ``within``), so a deferred signal is handled in
bounded time.

The fork hook waits for no writer: the one thing a child must not inherit is a database
driver's lock held by another thread, and the SQL backend guards that itself, around each call
into the driver (``mltracker.backends.sql.gate``), not across retries and their sleeps.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from mltracker import deadlines, pools

if TYPE_CHECKING:
    from mltracker.writer.metric_writer import MetricWriter

#: Set to ``0`` (or ``false``, ``no``, ``off``) to keep MLTracker from installing its SIGTERM
#: and SIGINT handlers, for a process whose server or framework owns its signals. Read each
#: time a writer first queues a point; points are then flushed by ``flush()``, ``close()``
#: and at exit.
SIGNAL_HANDLERS_VARIABLE = "MLTRACKER_SIGNAL_HANDLERS"
_OFF = frozenset({"0", "false", "no", "off"})

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

_installed_pid: int | None = None
_install_lock = threading.Lock()
_previous_handlers: dict[int, Handler] = {}
_deferred_signals: list[tuple[int, FrameType | None]] = []
#: What runs before the last flush of the process (see :func:`before_last_flush`).
_last_words: list[Callable[[int | None, bool], None]] = []
_local = threading.local()
#: Every writer of the process that may hold points (weakly: a writer nobody holds has none).
_writers: Any = None  # weakref.WeakSet[MetricWriter], made by register()


def register(writer: MetricWriter) -> None:
    """Count ``writer`` among the writers that exit, signals and pools flush."""
    global _writers
    if _writers is None:
        import weakref

        _writers = weakref.WeakSet()
    _writers.add(writer)


def live_writers() -> list[MetricWriter]:
    """The writers of this process."""
    return [] if _writers is None else list(_writers)


def install() -> None:
    """Install the process hooks, once per process (again in a forked child, whose parent's
    installation it inherited only in part). Cheap to call on every first point."""
    global _installed_pid
    pid = os.getpid()
    if _installed_pid != pid:
        with _install_lock:
            if _installed_pid != pid:
                if _installed_pid is None:
                    atexit.register(_flush_at_exit)
                    os.register_at_fork(
                        before=_hold_sigterm_across_fork,
                        after_in_parent=_release_sigterm_after_fork,
                        after_in_child=_after_fork_in_child,
                    )
                _register_multiprocessing_hooks()
                _installed_pid = pid
    pools.flush_before_results(_flush_before_a_result)
    install_signal_handlers()


# Sections during which a signal must wait


@contextmanager
def busy() -> Iterator[None]:
    """Mark a section of writer code that holds (or waits for) a writer's lock: a signal that
    lands in it in this thread is handled when the outermost such section ends."""
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if depth == 0 and _deferred_signals:
            _deliver_deferred_signal()


def busy_in_this_thread() -> bool:
    """Whether this thread is inside a writer's locked section."""
    return bool(getattr(_local, "depth", 0))


# Flushing every writer


def before_last_flush(callback: Callable[[int | None, bool], None]) -> None:
    """Call ``callback(signum, fatal)`` before the flush of a signal (its number, and whether
    the process ends with it: the default action follows) and before the flush at exit
    (``None``, ``True``): the runs of the process end there (``mltracker.runs``). Once per
    callback; a callback never raises."""
    if callback not in _last_words:
        _last_words.append(callback)


def _say_last_words(signum: int | None) -> None:
    fatal = True
    if signum is not None:
        previous = _previous_handlers.get(signum, signal.SIG_DFL)
        fatal = not callable(previous) and previous != signal.SIG_IGN
    for callback in list(_last_words):
        try:
            callback(signum, fatal)
        except Exception:  # noqa: BLE001 - never in the way of the flush
            pass


def flush_all(within: float | None = None) -> None:
    """Flush every writer of this process; what a store cannot take goes to a spool file.

    Never raises: failures are reported on stderr.
    """
    for writer in live_writers():
        writer.flush_or_spool(within)


def _flush_before_a_result() -> None:
    """In a pool worker, before a task's result is sent: the task's runs end (the pool may
    end the worker with SIGTERM as soon as it has the results) and every writer is flushed."""
    _say_last_words(None)
    flush_all()


def _flush_at_exit() -> None:
    _say_last_words(None)
    flush_all(within=deadlines.close_seconds())


def _register_multiprocessing_hooks() -> None:
    """Flush when a ``multiprocessing`` child ends (it leaves through ``os._exit``, which
    skips ``atexit``, after the finalizers of ``multiprocessing.util``), and let a pool
    worker forked later end on SIGTERM."""
    import multiprocessing.util as util

    if _in_multiprocessing_child():
        util.Finalize(None, _flush_at_exit, exitpriority=100)
    util.register_after_fork(_after_multiprocessing_fork, _after_multiprocessing_fork)


#: The functions ``multiprocessing`` runs in its pool workers, which ``terminate()`` ends with
#: SIGTERM: a Python-level handler would stay pending while a worker waits in C for a task.
_POOL_WORKERS = (
    ("multiprocessing.pool", "worker"),
    ("concurrent.futures.process", "_process_worker"),
)


def _after_multiprocessing_fork(_: object) -> None:
    """In a ``multiprocessing`` child started by fork, before its target runs."""
    process = sys.modules.get("multiprocessing.process")
    current = process.current_process() if process is not None else None
    _default_sigterm_in_pool_worker(getattr(current, "_target", None))


def _default_sigterm_in_pool_worker(target: object) -> None:
    """If ``target`` is a pool's worker loop, end on SIGTERM (not a Python handler)."""
    for module_name, function_name in _POOL_WORKERS:
        module = sys.modules.get(module_name)
        if module is not None and target is getattr(module, function_name, None):
            try:
                if callable(signal.getsignal(signal.SIGTERM)):
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
            except (ValueError, OSError):  # not the main thread of the main interpreter
                pass
            return


def _target_being_forked() -> object:
    """In a child just forked by ``multiprocessing`` (inside ``os.fork``): the target of
    the process it starts, found on the stack of the fork's caller; else ``None``."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_launch" and "process_obj" in frame.f_locals:
            return getattr(frame.f_locals["process_obj"], "_target", None)
        frame = frame.f_back
    return None


#: The forking thread's signal mask before :func:`_hold_sigterm_across_fork` (``None`` when
#: the platform has no ``pthread_sigmask``).
_mask_before_fork: set[int | signal.Signals] | None = None


def _hold_sigterm_across_fork() -> None:
    """Block SIGTERM in the forking thread until each side of the fork has its handler right.

    Without this, a SIGTERM that reaches a new pool worker before its after-fork hook has
    put back the default action is taken by the inherited Python handler, which only sets a
    flag, and the worker never ends (``Pool.terminate`` waits for it forever).
    """
    global _mask_before_fork
    if hasattr(signal, "pthread_sigmask"):
        _mask_before_fork = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _release_sigterm_after_fork() -> None:
    global _mask_before_fork
    if _mask_before_fork is not None:
        mask, _mask_before_fork = _mask_before_fork, None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _after_fork_in_child() -> None:
    # At once, not only when ``multiprocessing`` runs its after-fork hooks: ``terminate()``
    # may send SIGTERM to a worker that has not got that far yet (it stays pending, blocked,
    # until the handler is right: see ``_hold_sigterm_across_fork``).
    try:
        _default_sigterm_in_pool_worker(_target_being_forked())
        _local.depth = 0
        _deferred_signals.clear()
        try:
            for writer in live_writers():
                writer.after_fork_in_child()
        finally:
            _restore_signal_handlers()
    finally:
        _release_sigterm_after_fork()


# Signals: flush, then behave as the process would have without us


def signal_handlers_enabled() -> bool:
    """Whether writers install their SIGTERM/SIGINT handlers: ``$MLTRACKER_SIGNAL_HANDLERS``
    is not ``0``/``false``/``no``/``off`` (default: they do)."""
    return os.environ.get(SIGNAL_HANDLERS_VARIABLE, "").strip().lower() not in _OFF


def install_signal_handlers() -> None:
    """Put our SIGTERM/SIGINT handlers in front of the current ones (main thread only, and
    not in a ``multiprocessing`` child, which keeps the default actions)."""
    if threading.current_thread() is not threading.main_thread() or _in_multiprocessing_child():
        return
    if not signal_handlers_enabled():
        return
    for signum in _HANDLED_SIGNALS:
        current = signal.getsignal(signum)
        if current is on_signal:
            continue
        try:
            signal.signal(signum, on_signal)
        except ValueError:  # not the main interpreter
            return
        _previous_handlers[signum] = current


#: The signals whose handlers flush first: SIGTERM and SIGINT, and SIGHUP where there is one
#: (a closed terminal, a batch system's preemption).
_HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)


def _restore_signal_handlers() -> None:
    """In a forked child, put back the handlers we replaced. A ``multiprocessing`` child must
    keep them (see ``_in_multiprocessing_child``); any other child installs ours again when it
    first logs, and until then has nothing queued."""
    for signum, previous in list(_previous_handlers.items()):
        try:
            if signal.getsignal(signum) is on_signal:
                signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        except (ValueError, OSError):  # not the main thread of the main interpreter
            return


def _in_multiprocessing_child() -> bool:
    """A ``multiprocessing`` child keeps the default signal actions: its parent ends it with
    SIGTERM (``Pool.terminate``), and a Python-level handler can leave that signal pending
    while the child waits in C for its next task. Its points are flushed at its normal end."""
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def on_signal(signum: int, frame: FrameType | None) -> None:
    """Our SIGTERM/SIGINT handler: flush every writer (bounded), then chain."""
    if _in_multiprocessing_child():  # inherited through fork: behave as the child would
        _chain(signum, frame)
        return
    if busy_in_this_thread():
        # The signal interrupted writer code of this very thread, which may hold a lock a
        # flush needs: handle it when that code is done (see ``busy``).
        _deferred_signals.append((signum, frame))
        return
    _say_last_words(signum)
    flush_all(within=deadlines.signal_flush_seconds())
    _chain(signum, frame)


def _deliver_deferred_signal() -> None:
    if _deferred_signals and threading.current_thread() is threading.main_thread():
        signum, frame = _deferred_signals.pop()
        _deferred_signals.clear()
        _say_last_words(signum)
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
