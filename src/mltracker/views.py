"""The collections of the seed's API as live views of a store.

Each view validates its arguments (``mltracker.values``), then makes one call of the
session's :class:`~mltracker.ports.store.Store`. Every call but ``metrics.log`` and
``metrics.log_many`` first flushes the queued metric points, so the store always holds a prefix
of what was logged.

The writes of a training loop (``model.step = ...`` and ``+= 1``, ``modules.log``,
``modules.log_if_empty`` and ``log_if_changed``, ``iterations.create``, ``get_or_create`` of
an experiment or a model) are operations of the writer's log (``mltracker.operations``), each
with an id made here (a fresh UUID per call, kept across retries and replays), so that none
ever applies twice. They are written at once when the store takes them within
``$MLTRACKER_WRITE_WAIT_SECONDS``, else queued after the points logged before them, and the
call returns what the client knows: the module or iteration with its id (``None`` for a
conditional log of modules, which the store decides when it applies it), an experiment or
model handle with a client-made id (the store's own
id is used from the moment the store answers, if it held them already). ``model.step`` then
answers the step this process knows: the last one read from the store, moved by the step
writes made since (0 for a model first got while the store was away). Other calls (reads,
``create``, updates, deletes) need the store: while it is away they raise
``BackendUnavailableError`` within that wait.
"""

from __future__ import annotations

import builtins
import importlib
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast, get_args
from uuid import UUID

from mltracker import columnar, values
from mltracker.entities import Experiment, Iteration, Metric, Model, Module
from mltracker.errors import InvalidArgumentError, InvalidTypeError, MLTrackerError, NotFoundError
from mltracker.operations import (
    IF_CHANGED,
    IF_EMPTY,
    AddStep,
    CreateIteration,
    GetExperiment,
    GetModel,
    LogModule,
    LogModulesIf,
    WriteStep,
    new_id,
)
from mltracker.ports import experiments, iterations, metrics, models, modules
from mltracker.ports.metrics import NO_PHASE, NoPhase
from mltracker.ports.store import (
    ExperimentRow,
    IterationRow,
    MetricColumns,
    MetricFilter,
    ModelField,
    ModelRow,
    ModuleOwner,
    Point,
    Series,
)
from mltracker.runs.lifecycle import ModelSlot, RunHandle
from mltracker.session import Session, session_store

if TYPE_CHECKING:
    import pandas
    import pyarrow

_list = builtins.list
_values = values
_INT64_MIN = values.INT64_MIN
_INT64_MAX = values.INT64_MAX
_FLOAT = values.FLOAT
_now = time.time
_ModuleList = _list[modules.Module]


