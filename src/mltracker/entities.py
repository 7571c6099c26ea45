"""The entities: immutable snapshots of what a store holds.

Their collections (``experiment.models``, ``model.metrics``, ...) are live views of the
store, not snapshots; ``Model.step`` is read from and written to the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from mltracker.ports.iterations import Iterations
    from mltracker.ports.metrics import Metrics
    from mltracker.ports.models import Models
    from mltracker.ports.modules import Modules

_LOW_BITS = 62
_SEQ_BITS = 40
_STAMP_BITS = _LOW_BITS - _SEQ_BITS
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_STAMP_MASK = (1 << _STAMP_BITS) - 1
_HIGH_MASK = ((1 << 64) - 1) << 64
_VERSION_MASK = 0xF << 76


def _stamp(timestamp: float) -> int:
    return int(timestamp * 1_000_000) & _STAMP_MASK


def metric_id(model_id: UUID, ordinal: int, timestamp: float) -> UUID:
    """The id of a model's metric point, made from where and when the store wrote it.

    The high half is the model's (with version 8); the low half carries the point's
    ordinal in the store and the microseconds of its timestamp, so that an ordinal a store
    reuses after a removal never gives the removed point's id to another. Ids need no
    column of their own and are built only when asked for.
    """
    high = (model_id.int & _HIGH_MASK & ~_VERSION_MASK) | (8 << 76)
    low = (0b10 << _LOW_BITS) | (_stamp(timestamp) << _SEQ_BITS) | (ordinal & _SEQ_MASK)
    return UUID(int=high | low)


def parse_metric_id(model_id: UUID, id: UUID) -> tuple[int, int] | None:
    """The ordinal and timestamp bits inside a model's metric id, or ``None`` if
    the id was not made by :func:`metric_id` for this model."""
    if metric_id(model_id, 0, 0.0).int != id.int & ~((1 << _LOW_BITS) - 1):
        return None
    return id.int & _SEQ_MASK, (id.int >> _SEQ_BITS) & _STAMP_MASK


def stamp_matches(timestamp: float, stamp: int) -> bool:
    """Whether a stored point's timestamp carries the bits found in an id."""
    return _stamp(timestamp) == stamp


class Metric:
    """One logged metric point (a snapshot).

    A point's identity is its model and its *ordinal*: a number the store assigned when it
    wrote the point, unique among the points of the model and increasing in the order they
    were written (a SQL store uses its row sequence; a store behind a server receives the
    server's). Two snapshots of the same stored point are equal; points of equal values
    logged twice are not. The ordinal belongs to the store: it is not part of the seed's
    API, and only stores build ``Metric`` objects.
    """

    __slots__ = (
        "_id",
        "_model_id",
        "_ordinal",
        "_run_id",
        "_superseded",
        "name",
        "phase",
        "step",
        "timestamp",
        "value",
    )

    name: str
    value: Any
    step: int | None
    phase: str | None
    timestamp: float

    def __init__(
        self,
        name: str,
        value: Any,
        step: int | None,
        phase: str | None,
        timestamp: float,
        ordinal: int,
        model_id: UUID,
        id: UUID | None = None,
        run_id: UUID | None = None,
        *,
        superseded: bool = False,
    ) -> None:
        self.name = name
        self.value = value
        self.step = step
        self.phase = phase
        self.timestamp = timestamp
        self._ordinal = ordinal
        self._model_id = model_id
        self._id = id
        self._run_id = run_id
        self._superseded = superseded

    @property
    def id(self) -> UUID:
        """The point's UUID: its own if it was imported with one, else made from its place
        in the store."""
        return (
            self._id
            if self._id is not None
            else metric_id(self._model_id, self._ordinal, self.timestamp)
        )

    @property
    def model_id(self) -> UUID:
        """The id of the model that owns the point."""
        return self._model_id

    @property
    def run_id(self) -> UUID | None:
        """The id of the run that logged the point; ``None`` for a point of no run (logged
        before runs, or read from a store older than them)."""
        return self._run_id

    @property
    def superseded(self) -> bool:
        """Whether a rewind of its run superseded it (the run was resumed from a checkpoint
        of an earlier step): only ``metrics.list(..., superseded=True)`` returns such
        points; ``False`` for every other."""
        return self._superseded

    @property
    def ordinal(self) -> int:
        """The store's number for the point (see the class docstring)."""
        return self._ordinal

    @property
    def explicit_id(self) -> UUID | None:
        """The id the point was imported with, if any (else ``id`` is made from the
        ordinal)."""
        return self._id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        return self._ordinal == other._ordinal and self._model_id == other._model_id

    def __hash__(self) -> int:
        return hash((self._model_id, self._ordinal))

    def __repr__(self) -> str:
        return (
            f"Metric(name={self.name!r}, value={self.value!r}, step={self.step!r}, "
            f"phase={self.phase!r})"
        )


