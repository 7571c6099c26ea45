"""The runs a process writes: how they start, beat and end.

Each session (``mltracker.session``) keeps a :class:`RunBook`: per model, the run this process
writes into now (:class:`ModelSlot`). A model's own views (``model.metrics.log``,
``model.modules.log``, ``model.iterations.create``) write into that run; the first such write
of a process starts it (an *implicit* run) unless ``model.runs.start()`` started one. Reads,
and getting or creating experiments and models, start none.

Starts, heartbeats and ends are operations of the writer's log (``mltracker.operations``),
queued and spooled like points, so a run's status is right after an outage too. The start
of ``model.runs.start()`` waits for the store like any write of a training loop, that of an
implicit run is queued with the write that starts it; heartbeats and ends never wait (the
writer's thread, the exit flush or the spool delivers them).

A run ends:

- ``finished``: its ``with`` block is left, ``finish()``, its session is closed, or the process
  exits normally;
- ``failed``: an exception leaves its ``with`` block, reaches ``sys.excepthook`` (or
  ``threading.excepthook``: the run fails at exit), or ``sys.exit`` is called with a failure
  status (``raise SystemExit(n)`` outside a ``with`` block is not seen, and ends it
  ``finished``);
- ``killed``: SIGTERM, SIGINT or SIGHUP reached the process (the signal's name is kept), or a
  ``KeyboardInterrupt`` left its ``with`` block;
- ``crashed`` is never written: a reader judges it from the heartbeat (``status``).

Only the process that started a run ends it or beats for it: a forked child starts runs of its
own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from mltracker import values
from mltracker.operations import BeatRun, EndRun, ResumeRun, StartRun, new_id
from mltracker.ports.store import RunStart, RunStatus, Series
from mltracker.runs import context, status
from mltracker.writer import hooks

if TYPE_CHECKING:
    from mltracker.session import Session


class RunHandle:
    """A run this process writes: its id, its model's id (as the process knows it), how it
    started, and whether it ended."""

    __slots__ = ("__weakref__", "beat", "book", "ended", "id", "model_id", "pid", "start")

    def __init__(self, book: RunBook, start: RunStart) -> None:
        self.book = book
        self.id = start.id
        self.model_id = start.model_id
        self.start = start
        self.pid = os.getpid()
        self.ended: RunStatus | None = None
        self.beat: BeatRun | None = None

    def ours(self) -> bool:
        """Whether this process started it (a forked child did not)."""
        return self.pid == os.getpid()


class ModelSlot:
    """This process's run of one model: the current one (``None`` before the first write), and
    the series that the model's own metrics views log into (those of the current run; cleared
    when the run changes)."""

    __slots__ = ("book", "current", "lock", "model_id", "series")

    def __init__(self, book: RunBook, model_id: UUID) -> None:
        self.book = book
        self.model_id = model_id
        self.current: RunHandle | None = None
        self.series: dict[tuple[str, str | None], Series] = {}
        self.lock = threading.Lock()

    def current_run(self) -> RunHandle:
        """The run the model's own writes go to, started now if there is none."""
        current = self.current
        if current is not None and current.ended is None and current.ours():
            return current
        with self.lock:
            current = self.current
            if current is None or current.ended is not None or not current.ours():
                current = self.book.start(self.model_id, None, None, make_current=False, wait=False)
                self.switch(current)
            return current

    def switch(self, handle: RunHandle | None) -> None:
        """Make ``handle`` the current run (``None``: none)."""
        self.current = handle
        self.series.clear()