class _Steps:
    """A model's step: read from the store when it answers, else as this process knows it;
    written through the writer's log (one operation id per write or increment)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def read_step(self, model_id: UUID) -> int:
        session = self._session
        resolve = session.resolve
        step = session.writer.read_now(lambda store: store.read_step(resolve(model_id)))
        if step is None:  # the store is away: what this process knows
            return session.steps.get(model_id, 0)
        session.steps[model_id] = step
        return step

    def write_step(self, model_id: UUID, step: int) -> None:
        step = values.check_int(step, "model step")
        self._session.writer.submit(WriteStep(new_id(), model_id, step))
        self._session.steps[model_id] = step

    def add_step(self, model_id: UUID, delta: int) -> None:
        session = self._session
        operation = AddStep(new_id(), model_id, values.check_int(delta, "model step increment"))
        if session.writer.submit(operation):
            session.steps[model_id] = operation.result
        else:
            session.steps[model_id] = session.steps.get(model_id, 0) + delta


class ExperimentsView(experiments.Experiments):
    def __init__(self, session: Session) -> None:
        self._session = session

    def _entity(self, row: ExperimentRow) -> Experiment:
        session = self._session
        models = ModelsView(session, row.id)
        return Experiment(
            row.id, row.name, models, row.created_at, ExperimentRunsView(session, row.id)
        )

    def create(self, name: str) -> Experiment:
        name = values.check_name(name, "experiment name")
        return self._entity(session_store(self._session).create_experiment(name))

    def get_or_create(self, name: str) -> Experiment:
        name = values.check_name(name, "experiment name")
        operation = GetExperiment(new_id(), name)
        if self._session.writer.submit(operation):
            return self._entity(operation.result)
        return self._entity(ExperimentRow(operation.id, name, _now()))

    def read(self, name: str) -> Experiment | None:
        name = values.check_name(name, "experiment name")
        row = session_store(self._session).read_experiment(name)
        return None if row is None else self._entity(row)

    def update(self, id: UUID, name: str) -> None:
        name = values.check_name(name, "experiment name")
        experiment_id = self._session.resolve(_check_id(id, "experiment id"))
        session_store(self._session).update_experiment(experiment_id, name)

    def delete(self, id: UUID) -> None:
        experiment_id = self._session.resolve(_check_id(id, "experiment id"))
        session_store(self._session).delete_experiment(experiment_id)

    def list(self) -> _list[experiments.Experiment]:
        return [self._entity(row) for row in session_store(self._session).list_experiments()]


class ModelsView(models.Models):
    def __init__(self, session: Session, experiment_id: UUID) -> None:
        self._session = session
        self._experiment_id = experiment_id

    @property
    def _stored_experiment_id(self) -> UUID:
        return self._session.resolve(self._experiment_id)

    def _entity(self, row: ModelRow, *, stored: bool = True) -> Model:
        session = self._session
        if stored:
            session.steps[row.id] = row.step
        else:  # made here while the store was away: keep what this process knows
            session.steps.setdefault(row.id, row.step)
        return Model(
            row.id,
            row.hash,
            row.name,
            row.description,
            metrics=MetricsView(session, row.id),
            modules=ModulesView(session, ModuleOwner("model", row.id)),
            iterations=IterationsView(session, row.id),
            steps=_Steps(session),
            created_at=row.created_at,
            runs=RunsView(session, row.id),
        )

    def create(self, hash: str, name: str | None = None, description: str | None = None) -> Model:
        hash = values.check_name(hash, "model hash")
        name = values.check_optional_name(name, "model name")
        description = values.check_text(description, "model description")
        row = session_store(self._session).create_model(
            self._stored_experiment_id, hash, name, description
        )
        return self._entity(row)

    def get_or_create(
        self, hash: str, name: str | None = None, description: str | None = None
    ) -> Model:
        hash = values.check_name(hash, "model hash")
        name = values.check_optional_name(name, "model name")
        description = values.check_text(description, "model description")
        operation = GetModel(new_id(), self._experiment_id, hash, name, description)
        if self._session.writer.submit(operation):
            return self._entity(operation.result)
        row = ModelRow(operation.id, self._experiment_id, hash, name, description, _now(), 0)
        return self._entity(row, stored=False)

    def read(self, hash: str) -> Model | None:
        hash = values.check_name(hash, "model hash")
        row = session_store(self._session).read_model(self._stored_experiment_id, hash)
        return None if row is None else self._entity(row)

    def update(
        self,
        hash: str,
        name: str | None = None,
        description: str | None = None,
        *,
        clear: Iterable[Literal["name", "description"]] = (),
    ) -> None:
        hash = values.check_name(hash, "model hash")
        name = values.check_optional_name(name, "model name")
        description = values.check_text(description, "model description")
        cleared = _check_clear(clear, {"name": name, "description": description})
        store = session_store(self._session)
        store.update_model(self._stored_experiment_id, hash, name, description, cleared)

    def delete(self, id: UUID) -> None:
        model_id = self._session.resolve(_check_id(id, "model id"))
        session_store(self._session).delete_model(self._stored_experiment_id, model_id)

    def list(self) -> _list[models.Model]:
        store = session_store(self._session)
        return [self._entity(row) for row in store.list_models(self._stored_experiment_id)]

    def clear(self) -> None:
        store = session_store(self._session)
        store.clear_models(self._stored_experiment_id)


class MetricsView(metrics.Metrics):
    """A model's metrics (points logged go to the process's current run of the model), or
    one run's (``run``: a run this process writes, or ``run_id`` of one it only reads)."""

    def __init__(
        self,
        session: Session,
        model_id: UUID,
        *,
        run: RunHandle | None = None,
        run_id: UUID | None = None,
    ) -> None:
        self._session = session
        self._model_id = model_id
        self._append = session.writer.append
        self._run = run
        self._run_id = run.id if run is not None else run_id
        self._slot: ModelSlot | None = None
        self._series: dict[tuple[str, str | None], Series]
        if self._run_id is None:  # the model's own: into its current run, shared
            self._slot = session.runs.slot(model_id)
            self._series = self._slot.series
        else:
            self._series = {}

    def log(
        self,
        name: str,
        value: Any,
        step: int | None = None,
        phase: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        # The hot path of the library: keep it to a few dictionary and type checks.
        try:
            series = self._series[name, phase]
        except (KeyError, TypeError):  # a new series, or an unhashable name or phase
            series = self._new_series(name, phase)
        if step is not None and (type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX):
            step = values.check_step(step)
        timestamp = _now() if timestamp is None else values.check_timestamp(timestamp)
        if type(value) is float and value == value and value != 0.0:  # finite or inf, not ±0
            self._append((series, step, _FLOAT, value, None, timestamp))
        else:
            kind, number, extra = values.encode_value(value)
            self._append((series, step, kind, number, extra, timestamp))

    def log_many(
        self,
        values: Mapping[str, Any],
        step: int | None = None,
        phase: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        if not isinstance(values, Mapping):
            raise InvalidTypeError(
                f"values must be a mapping of metric names to values, not {type(values).__name__}"
            )
        step = _values.check_step(step)
        phase = _values.check_optional_name(phase, "phase")
        stamp = _now() if timestamp is None else _values.check_timestamp(timestamp)
        points: _list[Point] = []
        for name, value in values.items():
            try:
                series = self._series[name, phase]
            except (KeyError, TypeError):
                series = self._new_series(name, phase)
            try:
                kind, number, extra = _values.encode_value(value)
            except InvalidArgumentError as error:
                raise type(error)(f"{name!r}: {error}") from None
            points.append((series, step, kind, number, extra, stamp))
        failure: MLTrackerError | None = None
        for point in points:  # all of them queued, even if the writer reports a failure
            try:
                self._append(point)
            except MLTrackerError as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def _new_series(self, name: object, phase: object) -> Series:
        checked_name = values.check_name(name, "metric name")
        checked_phase = values.check_optional_name(phase, "phase")
        series = Series(self._model_id, checked_name, checked_phase, self._writing_run())
        self._series[(checked_name, checked_phase)] = series
        return series

    def _writing_run(self) -> UUID:
        """The run that points logged now go to."""
        if self._slot is not None:
            return self._slot.current_run().id
        return writable_run(self._run, self._run_id)

    def list(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
        after: metrics.Metric | None = None,
        limit: int | None = None,
        run: object = None,
        superseded: bool = False,
    ) -> _list[metrics.Metric]:
        """The points of the model (of one run: ``run``, a run or its id; a run's own metrics
        list that run's). ``superseded=True``: also the points that rewinds of resumed runs
        superseded, in their place in logged order, each with ``superseded`` true (see
        ``model.runs.start(..., rewind=)``)."""
        where = _metric_filter(
            name, phase, start_step, stop_step, after, limit, self._run_of(run), superseded
        )
        store = session_store(self._session)
        return cast(_list[metrics.Metric], store.list_metrics(self._stored_model_id, where))

    def latest(self) -> _list[metrics.Metric]:
        store = session_store(self._session)
        latest = store.latest_metrics(self._stored_model_id, run_id=self._run_id)
        return cast(_list[metrics.Metric], latest)

    def _run_of(self, run: object) -> UUID | None:
        """The run a read is about: the view's own, or the one ``run`` names."""
        if run is None:
            return self._run_id
        chosen = run_id_of(run)
        if self._run_id is not None and chosen != self._run_id:
            raise InvalidArgumentError(
                f"this is run {self._run_id}'s metrics: list another run's from the model"
            )
        return chosen

    @property
    def _stored_model_id(self) -> UUID:
        return self._session.resolve(self._model_id)

    def to_pandas(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
    ) -> pandas.DataFrame:
        pandas = require_extra("pandas", "pandas")
        where = _metric_filter(name, phase, start_step, stop_step, run=self._run_id)
        store = session_store(self._session)
        model_id = self._stored_model_id
        if store.reads_arrow():
            return columnar.to_pandas(store.metric_table(model_id, where))
        return columns_to_pandas(pandas, store.metric_columns(model_id, where))

    def to_arrow(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
    ) -> pyarrow.Table:
        where = _metric_filter(name, phase, start_step, stop_step, run=self._run_id)
        store = session_store(self._session)
        return columnar.to_arrow(store.metric_table(self._stored_model_id, where))

    def remove(self, metric: metrics.Metric) -> None:
        metric_id = _entity_id(metric, "metric")
        session_store(self._session).remove_metric(self._stored_model_id, metric_id)

    def clear(self) -> None:
        store = session_store(self._session)
        store.clear_metrics(self._stored_model_id)


class ModulesView(modules.Modules):
    """The modules of a model (logged into the process's current run of it), of an
    iteration, or of a run (``run``: one this process writes)."""

    def __init__(self, session: Session, owner: ModuleOwner, run: RunHandle | None = None) -> None:
        self._session = session
        self._owner = owner
        self._run = run

    def log(self, name: str, attributes: dict[str, Any] | None = None) -> Module:
        name = values.check_name(name, "module name")
        attributes_json = values.encode_attributes(attributes)
        owner = self._owner
        if owner.kind == "model":
            owner = ModuleOwner("run", self._session.runs.slot(owner.id).current_run().id)
        elif owner.kind == "run":
            writable_run(self._run, owner.id)
        operation = LogModule(new_id(), owner, name, attributes_json)
        if self._session.writer.submit(operation):
            return cast(Module, operation.result)
        return Module(operation.id, name, values.loads_json(attributes_json), _now())

    def log_if_empty(
        self, modules: Iterable[tuple[str, dict[str, Any] | None]]
    ) -> _ModuleList | None:
        if not isinstance(modules, Iterable) or isinstance(modules, str | bytes | Mapping):
            raise InvalidTypeError(
                f"modules must be (name, attributes) pairs, not {type(modules).__name__}"
            )
        checked = []
        for pair in modules:
            if not isinstance(pair, tuple | _list) or len(pair) != 2:
                raise InvalidTypeError(
                    f"a module must be a (name, attributes) pair, not {pair!r:.80}"
                )
            name, attributes = pair
            checked.append(
                (values.check_name(name, "module name"), values.encode_attributes(attributes))
            )
        return self._log_if(IF_EMPTY, checked)

    def log_if_changed(
        self, name: str, attributes: dict[str, Any] | None = None
    ) -> _ModuleList | None:
        checked = [(values.check_name(name, "module name"), values.encode_attributes(attributes))]
        return self._log_if(IF_CHANGED, checked)

    def _log_if(self, condition: str, checked: _list[tuple[str, str]]) -> _ModuleList | None:
        if not checked:
            return []
        owner = self._owner
        if owner.kind == "model" and condition == IF_CHANGED:
            # Settings that change between runs (hyper-parameters): the run's, compared
            # with the run's own; a model's architecture (``log_if_empty``) is the model's.
            owner = ModuleOwner("run", self._session.runs.slot(owner.id).current_run().id)
        elif owner.kind == "run":
            writable_run(self._run, owner.id)
        operation = LogModulesIf(new_id(), owner, condition, checked)
        if self._session.writer.submit(operation):
            return cast(_ModuleList, operation.result)
        return None

    @property
    def _stored_owner(self) -> ModuleOwner:
        if self._owner.kind == "run":  # a run's id is the client's, always
            return self._owner
        return ModuleOwner(self._owner.kind, self._session.resolve(self._owner.id))

    def list(self) -> _list[modules.Module]:
        store = session_store(self._session)
        return cast(_list[modules.Module], store.list_modules(self._stored_owner))

    def remove(self, module: modules.Module) -> None:
        module_id = _entity_id(module, "module")
        session_store(self._session).remove_module(self._stored_owner, module_id)

    def clear(self) -> None:
        store = session_store(self._session)
        store.clear_modules(self._stored_owner)


class IterationsView(iterations.Iterations):
    """The iterations of a model (created in the process's current run of it), or of one run
    (``run``: one this process writes, or ``run_id`` of one it only reads)."""

    def __init__(
        self,
        session: Session,
        model_id: UUID,
        *,
        run: RunHandle | None = None,
        run_id: UUID | None = None,
    ) -> None:
        self._session = session
        self._model_id = model_id
        self._run = run
        self._run_id = run.id if run is not None else run_id

    def _entity(self, row: IterationRow) -> Iteration:
        owner = ModuleOwner("iteration", row.id)
        return Iteration(row.id, row.step, ModulesView(self._session, owner), row.created_at)

    def create(self, step: int) -> Iteration:
        step = values.check_int(step, "iteration step")
        if self._run_id is None:
            run_id = self._session.runs.slot(self._model_id).current_run().id
        else:
            run_id = writable_run(self._run, self._run_id)
        operation = CreateIteration(new_id(), self._model_id, step, run_id)
        if self._session.writer.submit(operation):
            return self._entity(operation.result)
        return self._entity(IterationRow(operation.id, self._model_id, step, _now(), run_id))

    @property
    def _stored_model_id(self) -> UUID:
        return self._session.resolve(self._model_id)

    def get(self, step: int) -> Iteration | None:
        step = values.check_int(step, "iteration step")
        row = session_store(self._session).get_iteration(self._stored_model_id, step)
        return None if row is None else self._entity(row)

    def list(self) -> _list[iterations.Iteration]:
        store = session_store(self._session)
        rows = store.list_iterations(self._stored_model_id, run_id=self._run_id)
        return [self._entity(row) for row in rows]

    def remove(self, iteration: iterations.Iteration) -> None:
        iteration_id = _entity_id(iteration, "iteration")
        session_store(self._session).remove_iteration(self._stored_model_id, iteration_id)

    def clear(self) -> None:
        store = session_store(self._session)
        store.clear_iterations(self._stored_model_id)


def _metric_filter(
    name: object,
    phase: object,
    start_step: object,
    stop_step: object,
    after: object = None,
    limit: object = None,
    run: UUID | None = None,
    superseded: object = False,
) -> MetricFilter:
    if type(superseded) is not bool:
        raise InvalidTypeError(f"superseded must be a bool, not {type(superseded).__name__}")
    return MetricFilter(
        name=values.check_optional_name(name, "metric name"),
        phase=NO_PHASE if phase is NO_PHASE else values.check_optional_name(phase, "phase"),
        start_step=values.check_step(start_step, "start_step"),
        stop_step=values.check_step(stop_step, "stop_step"),
        after=_check_after(after),
        limit=_check_limit(limit),
        run=run,
        superseded=superseded,
    )


def run_id_of(run: object) -> UUID:
    """The id of a run given as a run, a UUID or its text.

    Raises:
        InvalidTypeError: It is none of these.
        InvalidArgumentError: The text is not a UUID.
    """
    if isinstance(run, UUID | str):
        return _check_id(run, "run id")
    found = getattr(run, "id", None)
    if isinstance(found, UUID) and hasattr(run, "status"):
        return found
    raise InvalidTypeError(f"run must be a run or its id, not {type(run).__name__}")


def writable_run(run: RunHandle | None, run_id: UUID | None) -> UUID:
    """The id of a run that this process may write into now.

    Raises:
        InvalidArgumentError: The run ended, or this process did not start (or resume) it.
    """
    if run is None or run.ended is not None or not run.ours():
        state = "ended" if run is not None and run.ended is not None else "is not written here"
        raise InvalidArgumentError(
            f"run {run_id} {state}: log into a run this process started, or resume this one "
            "with model.runs.start(resume=run)"
        )
    return run.id


def _check_after(after: object) -> int | None:
    """The ordinal of the point ``after`` names (see ``Metrics.list``)."""
    if after is None:
        return None
    if not isinstance(after, Metric):
        raise InvalidTypeError(
            f"after must be a metric that list() returned, not {type(after).__name__}"
        )
    return after.ordinal


def _check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    checked = values.check_int(limit, "limit")
    if checked < 0:
        raise InvalidArgumentError(f"limit must be at least 0, not {checked}")
    return checked


def columns_to_pandas(pandas: Any, columns: MetricColumns) -> pandas.DataFrame:
    """The DataFrame of ``to_pandas`` from columns of Python values (without pyarrow)."""
    return pandas.DataFrame(
        {
            "name": columns.name,
            "phase": columns.phase,
            "step": pandas.array(columns.step, dtype="Int64"),
            "value": columns.value,
            "timestamp": pandas.to_datetime(columns.timestamp, unit="s", utc=True),
        }
    )


_MODEL_FIELDS: frozenset[ModelField] = frozenset(get_args(ModelField))


def _check_clear(clear: object, given: dict[str, object]) -> frozenset[ModelField]:
    """The fields of a model that ``update(clear=...)`` names (a string names one)."""
    fields = (clear,) if isinstance(clear, str) else clear
    if not isinstance(fields, Iterable):
        raise InvalidTypeError(f"clear must be a list of field names, not {type(clear).__name__}")
    cleared: set[ModelField] = set()
    for field in fields:
        if not isinstance(field, str) or field not in _MODEL_FIELDS:
            known = ", ".join(repr(each) for each in sorted(_MODEL_FIELDS))
            raise InvalidArgumentError(f"clear names {field!r}; a model can clear {known}")
        if given.get(field) is not None:
            raise InvalidArgumentError(f"{field} is both given and cleared")
        cleared.add(field)
    return frozenset(cleared)


def require_extra(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise MLTrackerError(f"this needs {module}: pip install 'mltracker[{extra}]'") from None


def _check_id(value: object, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            raise InvalidArgumentError(f"{what} is not a UUID: {value!r}") from None
    raise InvalidTypeError(f"{what} must be a UUID, not {type(value).__name__}")


def _entity_id(entity: object, what: str) -> UUID:
    entity_id = getattr(entity, "id", None)
    if entity_id is None:
        raise InvalidTypeError(f"expected a {what} with an id, got {type(entity).__name__}")
    try:
        return _check_id(entity_id, f"{what} id")
    except InvalidArgumentError:
        raise NotFoundError(f"{what} {entity_id!r} not found") from None


from mltracker.run_views import ExperimentRunsView as ExperimentRunsView  # noqa: E402
from mltracker.run_views import RunsView  # noqa: E402 - it builds on the views above
