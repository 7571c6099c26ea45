"""``model.runs`` and the :class:`Run` it hands out (see ``mltracker.runs``).

A :class:`Run` is a snapshot of a run as stored (``status`` as a reader judges it, see
``mltracker.runs.status``; :meth:`Run.reload` reads it again) with live views of its metrics,
modules and iterations. A run this process writes (``current``, ``start()``) also takes
writes: its metrics, modules and iterations are logged into it, and it ends with its ``with``
block or :meth:`Run.finish`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast, overload
from uuid import UUID

from mltracker import search, values
from mltracker.entities import Summary
from mltracker.errors import InvalidArgumentError, InvalidTypeError, NotFoundError
from mltracker.ports.store import ModuleOwner, RunRow, RunStatus
from mltracker.runs import status as run_status
from mltracker.runs.lifecycle import RunHandle, outcome_of
from mltracker.session import Session, session_store
from mltracker.views import IterationsView, MetricsView, ModulesView, require_extra, run_id_of

if TYPE_CHECKING:
    import pandas

_list = builtins.list

#: The statuses ``Run.finish`` takes.
_ENDS: frozenset[str] = frozenset({"finished", "failed", "killed"})


class Run:
    """A run of a model: one training process's part of it.

    Attributes (a snapshot; :meth:`reload` reads them again): ``id``, ``name``, ``status``
    (``running``, ``finished``, ``failed``, ``killed``, ``crashed``), ``started_at``,
    ``ended_at``, ``heartbeat_at`` (seconds since the epoch), ``params`` (a dict), ``host``,
    ``pid``, ``command`` (argv), ``git`` (``commit``, ``branch``, ``dirty``; or ``None``),
    ``environment`` (versions), ``exit`` (a signal's name, or an exception's type and
    message). ``metrics``, ``modules`` and ``iterations`` are live views of the run's own.
    """

    def __init__(
        self, session: Session, row: RunRow, handle: RunHandle | None, model_id: UUID
    ) -> None:
        self._session = session
        self._row = row
        self._handle = handle
        self._model_id = model_id
        self._metrics = MetricsView(session, model_id, run=handle, run_id=row.id)
        self._modules = ModulesView(session, ModuleOwner("run", row.id), handle)
        self._iterations = IterationsView(session, model_id, run=handle, run_id=row.id)

    # The snapshot

    @property
    def id(self) -> UUID:
        return self._row.id

    @property
    def model_id(self) -> UUID:
        return self._row.model_id

    @property
    def name(self) -> str | None:
        return self._row.name

    @property
    def status(self) -> run_status.Status:
        if self._handle is not None and self._handle.ours():
            ended = self._handle.ended
            return "running" if ended is None else ended
        return run_status.status_of(self._row)

    @property
    def started_at(self) -> float:
        return self._row.started_at

    @property
    def ended_at(self) -> float | None:
        return self._row.ended_at

    @property
    def heartbeat_at(self) -> float | None:
        return self._row.heartbeat_at

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._row.params)

    @property
    def host(self) -> str | None:
        return cast(str | None, self._row.context.get("host"))

    @property
    def pid(self) -> int | None:
        return cast(int | None, self._row.context.get("pid"))

    @property
    def command(self) -> _list[str] | None:
        return cast(_list[str] | None, self._row.context.get("command"))

    @property
    def git(self) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, self._row.context.get("git"))

    @property
    def environment(self) -> dict[str, str]:
        return cast(dict[str, str], self._row.context.get("environment") or {})

    @property
    def exit(self) -> str | None:
        return self._row.exit

    @property
    def duration(self) -> float:
        """Seconds from its start to its end (to its last heartbeat, or now, if it did not
        end)."""
        return run_status.duration_of(self._row, self.status)

    # Its parts

    @property
    def metrics(self) -> MetricsView:
        return self._metrics

    @property
    def modules(self) -> ModulesView:
        return self._modules

    @property
    def iterations(self) -> IterationsView:
        return self._iterations

    # Its life

    def finish(self, status: RunStatus = "finished", exit: str | None = None) -> None:
        """End the run (``finished``, ``failed`` or ``killed``), for code that manages its
        own loop; queued like its points. Finishing it again does nothing.

        Raises:
            InvalidArgumentError: Another status, or a run this process does not write.
        """
        if status not in _ENDS:
            raise InvalidArgumentError(f"a run finishes finished, failed or killed, not {status!r}")
        exit = values.check_text(exit, "run exit")
        handle = self._handle
        if handle is None or not handle.ours():
            raise InvalidArgumentError(
                f"run {self.id} is not written by this process: only the process that started "
                "(or resumed) a run ends it"
            )
        if handle.book.end(handle, status, exit):
            self._metrics._series.clear()
            self._row = _ended_row(self._row, status, exit)

    def reload(self) -> Run:
        """The run as stored now.

        Raises:
            NotFoundError: The run is not there (any more).
        """
        row = session_store(self._session).read_run(self.id)
        if row is None:
            raise NotFoundError(f"run {self.id} not found")
        return Run(self._session, row, self._handle, self._model_id)

    @overload
    def summary(self) -> dict[str, Any]: ...

    @overload
    def summary(self, name: str, *, phase: str | None = None) -> Summary | None: ...

    def summary(self, name: str | None = None, *, phase: str | None = None) -> Any:
        """``summary("loss", phase="validation")``: the summary of one series of the run
        (count, nan_count, first, last, min, max, argmin, argmax, first_step, last_step; see
        :class:`~mltracker.entities.Summary`), kept by the store as points are written;
        ``None`` if the run logged no point of it. Without a name: the last value of each
        series of the run, keyed ``name`` (no phase) or ``phase/name``.

        Raises:
            InvalidArgumentError: A name or phase that is not valid, or a phase without a name.
        """
        if name is None:
            if phase is not None:
                raise InvalidArgumentError("give the metric's name with its phase")
            found: dict[str, Any] = {}
            for point in self._metrics.latest():
                key = point.name if point.phase is None else f"{point.phase}/{point.name}"
                found[key] = point.value
            return found
        name = values.check_name(name, "metric name")
        phase = values.check_optional_name(phase, "phase")
        for summary in session_store(self._session).read_summaries([self.id]):
            if summary.name == name and summary.phase == phase:
                return summary
        return None

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        handle = self._handle
        if handle is not None and handle.ended is None and handle.ours():
            status, exit = outcome_of(error)
            self.finish(status, exit)

    def __repr__(self) -> str:
        name = "" if self.name is None else f" {self.name!r}"
        return f"<Run {self.id}{name} {self.status}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def _ended_row(row: RunRow, status: str, exit: str | None) -> RunRow:
    now = time.time()
    return RunRow(
        row.id,
        row.model_id,
        row.name,
        status,
        row.started_at,
        now,
        now,
        row.timeout,
        row.params,
        row.context,
        exit,
    )


def _handle_row(handle: RunHandle) -> RunRow:
    """What this process knows of a run it writes, before reading the store."""
    start = handle.start
    return RunRow(
        start.id,
        start.model_id,
        start.name,
        "running",
        start.started_at,
        None,
        start.started_at,
        start.timeout,
        values.loads_json(start.params_json),
        values.loads_json(start.context_json),
        None,
    )


class RunsView:
    """``model.runs``: the model's runs, and this process's."""

    def __init__(self, session: Session, model_id: UUID) -> None:
        self._session = session
        self._model_id = model_id

    @property
    def current(self) -> Run:
        """This process's run of the model: the one its own writes go to, started now if
        there is none yet."""
        handle = self._session.runs.slot(self._model_id).current_run()
        return Run(self._session, _handle_row(handle), handle, self._model_id)

    def start(
        self,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        resume: object = None,
        rewind: int | None = None,
        system_metrics: bool | None = None,
    ) -> Run:
        """Start a run of the model and make it this process's current one (the model's own
        writes go to it); a ``with`` block ends it (``finished``, or ``failed`` or
        ``killed`` when an exception leaves it). ``resume``: a run, its id, or ``"last"``
        (the model's last run) to continue it instead (``running`` again).
        ``system_metrics``: sample the system for the run (series of phase ``system``;
        ``None``: if ``connect(..., system_metrics=True)`` or ``$MLTRACKER_SYSTEM_METRICS``
        asks for it).

        ``rewind`` (with ``resume``): the step the run goes on from, that of the checkpoint
        it was resumed from. Its points at that step and after, logged before, are
        superseded: kept, marked, and left out of every read but ``metrics.list(...,
        superseded=True)``; the points it logs from now on are its values. Points without a
        step stay. A retried or replayed resumption supersedes nothing more.

        Raises:
            InvalidTypeError: ``params`` is not a mapping, ``rewind`` not an int.
            InvalidArgumentError: A name, parameter, ``resume`` or ``rewind`` that is not
                valid (``rewind`` is a step of at least 0, given with ``resume``).
            NotFoundError: ``resume`` names no run of this model.
        """
        if rewind is not None:
            rewind = check_rewind(rewind)
            if resume is None:
                raise InvalidArgumentError("rewind is given with resume: the run to rewind")
        if resume is not None:
            if name is not None or params is not None:
                raise InvalidArgumentError("resume a run, or start one with a name and params")
            return self._resume(resume, rewind, system_metrics)
        name = values.check_optional_name(name, "run name")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidTypeError(f"params must be a mapping, not {type(params).__name__}")
        handle = self._session.runs.start(
            self._model_id, name, params, system_metrics=system_metrics
        )
        return Run(self._session, _handle_row(handle), handle, self._model_id)

    def _resume(
        self, resume: object, rewind: int | None = None, system_metrics: bool | None = None
    ) -> Run:
        store = session_store(self._session)
        model_id = self._session.resolve(self._model_id)
        if resume == "last":
            found = store.list_runs(model_id)
            if not found:
                raise NotFoundError(f"model {model_id} has no run to resume")
            row = found[-1]
        else:
            run_id = run_id_of(resume)
            read = store.read_run(run_id)
            if read is None or read.model_id != model_id:
                raise NotFoundError(f"run {run_id} is not a run of model {model_id}")
            row = read
        handle = self._session.runs.resume(
            self._model_id, row.id, rewind, system_metrics=system_metrics
        )
        return Run(self._session, row, handle, self._model_id).reload()

    def list(self) -> _list[Run]:
        """The model's runs, oldest first."""
        store = session_store(self._session)
        rows = store.list_runs(self._session.resolve(self._model_id))
        return [self._entity(row) for row in rows]

    def read(self, run_id: object) -> Run | None:
        """One run of the model, by its id; ``None`` if it has none of that id."""
        chosen = run_id_of(run_id)
        row = session_store(self._session).read_run(chosen)
        if row is None or row.model_id != self._session.resolve(self._model_id):
            return None
        return self._entity(row)

    def _entity(self, row: RunRow) -> Run:
        handle = None
        for live in self._session.runs.live():
            if live.id == row.id:
                handle = live
        return Run(self._session, row, handle, self._model_id)


class ExperimentRunsView:
    """``experiment.runs`` (the runs of the experiment's models) and ``tracker.runs`` (of
    every experiment): ``list()``, ``search()``, ``to_pandas()``; see README "Sweeps"."""

    def __init__(self, session: Session, experiment_id: UUID | None) -> None:
        self._session = session
        self._experiment_id = experiment_id

    def _stored_experiment_id(self) -> UUID | None:
        if self._experiment_id is None:
            return None
        return self._session.resolve(self._experiment_id)

    def list(self) -> _list[Run]:
        """Every run, oldest first."""
        return self.search()

    def search(
        self,
        where: str | None = None,
        *,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> _list[Run]:
        """The runs that ``where`` selects (every run without it), in the order of
        ``order_by`` (fields, each ``ASC``, the default, or ``DESC``; then oldest first), at
        most ``limit``: one query of the store. The grammar::

            params.lr < 0.01 AND metrics.loss@validation.min < 0.3
            run.status IN ('finished', 'running') OR params.optimizer = 'adam'
            modules.encoder.hidden >= 64 AND NOT params.`batch size` = 32

        Raises:
            InvalidArgumentError: The condition or order does not parse (the message names
                the position), or a negative limit.
            InvalidTypeError: ``where`` or ``order_by`` is not a str, ``limit`` not an int.
        """
        search.parse_where(where)
        search.parse_order(order_by)
        limit = search.check_limit(limit)
        store = session_store(self._session)
        rows = store.search_runs(self._stored_experiment_id(), where, order_by, limit)
        live = {handle.id: handle for handle in self._session.runs.live()}
        return [Run(self._session, row, live.get(row.id), row.model_id) for row in rows]

    def to_pandas(
        self,
        where: str | None = None,
        *,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> pandas.DataFrame:
        """The runs of :meth:`search` as a table, one row per run: ``run_id``, ``model_id``,
        ``name``, ``status``, ``started_at``, ``ended_at``, ``duration``, a column per
        parameter (``params.lr``) and per series and aggregate (``metrics.loss@validation.min``,
        named as a search names them); a run without one has ``None`` (NaN) there.

        Raises:
            MLTrackerError: pandas is not installed.
        """
        pandas = require_extra("pandas", "pandas")
        found = self.search(where, order_by=order_by, limit=limit)
        rows: dict[UUID, dict[str, Any]] = {}
        for run in found:
            row: dict[str, Any] = {
                "run_id": str(run.id),
                "model_id": str(run.model_id),
                "name": run.name,
                "status": run.status,
                "started_at": run.started_at,
                "ended_at": run.ended_at,
                "duration": run.duration,
            }
            for key, value in run.params.items():
                row[f"params.{_column_name(key)}"] = value
            rows[run.id] = row
        store = session_store(self._session)
        for summary in store.read_summaries(_list(rows)):
            assert summary.run_id is not None
            series_name = _column_name(summary.name)
            if summary.phase is not None:
                series_name += "@" + _column_name(summary.phase)
            row = rows[summary.run_id]
            for aggregate in search.AGGREGATES:
                row[f"metrics.{series_name}.{aggregate}"] = getattr(summary, aggregate)
        return pandas.DataFrame(_list(rows.values()))


def _column_name(name: str) -> str:
    """A name as a search writes it (in backquotes unless it is an identifier)."""
    return str(search.Field("params", (name,))).removeprefix("params.")


# For the integrations (``mltracker.integrations``): a run per trainer call, started and
# resumed without a read of the store (a training loop never waits for it).


def start_run(
    runs: RunsView,
    name: str | None,
    params: Mapping[str, Any] | None,
    run_id: UUID,
    system_metrics: bool | None = None,
) -> Run:
    """``runs.start(name, params)``, with the new run's id made by the caller beforehand (the
    Lightning logger names the run's checkpoint folder after it before the run starts).

    Raises:
        InvalidTypeError: ``params`` is not a mapping.
        InvalidArgumentError: A name or parameter that is not valid.
    """
    name = values.check_optional_name(name, "run name")
    if params is not None and not isinstance(params, Mapping):
        raise InvalidTypeError(f"params must be a mapping, not {type(params).__name__}")
    handle = runs._session.runs.start(
        runs._model_id, name, params, run_id=run_id, system_metrics=system_metrics
    )
    return Run(runs._session, _handle_row(handle), handle, runs._model_id)


def check_rewind(rewind: object) -> int:
    """``rewind`` as a step to rewind to: an int of at least 0.

    Raises:
        InvalidTypeError: Not an int.
        InvalidArgumentError: Less than 0, or beyond int64.
    """
    step = values.check_int(rewind, "rewind")
    if step < 0:
        raise InvalidArgumentError(f"rewind is a step of at least 0, not {step}")
    return step


def resume_run(
    runs: RunsView,
    run_id: UUID,
    rewind: int | None = None,
    since: float | None = None,
    system_metrics: bool | None = None,
) -> Run:
    """``runs.start(resume=run_id, rewind=rewind)`` without reading the run first: the
    resumption is a write of the training loop (queued and spooled like its points while the
    store is away), and the snapshot is what this process knows (no name, no params). The
    caller vouches that the run is one of this model's (a checkpoint names it). ``since``:
    only the points logged after that time are superseded (a checkpoint's save: the
    points of its step logged before it stay).

    Raises:
        NotFoundError: The store took the resumption at once and has no run of that id.
    """
    if rewind is not None:
        rewind = check_rewind(rewind)
    book = runs._session.runs
    for live in book.live():  # still running here: made current again, not resumed
        if live.id == run_id:
            if rewind is not None:
                book.rewind(live, rewind, since)
            book.slot(runs._model_id).switch(live)
            return Run(runs._session, _handle_row(live), live, runs._model_id)
    handle = book.resume(runs._model_id, run_id, rewind, since, system_metrics=system_metrics)
    return Run(runs._session, _handle_row(handle), handle, runs._model_id)


def last_logged_step(runs: RunsView) -> int | None:
    """The largest step that the model's runs that did not finish logged (the last point of
    each of their series), among the runs started since its last finished run: where a run
    that crashed, was killed or failed got to (perhaps beyond the model's ``step``, which
    a finished run of an integration writes at its end). ``None`` if there is none, or while
    the store is away (within ``$MLTRACKER_WRITE_WAIT_SECONDS``)."""
    session = runs._session
    model_id = runs._model_id

    def read(store: Any) -> int | None:
        stored_id = session.resolve(model_id)
        found: int | None = None
        for row in reversed(store.list_runs(stored_id)):
            if row.status == "finished":
                break
            for point in store.latest_metrics(stored_id, run_id=row.id):
                if point.step is not None and (found is None or point.step > found):
                    found = point.step
        return found

    return cast(int | None, session.writer.read_now(read))
