"""The store: the one interface every backend (SQL, HTTP) implements.

Views (``mltracker.views``) give the user the collections of the seed's API; they translate
each call into one call of a :class:`Store`. The port speaks in rows (plain dataclasses of
this module) and entities (``mltracker.entities``), never in anything a backend keeps for
itself, so that a store can live in this process or behind a tracking server.

Addressing: experiments, iterations, modules and metric points by their UUID; a model by its
UUID where it is known, and by its experiment and hash where the seed's API names it so
(``read_model``, ``update_model``). A metric point's identity is its model and the ordinal
the store gave it (see :class:`~mltracker.entities.Metric`).

Writes a training loop makes can be repeated safely, so that a retry after a lost answer or
a replay never applies twice: ``write_points`` with a batch id, ``log_module`` and
``create_iteration`` with the id of what they create, ``add_step`` and ``write_step`` with an
operation id, ``resume_run`` with a rewind by the rewind's id, all chosen by the caller;
``get_or_create_*`` by nature, and they take the id of what they create, so that a client
can name an experiment or a model before the store has seen it (``mltracker.operations``
replays such writes, in order, once the store is back).

Arguments reach a store already validated (``mltracker.values``); a store raises only errors
of ``mltracker.errors``. Besides what each method lists, any method may raise
:class:`~mltracker.errors.BackendUnavailableError` (the store cannot be reached, or stayed
locked), :class:`~mltracker.errors.BackendError` (another failure of the backend),
:class:`~mltracker.errors.SchemaVersionError`, :class:`~mltracker.errors.ForeignStoreError`
and, for writes, :class:`~mltracker.errors.ReadOnlyStoreError`. Reads of something that does
not exist return ``None`` or an empty list; ``clear_*`` of an owner that does not exist does
nothing.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from mltracker.entities import Metric, Module, Summary
from mltracker.ports.metrics import NoPhase

if TYPE_CHECKING:
    import pyarrow

#: A module's owner: a model, an iteration, or a run (a model's module logged in that run).
OwnerKind = Literal["model", "iteration", "run"]

#: The smallest point budget of :meth:`Store.metric_buckets`: one bucket's five points.
MIN_BUDGET = 5

#: How a store id that is not final begins: a store that has none yet (it does not exist, or
#: was made by a version without ids) answers such an id until its first write gives it one.
PROVISIONAL_ID_PREFIX = "uri-"


def is_provisional(store_id: str) -> bool:
    """Whether ``store_id`` (of :meth:`Store.store_id`) may change at the store's first write."""
    return store_id.startswith(PROVISIONAL_ID_PREFIX)


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A batch of metric points a store wrote: its id, when (seconds since the epoch), and
    who wrote it (the name of a tracking server's token; ``None`` when it was written
    without one, or before stores kept it)."""

    id: UUID
    written_at: float
    writer: str | None


@dataclass(frozen=True, slots=True)
class ExperimentRow:
    id: UUID
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ModelRow:
    """A model as stored; ``step`` is its step when the row was read."""

    id: UUID
    experiment_id: UUID
    hash: str
    name: str | None
    description: str | None
    created_at: float
    step: int


@dataclass(frozen=True, slots=True)
class IterationRow:
    id: UUID
    model_id: UUID
    step: int
    created_at: float | None
    run_id: UUID | None = None


#: The statuses a store keeps; ``crashed`` is judged when a run is read (see ``mltracker.runs``).
RunStatus = Literal["running", "finished", "failed", "killed"]


@dataclass(frozen=True, slots=True)
class RunStart:
    """What starts a run of a model: its id (made by the client), name, parameters and
    context (JSON objects as text), when, and the heartbeat timeout after which a run that
    stays ``running`` reads as crashed (``None``: never)."""

    id: UUID
    model_id: UUID
    name: str | None
    params_json: str
    context_json: str
    started_at: float
    timeout: float | None


@dataclass(frozen=True, slots=True)
class Rewind:
    """Where a resumed run goes on from (``model.runs.start(resume=..., rewind=step)``): its
    points at ``step`` and after, logged before the resumption, are superseded (kept, marked,
    left out of reads unless asked for); with ``since``, only those logged (their
    timestamps) after that time. ``id`` is the resumption's operation id: a rewind of an id
    the store applied already supersedes nothing more (a retry, a replay)."""

    id: UUID
    step: int
    since: float | None = None


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run as stored: ``status`` as last written (see ``mltracker.runs.status`` for what
    a reader shows), ``params`` and ``context`` decoded."""

    id: UUID
    model_id: UUID
    name: str | None
    status: str
    started_at: float
    ended_at: float | None
    heartbeat_at: float | None
    timeout: float | None
    params: dict[str, Any]
    context: dict[str, Any]
    exit: str | None