class RunBook:
    """The runs one session writes."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._slots: dict[UUID, ModelSlot] = {}
        self._live: dict[UUID, RunHandle] = {}
        self._lock = threading.Lock()

    def slot(self, model_id: UUID) -> ModelSlot:
        found = self._slots.get(model_id)
        if found is None:
            with self._lock:
                found = self._slots.setdefault(model_id, ModelSlot(self, model_id))
        return found

    def start(
        self,
        model_id: UUID,
        name: str | None,
        params: Mapping[str, Any] | None,
        *,
        make_current: bool = True,
        wait: bool = True,
        run_id: UUID | None = None,
    ) -> RunHandle:
        """Start a run of the model (and make it the model's current one). With ``wait``,
        the start is written at once if the store takes it (as ``model.runs.start()`` does);
        else it is queued (as the start of an implicit run is: a first write never waits).
        ``run_id``: the run's id, made by the caller before the start (a new one by default)."""
        params_json = values.encode_attributes(params, "params")
        timeout = status.run_timeout()
        start = RunStart(
            uuid4() if run_id is None else run_id,
            model_id,
            name,
            params_json,
            values.encode_attributes(context.capture(), "run context"),
            time.time(),
            timeout,
        )
        handle = RunHandle(self, start)
        self._begin(handle, StartRun(start), wait=wait)
        if make_current:
            self.slot(model_id).switch(handle)
        return handle

    def resume(
        self,
        model_id: UUID,
        run_id: UUID,
        rewind: int | None = None,
        since: float | None = None,
    ) -> RunHandle:
        """Make an ended run ``running`` again, written by this process; with ``rewind``,
        its points from that step on (logged after ``since``, if given) superseded."""
        timeout = status.run_timeout()
        now = time.time()
        start = RunStart(run_id, model_id, None, "{}", "{}", now, timeout)
        handle = RunHandle(self, start)
        self._begin(handle, ResumeRun(new_id(), run_id, now, timeout, rewind, since))
        self.slot(model_id).switch(handle)
        return handle

    def rewind(self, handle: RunHandle, step: int, since: float | None = None) -> None:
        """Supersede the points of a run this process writes from ``step`` on (a resumption
        of a run still live here), after the points queued before."""
        operation = ResumeRun(new_id(), handle.id, time.time(), handle.start.timeout, step, since)
        self._session.writer.submit(operation)

    def _begin(
        self, handle: RunHandle, operation: StartRun | ResumeRun, *, wait: bool = True
    ) -> None:
        _install_process_hooks()
        with self._lock:
            self._live[handle.id] = handle
        _books.add(self)
        try:
            self._session.writer.submit(operation, wait=wait)
        except BaseException:
            with self._lock:
                self._live.pop(handle.id, None)
            raise
        _heartbeat.ensure(handle.start.timeout)

    def end(self, handle: RunHandle, run_status: RunStatus, exit: str | None = None) -> bool:
        """End a run of this process once (later calls do nothing); whether this call did.
        Never waits for the store: the writer delivers it."""
        with self._lock:
            if handle.ended is not None or not handle.ours():
                return False
            handle.ended = run_status
            self._live.pop(handle.id, None)
        slot = self._slots.get(handle.model_id)
        if slot is not None and slot.current is handle:
            slot.switch(None)
        operation = EndRun(new_id(), handle.id, run_status, exit, time.time())
        self._session.writer.submit(operation, wait=False)
        return True

    def end_all(self, run_status: RunStatus, exit: str | None = None) -> None:
        """End every run this process writes in this session."""
        for handle in self.live():
            self.end(handle, run_status, exit)

    def live(self) -> list[RunHandle]:
        """The runs of this process in this session that did not end."""
        with self._lock:
            return [handle for handle in self._live.values() if handle.ours()]

    def beat(self) -> None:
        """Queue a heartbeat of each live run: one at a time (a beat still queued is moved
        to now), written by the writer's thread with the points, at most its interval (1 s)
        later, or spooled with them."""
        for handle in self.live():
            now = time.time()
            last = handle.beat
            if last is not None and not last.done:
                last.at = now
                continue
            handle.beat = BeatRun(new_id(), handle.id, now)
            self._session.writer.submit(handle.beat, wait=False)


#: Every book with runs, for the heartbeat and for the end of the process.
_books: weakref.WeakSet[RunBook] = weakref.WeakSet()


# How the process ends -------------------------------------------------------------------


class _Outcome:
    """What this process has been through, for the end of its runs at exit."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.failure: str | None = None

    def at_exit(self) -> tuple[RunStatus, str | None]:
        if self.signal is not None:
            return "killed", self.signal
        if self.failure is not None:
            return "failed", self.failure
        return "finished", None


_outcome = _Outcome()
_hooks_pid: int | None = None
_hooks_lock = threading.Lock()


def describe_exception(error: BaseException) -> str:
    """How an exception is kept as a run's ``exit``: its type and message."""
    message = str(error)
    name = type(error).__qualname__
    return f"{name}: {message}" if message else name


def outcome_of(error: BaseException | None) -> tuple[RunStatus, str | None]:
    """The status and exit of a run left with ``error`` (``None``: left normally)."""
    if error is None:
        return "finished", None
    if isinstance(error, KeyboardInterrupt):
        return "killed", "SIGINT"
    if isinstance(error, SystemExit):
        if error.code is None or error.code == 0:
            return "finished", None
        return "failed", f"exit status {error.code}"
    return "failed", describe_exception(error)


def end_everywhere(run_status: RunStatus, exit: str | None) -> None:
    """End every run this process writes, in every session."""
    for book in list(_books):
        book.end_all(run_status, exit)


def _last_words(signum: int | None, fatal: bool) -> None:
    """Before the flush of exit or of a signal (see ``hooks.before_last_flush``)."""
    if signum is None:
        end_everywhere(*_outcome.at_exit())
        return
    _outcome.signal = signal.Signals(signum).name
    if fatal:  # the default action follows: the process ends now
        end_everywhere("killed", _outcome.signal)


def _install_process_hooks() -> None:
    """Once per process: the exit and signal callbacks, ``sys.excepthook``,
    ``threading.excepthook`` and ``sys.exit`` wrappers that note how it ends."""
    global _hooks_pid
    pid = os.getpid()
    if _hooks_pid == pid:
        return
    with _hooks_lock:
        if _hooks_pid == pid:
            return
        hooks.install()
        hooks.before_last_flush(_last_words)
        if _hooks_pid is None:
            _wrap_exception_hooks()
            os.register_at_fork(after_in_child=_forget_after_fork)
        _hooks_pid = pid


def _wrap_exception_hooks() -> None:
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        try:
            run_status, exit = outcome_of(error)
            if run_status == "failed":
                _outcome.failure = exit
            end_everywhere(run_status, exit)
        finally:
            previous_hook(kind, error, traceback)

    sys.excepthook = excepthook

    previous_thread_hook = threading.excepthook

    def thread_excepthook(arguments: threading.ExceptHookArgs) -> None:
        try:
            if arguments.exc_value is not None and not isinstance(arguments.exc_value, SystemExit):
                thread = arguments.thread.name if arguments.thread is not None else "a thread"
                _outcome.failure = f"in {thread}: {describe_exception(arguments.exc_value)}"
        finally:
            previous_thread_hook(arguments)

    threading.excepthook = thread_excepthook

    previous_exit = sys.exit

    def exit(status: Any = None) -> Any:
        if status is not None and status != 0:
            _outcome.failure = f"exit status {status}"
        return previous_exit(status)

    sys.exit = exit


def _forget_after_fork() -> None:
    """In a forked child: the runs are the parent's, and the child writes runs of its own."""
    global _outcome
    _outcome = _Outcome()
    for book in list(_books):
        for slot in list(book._slots.values()):
            slot.switch(None)
    _heartbeat.forget()


# The heartbeat --------------------------------------------------------------------------


class _Heartbeat:
    """One daemon thread per process that queues a heartbeat of every live run each tenth of
    the shortest run timeout."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._interval = status.DEFAULT_TIMEOUT / 10
        self._wake = threading.Event()
        self._lock = threading.Lock()

    def ensure(self, timeout: float | None) -> None:
        if timeout is not None and timeout / 10 < self._interval:
            self._interval = timeout / 10
            self._wake.set()  # wake it to take the shorter interval at once
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._loop, name="mltracker-heartbeat", daemon=True
            )
            self._thread.start()

    def forget(self) -> None:
        self._thread = None
        self._pid = None
        self._wake = threading.Event()
        self._lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._pid != os.getpid():
                return
            timeouts: list[float] = []
            for book in list(_books):
                try:
                    book.beat()
                except Exception:  # noqa: BLE001 - a heartbeat is never worth a crash
                    pass
                timeouts.extend(
                    handle.start.timeout for handle in book.live() if handle.start.timeout
                )
            # A tenth of the shortest timeout of the runs still live.
            self._interval = min(timeouts, default=status.DEFAULT_TIMEOUT) / 10


_heartbeat = _Heartbeat()