@dataclass(frozen=True, slots=True)
class Module:
    """A named part of a model or an iteration, with its attributes (a snapshot)."""

    id: UUID
    name: str
    attributes: dict[str, Any] = field(hash=False)
    #: When it was logged (seconds since the epoch); ``None`` if stored before schema v3.
    created_at: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Iteration:
    """A step of a model's training that owns modules of its own."""

    id: UUID
    step: int
    modules: Modules = field(compare=False, repr=False)
    #: When it was created (seconds since the epoch); ``None`` if stored before schema v3.
    created_at: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named namespace of models (a snapshot; ``models`` and ``runs`` are live views)."""

    id: UUID
    name: str
    models: Models = field(compare=False, repr=False)
    #: When it was created, in seconds since the epoch.
    created_at: float = field(default=0.0, compare=False)
    #: The runs of its models (``mltracker.run_views.ExperimentRunsView``): ``list()``,
    #: ``search()``, ``to_pandas()``.
    runs: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Summary:
    """What a series of a run holds, kept by the store as points are written (see README
    "Sweeps"): ``count`` points, ``nan_count`` of them float NaN; the ``first`` and ``last``
    point logged (``last`` is what ``metrics.latest()`` reads) and their steps; ``min`` and
    ``max`` over the points that hold a number (floats but NaN, ints, bools as 0 and 1; not
    strings or other JSON values), as floats, with the step of the first point that holds
    each (``argmin``, ``argmax``); ``None`` where there is no such point or step."""

    run_id: UUID | None
    name: str
    phase: str | None
    count: int
    nan_count: int
    first: Any
    last: Any
    first_step: int | None
    last_step: int | None
    min: float | None
    max: float | None
    argmin: int | None
    argmax: int | None


class StepValue(int):
    """What ``model.step`` returns: an ``int`` that remembers the model it was read from.

    It is an ``int`` in every way (equality, hashing, ``repr``, JSON, pickling as a plain
    ``int``), with one addition: adding or subtracting an ``int`` gives a value that also
    knows how far it moved from the value read. Assigned back to ``step`` of the same model,
    such a value is written as an atomic increment of the stored step (``step = step + k``),
    so ``model.step += 1`` never loses a concurrent increment. That holds once per value
    read: a second assignment derived from the same read (``model.step = start + 2`` after
    ``model.step = start + 1``) is written as is, like any other ``int``.
    """

    _model_id: UUID
    _claim: list[bool]
    _delta: int | None

    def __new__(
        cls, value: int, model_id: UUID, claim: list[bool] | None = None, delta: int | None = None
    ) -> StepValue:
        self = super().__new__(cls, value)
        self._model_id = model_id
        self._claim = [True] if claim is None else claim
        self._delta = delta
        return self

    def _moved(self, delta: int) -> StepValue:
        moved = self._delta + delta if self._delta is not None else delta
        return StepValue(int(self) + delta, self._model_id, self._claim, moved)

    def __add__(self, other: object) -> Any:
        if type(other) is int:
            return self._moved(other)
        return int.__add__(self, other)  # type: ignore[operator]

    def __radd__(self, other: object) -> Any:
        if type(other) is int:
            return self._moved(other)
        return int.__radd__(self, other)  # type: ignore[operator]

    def __sub__(self, other: object) -> Any:
        if type(other) is int:
            return self._moved(-other)
        return int.__sub__(self, other)  # type: ignore[operator]

    def __reduce__(self) -> tuple[type[int], tuple[int]]:
        return int, (int(self),)

    def increment_for(self, model_id: UUID) -> int | None:
        """How far this value moved from the value read, if it is to be written as an
        increment of ``model_id``'s step (once: the claim is taken here); else ``None``."""
        delta = self._delta
        if delta is None or model_id != self._model_id or not _INT64_MIN <= delta <= _INT64_MAX:
            return None
        if not _INT64_MIN <= self <= _INT64_MAX:
            return None
        try:
            self._claim.pop()  # atomic: one assignment of the values of one read wins it
        except IndexError:
            return None
        return delta


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class StepAccess(Protocol):
    """How a :class:`Model` reads and writes its step in its store."""

    def read_step(self, model_id: UUID) -> int: ...
    def write_step(self, model_id: UUID, step: int) -> None: ...
    def add_step(self, model_id: UUID, delta: int) -> None: ...


class Model:
    """A model of an experiment: a snapshot of its hash, name and description; its
    collections are live views and ``step`` is read from and written to the store."""

    __slots__ = (
        "_created_at",
        "_description",
        "_hash",
        "_id",
        "_iterations",
        "_metrics",
        "_modules",
        "_name",
        "_runs",
        "_steps",
    )

    def __init__(
        self,
        id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        metrics: Metrics,
        modules: Modules,
        iterations: Iterations,
        steps: StepAccess,
        created_at: float = 0.0,
        runs: Any = None,
    ) -> None:
        self._created_at = created_at
        self._runs = runs
        self._id = id
        self._hash = hash
        self._name = name
        self._description = description
        self._metrics = metrics
        self._modules = modules
        self._iterations = iterations
        self._steps = steps

    @property
    def id(self) -> UUID:
        return self._id

    @property
    def hash(self) -> str:
        return self._hash

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def created_at(self) -> float:
        """When the model was created, in seconds since the epoch."""
        return self._created_at

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def modules(self) -> Modules:
        return self._modules

    @property
    def iterations(self) -> Iterations:
        return self._iterations

    @property
    def runs(self) -> Any:
        """The model's runs (``mltracker.run_views.RunsView``): ``current``, ``start()``,
        ``list()``, ``read()``."""
        return self._runs

    @property
    def step(self) -> int:
        return StepValue(self._steps.read_step(self._id), self._id)

    @step.setter
    def step(self, value: int) -> None:
        delta = value.increment_for(self._id) if type(value) is StepValue else None
        if delta is None:
            self._steps.write_step(self._id, value)
        else:
            self._steps.add_step(self._id, delta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return (self._id, self._hash, self._name, self._description) == (
            other._id,
            other._hash,
            other._name,
            other._description,
        )

    def __hash__(self) -> int:
        return hash(self._id)

    def __repr__(self) -> str:
        return f"Model(id={self._id!r}, hash={self._hash!r}, name={self._name!r})"