#: The fields of a model that ``update_model`` can clear (set to ``None``).
ModelField = Literal["name", "description"]


@dataclass(frozen=True, slots=True)
class ModuleOwner:
    """What a module belongs to: a model, or an iteration of a model."""

    kind: OwnerKind
    id: UUID


class Series:
    """One metric series of a model: the points of one name and phase, in one run (or in
    none, ``run_id`` ``None``).

    The buffered writer queues points against a ``Series``; ``handle`` is the backend's
    own cache of where the series lives (a primary key for SQL), ``None`` until resolved.
    A store that has not seen the run yet starts it bare (``running``, no name) when its
    first points arrive, and the run's start fills it in.
    """

    __slots__ = ("handle", "model_id", "name", "phase", "run_id")

    def __init__(
        self, model_id: UUID, name: str, phase: str | None, run_id: UUID | None = None
    ) -> None:
        self.model_id = model_id
        self.name = name
        self.phase = phase
        self.run_id = run_id
        self.handle: Any = None

    def __repr__(self) -> str:
        run = "" if self.run_id is None else f", run={self.run_id}"
        return f"Series({self.model_id}, {self.name!r}, {self.phase!r}{run})"


#: A queued metric point: the series, then step, value kind, float value, exact text and
#: timestamp, as ``mltracker.values.encode_value`` made them.
Point = tuple[Series, int | None, int, float | None, str | None, float]


@dataclass(frozen=True, slots=True)
class MetricFilter:
    """Which points of a model :meth:`Store.list_metrics` returns.

    ``phase``: ``None`` for any phase, :data:`~mltracker.ports.metrics.NO_PHASE` for the
    points without one. ``start_step`` and ``stop_step``: the half-open step range
    ``[start_step, stop_step)``. ``after``: only the points logged after the point of this
    ordinal (see :class:`~mltracker.entities.Metric`): a cursor to page on, or to ask for
    what was logged since the last read. ``limit``: at most this many points, the first in
    logged order.
    """

    name: str | None = None
    phase: str | NoPhase | None = None
    start_step: int | None = None
    stop_step: int | None = None
    after: int | None = None
    limit: int | None = None
    run: UUID | None = None
    #: Also the points that rewinds of resumed runs superseded (``Metric.superseded``), in
    #: their place in logged order; only :meth:`Store.list_metrics` reads them.
    superseded: bool = False


@dataclass(frozen=True, slots=True)
class MetricColumns:
    """Points as parallel columns, in logged order: for plotting and analysis."""

    name: list[str]
    phase: list[str | None]
    step: list[int | None]
    value: list[Any]
    timestamp: list[float]


# A whole tree of entities with their ids, for imports and copies between stores. A point,
# a model's own module and an iteration name the run they belong to (``run``, the id of one
# of their model's ``runs``; ``None``: no run); an iteration's modules belong to its run.
@dataclass(frozen=True, slots=True)
class MetricRecord:
    name: str
    value: Any
    step: int | None
    phase: str | None
    timestamp: float
    id: UUID | None = None
    run: UUID | None = None


@dataclass(frozen=True, slots=True)
class ModuleRecord:
    id: UUID
    name: str
    attributes: dict[str, Any]
    run: UUID | None = None


@dataclass(frozen=True, slots=True)
class IterationRecord:
    id: UUID
    step: int
    modules: list[ModuleRecord]
    run: UUID | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run of a model, as :class:`RunRow` has it (its model is the record's)."""

    id: UUID
    name: str | None
    status: RunStatus
    started_at: float
    ended_at: float | None = None
    heartbeat_at: float | None = None
    timeout: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    exit: str | None = None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    id: UUID
    hash: str
    name: str | None
    description: str | None
    step: int | None  # None: unknown (a new model starts at 0, a stored one keeps its step)
    metrics: list[MetricRecord]
    modules: list[ModuleRecord]
    iterations: list[IterationRecord]
    runs: list[RunRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    id: UUID
    name: str
    models: list[ModelRecord]


@dataclass
class RestoreReport:
    """What :meth:`Store.restore` did, per kind of entity: ``added`` (new ids), ``skipped``
    (there already, as recorded) and ``updated`` (there already, changed or moved to match)."""

    added: dict[str, int]
    skipped: dict[str, int]
    updated: dict[str, int] = field(default_factory=dict)


class Store(ABC):
    """A backend. One instance serves one URI in one process and is shared by its threads."""

    uri: str

    # Experiments
    @abstractmethod
    def create_experiment(self, name: str, *, id: UUID | None = None) -> ExperimentRow:
        """Create an experiment, of id ``id`` if given (else the store makes one).

        Raises:
            AlreadyExistsError: An experiment of this name, or of this id, exists.
        """

    @abstractmethod
    def get_or_create_experiment(self, name: str, *, id: UUID | None = None) -> ExperimentRow:
        """The experiment of that name, created if absent; safe against concurrent callers
        and to repeat (a retry or a replay returns the same experiment, never a second).

        ``id`` is the id to create it with, chosen by the caller (a client that named the
        experiment before the store was reachable); an experiment found by its name keeps
        its own id, which the caller then uses instead. When no experiment has the name but
        one has this ``id`` (created by an earlier call of this id, and renamed since), that
        one is returned.
        """

    @abstractmethod
    def read_experiment(self, name: str) -> ExperimentRow | None:
        """The experiment of that name, or ``None``."""

    @abstractmethod
    def update_experiment(self, experiment_id: UUID, name: str) -> None:
        """Rename an experiment.

        Raises:
            NotFoundError: No experiment has this id.
            AlreadyExistsError: Another experiment has this name.
        """

    @abstractmethod
    def delete_experiment(self, experiment_id: UUID) -> None:
        """Delete an experiment and everything it owns, in one transaction.

        Raises:
            NotFoundError: No experiment has this id.
        """

    @abstractmethod
    def list_experiments(self) -> builtins.list[ExperimentRow]:
        """Every experiment, in the order they were created."""

    # Models
    @abstractmethod
    def create_model(
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        id: UUID | None = None,
    ) -> ModelRow:
        """Create a model (its step starts at 0), of id ``id`` if given (else the store
        makes one).

        Raises:
            NotFoundError: The experiment does not exist.
            AlreadyExistsError: A model of this hash exists in the experiment, or a model
                of this id exists.
        """

    @abstractmethod
    def get_or_create_model(
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        id: UUID | None = None,
    ) -> ModelRow:
        """The model of that hash, created (with this name and description) if absent;
        safe against concurrent callers and to repeat (a retry or a replay returns the same
        model, never a second; a model found keeps its name and description).

        ``id`` is the id to create it with, chosen by the caller (a client that named the
        model before the store was reachable); a model found by its hash keeps its own id,
        which the caller then uses instead.

        Raises:
            NotFoundError: The experiment does not exist.
            AlreadyExistsError: The model is absent and another model has this ``id``
                (nothing changes).
        """

    @abstractmethod
    def read_model(self, experiment_id: UUID, hash: str) -> ModelRow | None:
        """The model of that hash in the experiment, or ``None``."""

    @abstractmethod
    def update_model(
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        clear: frozenset[ModelField] = frozenset(),
    ) -> None:
        """Set the fields given (not ``None``) and set those in ``clear`` to ``None``.

        Raises:
            NotFoundError: No model has this hash in the experiment.
        """

    @abstractmethod
    def delete_model(self, experiment_id: UUID, model_id: UUID) -> None:
        """Delete a model and everything it owns, in one transaction.

        Raises:
            NotFoundError: No model of this experiment has this id.
        """

    @abstractmethod
    def list_models(self, experiment_id: UUID) -> builtins.list[ModelRow]:
        """The models of the experiment, in the order they were created, each with its step:
        a constant number of queries however many models there are."""

    @abstractmethod
    def clear_models(self, experiment_id: UUID) -> None:
        """Delete every model of the experiment, in one transaction."""

    @abstractmethod
    def read_step(self, model_id: UUID) -> int:
        """The model's step.

        Raises:
            NotFoundError: The model does not exist.
        """

    @abstractmethod
    def write_step(self, model_id: UUID, step: int, *, op_id: UUID | None = None) -> None:
        """Set the model's step.

        Setting the same step again changes nothing, but a replay of an old write after
        later increments would undo them; with an ``op_id`` (a UUID the caller makes, one per
        write it means) a repeat changes nothing: the store notes the id in the same
        transaction as the write, as for :meth:`add_step`.

        Raises:
            NotFoundError: The model does not exist (also on a replay, if it was deleted
                since).
            AlreadyExistsError: ``op_id`` was applied to another model (nothing changes).
        """

    @abstractmethod
    def add_step(self, model_id: UUID, delta: int, *, op_id: UUID | None = None) -> int:
        """Add ``delta`` to the model's step atomically (``step = step + delta``, so that
        concurrent increments all count); return the new step.

        An increment is not idempotent by nature; with an ``op_id`` (a UUID the caller makes,
        one per increment it means, kept across the retries of that increment) it is: the
        store notes the id and the step it made, in the same transaction as the increment,
        and a second call with that id (a retry after a lost answer, a replay) adds nothing
        and returns the step the first one made. Ids are remembered for at least as long as
        the ids of metric batches (``write_points``). Without ``op_id`` each call adds.
        Increments of other ids apply in the order the store receives them.

        Raises:
            NotFoundError: The model does not exist (also on a replay, if it was deleted
                since).
            InvalidArgumentError: The sum is outside the int64 range (nothing changes).
            AlreadyExistsError: ``op_id`` was applied to another model (nothing changes).
        """

    # Metrics
    @abstractmethod
    def write_points(
        self,
        points: Sequence[Point],
        batch_id: UUID | None = None,
        *,
        writer: str | None = None,
        part_of: Sequence[UUID] = (),
    ) -> None:
        """Store a batch of points in one transaction: all of them or none.

        With a ``batch_id`` the write is idempotent: a batch of an id the store has written
        already is skipped, so retrying after a lost acknowledgement never duplicates.
        ``part_of``: the ids of the batches this one was split from (the writer halves a
        batch the store refuses as too large, and the refusal may follow an attempt whose
        answer was lost): if the store has written one of them, it holds these points too,
        and the batch is skipped.
        Within a series, points are stored (and given ordinals) in the batch's order.
        ``writer``: who wrote it (a tracking server gives the name of the request's token),
        kept with the batch's id by stores that keep them (see :meth:`list_batches`); a
        tracking server's client sends none (the server knows who it is).

        Raises:
            NotFoundError: Points whose model no longer exists were left out; it is raised
                after the others are stored.
        """

    @abstractmethod
    def list_metrics(self, model_id: UUID, where: MetricFilter) -> builtins.list[Metric]:
        """The model's points that match ``where``, in logged order, each naming the run that
        logged it (``Metric.run_id``; ``None`` for a point of no run)."""

    @abstractmethod
    def metric_columns(self, model_id: UUID, where: MetricFilter) -> MetricColumns:
        """What :meth:`list_metrics` returns, as columns."""

    @abstractmethod
    def metric_table(self, model_id: UUID, where: MetricFilter) -> pyarrow.Table:
        """What :meth:`list_metrics` returns, as an Arrow table of the columns of
        ``mltracker.columnar.store_schema()`` (see that module), read without a Python
        object per point where the backend can (needs ``pip install 'mltracker[arrow]'``).

        Raises:
            MLTrackerError: pyarrow (or the backend's Arrow driver) is not installed; the
                message says how to install it.
        """

    @abstractmethod
    def metric_buckets(
        self, model_id: UUID, where: MetricFilter, budget: int
    ) -> builtins.list[Metric]:
        """The points of :meth:`list_metrics` thinned to at most ``budget`` per series (name,
        phase and run), in logged order, computed by the database: for a chart.

        A series of at most ``budget`` points comes back whole. A longer one is cut into
        buckets of equal width over its step range (over its logged order if some of its
        points have no step): ``budget // 4`` buckets, each keeping its first and last
        points and the first points of its lowest and its highest value, so that a spike
        of a single point survives at every budget. In a series that holds NaN, there are
        ``budget // 5`` buckets and each also keeps its first NaN; infinities are a
        bucket's lowest or highest values. So non-finite values always stay visible.
        Values that are not numbers (JSON) are kept only as a bucket's first or last point.
        ``where.limit`` is not used.

        Raises:
            InvalidArgumentError: ``budget`` is less than 5 (:data:`MIN_BUDGET`).
        """

    @abstractmethod
    def latest_metrics(
        self, model_id: UUID, *, run_id: UUID | None = None, by_run: bool = False
    ) -> builtins.list[Metric]:
        """The last point logged of each series (name and phase) of the model, whichever run
        logged it; with ``run_id``, of that run's series; with ``by_run``, of each run's
        series (and of those of no run), each point naming its run (``Metric.run_id``): what
        a page that draws a line per run polls."""

    @abstractmethod
    def latest_metrics_of_models(
        self, model_ids: Sequence[UUID], *, by_run: bool = False
    ) -> dict[UUID, builtins.list[Metric]]:
        """:meth:`latest_metrics` of many models at once, in a constant number of queries
        (one per few thousand models): every id given maps to its model's latest points, in
        logged order (an empty list for a model without points or that does not exist)."""

    @abstractmethod
    def remove_metric(self, model_id: UUID, metric_id: UUID) -> None:
        """Remove one point of the model, by its id.

        Raises:
            NotFoundError: The model has no point of this id.
        """

    @abstractmethod
    def clear_metrics(self, model_id: UUID) -> None:
        """Remove every point of the model."""

    # Modules
    @abstractmethod
    def log_module(
        self, owner: ModuleOwner, name: str, attributes_json: str, *, id: UUID | None = None
    ) -> Module:
        """Add a module (its attributes already encoded as a JSON object) to a model, an
        iteration, or a run (a module of the run's model that belongs to the run); it comes
        after the owner's modules logged before. A model's modules are all those of the
        model, its runs' among them.

        ``id`` is the module's id, chosen by the caller (a UUID made for this call, kept
        across its retries); without it the store makes one. The call is idempotent: when
        the owner holds a module of this id already, with this name and these attributes (a
        retry after a lost answer, a replay), nothing is added and that module is returned
        as stored (with its ``created_at``), in its place.

        Raises:
            NotFoundError: The owner does not exist.
            AlreadyExistsError: A module of this ``id`` exists with another owner, name or
                attributes (nothing changes).
        """

    @abstractmethod
    def list_modules(self, owner: ModuleOwner) -> builtins.list[Module]:
        """The owner's modules, in the order they were logged."""

    @abstractmethod
    def remove_module(self, owner: ModuleOwner, module_id: UUID) -> None:
        """Remove one module of the owner.

        Raises:
            NotFoundError: The owner has no module of this id.
        """

    @abstractmethod
    def clear_modules(self, owner: ModuleOwner) -> None:
        """Remove every module of the owner."""

    # Iterations
    @abstractmethod
    def create_iteration(
        self, model_id: UUID, step: int, *, id: UUID | None = None, run_id: UUID | None = None
    ) -> IterationRow:
        """Add an iteration at ``step`` (a model may hold several of one step), after the
        model's iterations created before.

        ``id`` is the iteration's id, chosen by the caller (a UUID made for this call, kept
        across its retries); without it the store makes one. The call is idempotent: when
        the model holds an iteration of this id at this step already (a retry after a lost
        answer, a replay), nothing is added and that iteration is returned as stored.

        Raises:
            NotFoundError: The model does not exist.
            AlreadyExistsError: An iteration of this ``id`` exists in another model or at
                another step (nothing changes).
        """

    @abstractmethod
    def get_iteration(self, model_id: UUID, step: int) -> IterationRow | None:
        """The model's first iteration of that step, or ``None``."""

    @abstractmethod
    def list_iterations(
        self, model_id: UUID, *, run_id: UUID | None = None
    ) -> builtins.list[IterationRow]:
        """The model's iterations (with ``run_id``, those of that run), in the order they
        were created."""

    @abstractmethod
    def remove_iteration(self, model_id: UUID, iteration_id: UUID) -> None:
        """Remove one iteration of the model, with its modules.

        Raises:
            NotFoundError: The model has no iteration of this id.
        """

    @abstractmethod
    def clear_iterations(self, model_id: UUID) -> None:
        """Remove every iteration of the model, with their modules."""

    # Runs
    @abstractmethod
    def start_run(self, start: RunStart) -> RunRow:
        """Start a run of a model, ``running``; idempotent by ``start.id``: a run of that id
        (a retry, a replay, or the bare run its first points made) gets the start's name,
        parameters, context and timeout, and keeps its status.

        Raises:
            NotFoundError: The model does not exist.
            AlreadyExistsError: A run of this id belongs to another model.
        """

    @abstractmethod
    def resume_run(
        self, run_id: UUID, at: float, timeout: float | None, rewind: Rewind | None = None
    ) -> RunRow:
        """Make an ended run ``running`` again (its end and exit cleared, its heartbeat ``at``);
        with ``rewind``, in the same transaction, supersede its points from ``rewind.step`` on
        (see :class:`Rewind`; once per ``rewind.id``).

        Raises:
            NotFoundError: There is no such run.
        """

    @abstractmethod
    def heartbeat_run(self, run_id: UUID, at: float) -> None:
        """Note that the run's process was alive at ``at`` (a later heartbeat is kept; a
        missing run is ignored: its heartbeat is not worth an error)."""

    @abstractmethod
    def end_run(self, run_id: UUID, status: RunStatus, exit: str | None, at: float) -> None:
        """End a run with a status (``finished``, ``failed``, ``killed``; ``running`` is not
        an end) and how it ended.

        Raises:
            NotFoundError: There is no such run.
        """

    @abstractmethod
    def read_run(self, run_id: UUID) -> RunRow | None:
        """A run, or ``None``."""

    @abstractmethod
    def list_runs(self, model_id: UUID) -> builtins.list[RunRow]:
        """The model's runs, oldest first."""

    @abstractmethod
    def list_experiment_runs(self, experiment_id: UUID) -> builtins.list[RunRow]:
        """Every run of the experiment's models, oldest first."""

    @abstractmethod
    def search_runs(
        self,
        experiment_id: UUID | None,
        where: str | None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunRow]:
        """The runs of the experiment's models (``None``: of every experiment) that ``where``
        selects, in the order of ``order_by`` (then oldest first), at most ``limit``: the
        grammar of ``mltracker.search``, answered by one query.

        Raises:
            InvalidArgumentError: The condition or order does not parse (the message names the
                position), or the limit is negative.
        """

    @abstractmethod
    def read_summaries(self, run_ids: Sequence[UUID]) -> builtins.list[Summary]:
        """The summary of each series of these runs that holds points (see
        ``mltracker.entities.Summary``), by run in the order given, then by series; a run
        that is not there has none."""

    # Bulk
    @abstractmethod
    def restore(self, experiments: Sequence[ExperimentRecord]) -> RestoreReport:
        """Make the store hold a tree of entities, keeping their ids, in one transaction.

        What is missing is added. What exists already (same id) is made to match the record,
        never duplicated, so restoring twice changes nothing the second time: names, a
        model's hash, description and step are set from the record; a model's metric
        points, modules and iterations that are in the record come in the record's order
        (the first that differs from the stored order, its run included, and those after
        it, are written again, keeping their ids and timestamps). A model's runs come
        first: a run that exists takes the record's name, status, parameters, context, exit
        and timeout, and keeps its times as points keep theirs: its start, its end (the
        record's if it has none; none if the record's run is ``running``) and the later of
        the two heartbeats.
        Entities the records do not mention are left alone, where they are: restore never
        deletes.

        Raises:
            AlreadyExistsError: An experiment of a record's name (or a model of a record's
                hash) exists with another id, or a run of a record's id belongs to another
                model. Nothing is added.
            NotFoundError: A point, module or iteration names a run that is neither in its
                model's record nor stored with its model. Nothing is added.
        """

    def list_batches(
        self, *, writer: str | None = None, limit: int = 100
    ) -> builtins.list[BatchRow]:
        """The metric batches written lately (those kept for idempotent writes: a week),
        newest first, at most ``limit``; with ``writer``, only that writer's. By default (a
        store that keeps none), none."""
        return []

    def reads_arrow(self) -> bool:
        """Whether :meth:`metric_table` can run here (its dependencies are installed). By
        default, no."""
        return False

    # Identity
    def store_id(self) -> str:
        """The store's identity: stable for the life of the store (it survives restarts of
        a server, reconnections and new processes), and different for two stores, even two
        that answer at the same URI one after the other (a server replaced by another one on
        the same port, a SQLite file replaced by another). Spooled metric points belong to
        the store of this id, not to a URI.

        A store that has no id yet (it is created at its first write) answers an id that
        begins with :data:`PROVISIONAL_ID_PREFIX` until then.

        By default, the store's URI (for a store built by hand).

        Raises:
            BackendUnavailableError: The store cannot be reached.
        """
        return self.uri

    def identity(self) -> tuple[str, int | None]:
        """The store's id (:meth:`store_id`) and the schema version of its data (``None``
        when it has none, or none this interface can see), in one read. By default, the id
        and ``None``."""
        return self.store_id(), None

    # Lifecycle
    def prepare(self) -> None:  # noqa: B027 - optional: most stores have nothing to do
        """Make the store ready to be written now, creating or upgrading it, instead of at
        the first write (a server does this before it listens). By default, nothing.

        Raises:
            SchemaVersionError: The store was written by a newer MLTracker.
            ForeignStoreError: The database holds tables of another application.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store is not used afterwards."""
