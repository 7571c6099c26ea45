"""The writes of a training loop, as the metric writer queues, spools and replays them.

The writer keeps one ordered log per store (``mltracker.writer``): *entries*, each with an id
that makes its write idempotent, so that a retry after a lost answer, or a replay from a spool
after a crash, never applies twice. An entry is a batch of metric points or one operation of
a kind registered here:

====================  =========================================  =============================
kind                  what the training loop called              what applies it to the store
====================  =========================================  =============================
``points``            ``metrics.log`` (a batch of points)        ``write_points(batch_id)``
``experiment.get``    ``experiments.get_or_create(name)``        ``get_or_create_experiment``
``model.get``         ``experiment.models.get_or_create(hash)``  ``get_or_create_model``
``step.write``        ``model.step = value``                     ``write_step(op_id=)``
``step.add``          ``model.step += delta``                    ``add_step(op_id=)``
``module.log``        ``modules.log(name, attributes)``          ``log_module(id=)``
``modules.log_if``    ``modules.log_if_empty(modules)``,         ``list_modules``, then
                      ``modules.log_if_changed(name, ...)``      ``log_module(id=)``
``iteration.create``  ``iterations.create(step)``                ``create_iteration(id=)``
``run.start``         a run's start (``model.runs.start``, or    ``start_run``
                      the first write of a process's run)
``run.resume``        ``model.runs.start(resume=..., rewind=)``  ``resume_run``
``run.beat``          the writer's heartbeat of a live run       ``heartbeat_run``
``run.end``           a run's end (``with``, ``finish``, exit)   ``end_run``
====================  =========================================  =============================

A kind is a subclass of :class:`Operation` registered with :func:`kind`: its fields, encoded
for the spool (:meth:`Operation.arguments`) and decoded back (:meth:`Operation.from_arguments`),
and the one function that applies it to a store (:meth:`Operation.apply`). Points keep a form
of their own (a queued point is a plain tuple, the hot path of ``metrics.log``), with the
same three parts here: :func:`encode_points`, :meth:`Decoder.points` and :func:`write_points`.
:func:`encode_entry` and :class:`Decoder` are what the spool calls; the writer applies an
operation with its ``apply`` and points with :func:`write_points`. A new kind (runs, say) is a
subclass registered here and a method of the views that submits it to the writer.

Ids. An experiment or a model got or created while its store was away is given an id made by
the client, and so are modules, iterations and step writes, always. When the store turns out
to hold that experiment or model already (by its name, by its hash), its own id stands: the
writer's :class:`IdMap` learns it when the operation is applied, and every later entry, and
every call made through the handles, uses it.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from mltracker import values
from mltracker.errors import InvalidArgumentError, NotFoundError
from mltracker.ports.store import ModuleOwner, Point, Rewind, RunStart, RunStatus, Series, Store


class UnreadableEntry(Exception):
    """A spooled entry that cannot be decoded; the message says why."""


class IdMap:
    """The ids the store gave to experiments and models that the client had named with ids
    of its own (made while the store was away, for one the store held already).

    Written by the thread that applies entries (under the writer's flush lock), read by any
    thread: each read or write is one dictionary operation.
    """

    __slots__ = ("_ids", "_series")

    def __init__(self) -> None:
        self._ids: dict[UUID, UUID] = {}
        # The series of mapped models, by the series object the points carry.
        self._series: dict[Series, Series] = {}

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __call__(self, id: UUID) -> UUID:
        """The store's id of what the client named ``id`` (``id`` itself if not mapped)."""
        return self._ids.get(id, id)

    def learn(self, made: UUID, stored: UUID) -> None:
        """The store holds what the client named ``made`` as ``stored``."""
        if made != stored:
            self._ids[made] = stored
            self._series = {}

    def points(self, points: list[Point]) -> list[Point]:
        """``points`` with their models' ids mapped (the same list when none is)."""
        ids = self._ids
        if not ids:
            return points
        cache = self._series
        mapped: list[Point] = []
        changed = False
        for point in points:
            series = point[0]
            target = cache.get(series)
            if target is None:
                model_id = ids.get(series.model_id)
                target = (
                    series
                    if model_id is None
                    else Series(model_id, series.name, series.phase, series.run_id)
                )
                cache[series] = target
            if target is not series:
                changed = True
                point = (target, *point[1:])  # noqa: PLW2901 - the mapped point
            mapped.append(point)
        return mapped if changed else points


class Operation(ABC):
    """One write of a training loop besides metric points: what it writes, the id that makes
    it idempotent, and how it is applied to a store.

    The writer notes on it what became of it: ``done`` once applied (or refused), with
    ``result`` (what the store answered) or ``error``; ``awaited`` while the caller waits for
    it (an error is then raised to the caller instead of being reported later).
    """

    __slots__ = ("awaited", "done", "error", "id", "result")

    #: The kind's name in spool files; set by :func:`kind`.
    kind: ClassVar[str] = ""

    def __init__(self, id: UUID) -> None:
        self.id = id
        self.done = False
        self.awaited = False
        self.result: Any = None
        self.error: BaseException | None = None

    @abstractmethod
    def apply(self, store: Store, ids: IdMap) -> Any:
        """Apply to ``store`` (the ids it refers to mapped by ``ids``), idempotently by
        :attr:`id`; return what the store answered.

        Raises:
            MLTrackerError: The store's error (see ``mltracker.ports.store``).
        """

    @abstractmethod
    def arguments(self, ids: IdMap) -> dict[str, Any]:
        """The fields to spool, JSON-ready, the ids they refer to mapped by ``ids`` (the id of
        what it creates is kept: a replay learns the mapping again)."""

    @classmethod
    @abstractmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        """The operation that :meth:`arguments` encoded.

        Raises:
            UnreadableEntry: A field is missing or of the wrong type.
        """

    def models_needed(self) -> set[UUID]:
        """The models it writes to that it does not create: the store must hold them."""
        return set()

    def models_created(self) -> set[UUID]:
        """The models it creates (by the client's id)."""
        return set()

    @abstractmethod
    def describe(self) -> str:
        """What it writes, for a message."""

    def __repr__(self) -> str:
        return f"<{self.kind} {self.id}: {self.describe()}>"


#: The name of the points' kind (a spool line of points has ``"points"`` instead of ``"op"``).
POINTS = "points"

#: An entry of the log: a batch of points, or one operation.
Entry = list[Point] | Operation

#: Every kind of operation, by its name in spool files.
KINDS: dict[str, type[Operation]] = {}

_Kind = TypeVar("_Kind", bound=type[Operation])


def kind(name: str) -> Callable[[_Kind], _Kind]:
    """Register a subclass of :class:`Operation` as the kind ``name``."""

    def register(cls: _Kind) -> _Kind:
        if name in KINDS or name == POINTS:
            raise ValueError(f"the operation kind {name!r} is registered already")
        cls.kind = name
        KINDS[name] = cls
        return cls

    return register


# The kinds --------------------------------------------------------------------------------


@kind("experiment.get")
class GetExperiment(Operation):
    """``experiments.get_or_create(name)``; :attr:`id` is the experiment's id if it is new."""

    __slots__ = ("name",)

    def __init__(self, id: UUID, name: str) -> None:
        super().__init__(id)
        self.name = name

    def apply(self, store: Store, ids: IdMap) -> Any:
        row = store.get_or_create_experiment(self.name, id=self.id)
        ids.learn(self.id, row.id)
        return row

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        return cls(id, _name(arguments, "name"))

    def describe(self) -> str:
        return f"experiment {self.name!r}"


@kind("model.get")
class GetModel(Operation):
    """``experiment.models.get_or_create(hash, ...)``; :attr:`id` is the model's id if it is
    new."""

    __slots__ = ("description", "experiment_id", "hash", "name")

    def __init__(
        self,
        id: UUID,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
    ) -> None:
        super().__init__(id)
        self.experiment_id = experiment_id
        self.hash = hash
        self.name = name
        self.description = description

    def apply(self, store: Store, ids: IdMap) -> Any:
        row = store.get_or_create_model(
            ids(self.experiment_id), self.hash, self.name, self.description, id=self.id
        )
        ids.learn(self.id, row.id)
        return row

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {
            "experiment": ids(self.experiment_id).hex,
            "hash": self.hash,
            "name": self.name,
            "description": self.description,
        }

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        description = arguments.get("description")
        if description is not None and type(description) is not str:
            raise UnreadableEntry("the description must be text or null")
        return cls(
            id,
            _uuid(arguments, "experiment"),
            _name(arguments, "hash"),
            _name(arguments, "name", optional=True),
            description,
        )

    def models_created(self) -> set[UUID]:
        return {self.id}

    def describe(self) -> str:
        return f"model {self.hash!r} of experiment {self.experiment_id}"


@kind("step.write")
class WriteStep(Operation):
    """``model.step = value``; :attr:`id` is the write's operation id."""

    __slots__ = ("model_id", "step")

    def __init__(self, id: UUID, model_id: UUID, step: int) -> None:
        super().__init__(id)
        self.model_id = model_id
        self.step = step

    def apply(self, store: Store, ids: IdMap) -> Any:
        store.write_step(ids(self.model_id), self.step, op_id=self.id)
        return self.step

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {"model": ids(self.model_id).hex, "step": self.step}

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        return cls(id, _uuid(arguments, "model"), _int(arguments, "step"))

    def models_needed(self) -> set[UUID]:
        return {self.model_id}

    def describe(self) -> str:
        return f"step = {self.step} of model {self.model_id}"


@kind("step.add")
class AddStep(Operation):
    """``model.step += delta``; :attr:`id` is the increment's operation id."""

    __slots__ = ("delta", "model_id")

    def __init__(self, id: UUID, model_id: UUID, delta: int) -> None:
        super().__init__(id)
        self.model_id = model_id
        self.delta = delta

    def apply(self, store: Store, ids: IdMap) -> Any:
        return store.add_step(ids(self.model_id), self.delta, op_id=self.id)

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {"model": ids(self.model_id).hex, "delta": self.delta}

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        return cls(id, _uuid(arguments, "model"), _int(arguments, "delta"))

    def models_needed(self) -> set[UUID]:
        return {self.model_id}

    def describe(self) -> str:
        return f"step += {self.delta} of model {self.model_id}"


@kind("module.log")
class LogModule(Operation):
    """``modules.log(name, attributes)`` of a model or an iteration; :attr:`id` is the
    module's id."""

    __slots__ = ("attributes_json", "name", "owner")

    def __init__(self, id: UUID, owner: ModuleOwner, name: str, attributes_json: str) -> None:
        super().__init__(id)
        self.owner = owner
        self.name = name
        self.attributes_json = attributes_json

    def apply(self, store: Store, ids: IdMap) -> Any:
        owner = ModuleOwner(self.owner.kind, ids(self.owner.id))
        return store.log_module(owner, self.name, self.attributes_json, id=self.id)

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {
            "owner": self.owner.kind,
            "owner_id": ids(self.owner.id).hex,
            "name": self.name,
            "attributes": self.attributes_json,
        }

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        attributes = arguments.get("attributes")
        if type(attributes) is not str:
            raise UnreadableEntry("the attributes must be JSON text")
        return cls(id, _owner(arguments), _name(arguments, "name"), attributes)

    def models_needed(self) -> set[UUID]:
        return {self.owner.id} if self.owner.kind == "model" else set()

    def describe(self) -> str:
        return f"module {self.name!r} of {self.owner.kind} {self.owner.id}"


#: :class:`LogModulesIf`: log the modules unless the owner holds any module (but theirs).
IF_EMPTY = "empty"
#: :class:`LogModulesIf`: log each module unless the last module of its name that the owner
#: holds (but those it logs) has the same attributes.
IF_CHANGED = "changed"
_CONDITIONS = frozenset({IF_EMPTY, IF_CHANGED})


@kind("modules.log_if")
class LogModulesIf(Operation):
    """``modules.log_if_empty(modules)`` (``condition`` :data:`IF_EMPTY`) or
    ``modules.log_if_changed(name, attributes)`` (:data:`IF_CHANGED`) of a model or an
    iteration: modules logged, in order, unless the store holds what makes them needless.

    The condition is decided when the operation is applied, in its place among the writes
    of its process (after those made before it), so it holds for a write queued while the
    store was away as for one written at once. Module ``index`` gets the id
    ``uuid5(id, str(index))``: an application that is repeated (a retry after a lost answer,
    a replay) finds the modules it logged by their ids, and logs only those still missing.
    """

    __slots__ = ("condition", "modules", "owner")

    def __init__(
        self,
        id: UUID,
        owner: ModuleOwner,
        condition: str,
        modules: Sequence[tuple[str, str]],
    ) -> None:
        super().__init__(id)
        if condition not in _CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}")
        self.owner = owner
        self.condition = condition
        #: ``(name, attributes as JSON text)`` of each module, in order.
        self.modules = list(modules)

    def module_ids(self) -> list[UUID]:
        """The id of each module, in order."""
        return [uuid.uuid5(self.id, str(index)) for index in range(len(self.modules))]

    def apply(self, store: Store, ids: IdMap) -> Any:
        """The modules logged (those of an earlier application of this one included): none
        if the condition found them needless."""
        owner = ModuleOwner(self.owner.kind, ids(self.owner.id))
        module_ids = self.module_ids()
        mine = set(module_ids)
        held = store.list_modules(owner)
        if self.condition == IF_EMPTY and any(module.id not in mine for module in held):
            return []
        by_id = {module.id: module for module in held if module.id in mine}
        last = {module.name: module for module in held if module.id not in mine}
        logged = []
        for module_id, (name, attributes_json) in zip(module_ids, self.modules, strict=True):
            module = by_id.get(module_id)
            if module is None:
                earlier = last.get(name)
                if (
                    self.condition == IF_CHANGED
                    and earlier is not None
                    and earlier.attributes == values.loads_json(attributes_json)
                ):
                    continue
                module = store.log_module(owner, name, attributes_json, id=module_id)
            last[name] = module
            logged.append(module)
        return logged

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {
            "owner": self.owner.kind,
            "owner_id": ids(self.owner.id).hex,
            "condition": self.condition,
            "modules": [[name, attributes] for name, attributes in self.modules],
        }

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        condition = arguments.get("condition")
        if condition not in _CONDITIONS:
            raise UnreadableEntry(f"a condition is 'empty' or 'changed', not {condition!r}")
        modules = arguments.get("modules")
        if not isinstance(modules, list):
            raise UnreadableEntry("modules must be a list")
        decoded = []
        for index, module in enumerate(modules):
            if type(module) is not list or len(module) != 2 or type(module[1]) is not str:
                raise UnreadableEntry(f"module {index} is not [name, attributes as JSON text]")
            decoded.append((_checked_name(module[0], f"module {index}'s name"), module[1]))
        return cls(id, _owner(arguments), condition, decoded)

    def models_needed(self) -> set[UUID]:
        return {self.owner.id} if self.owner.kind == "model" else set()

    def describe(self) -> str:
        names = ", ".join(repr(name) for name, _ in self.modules[:3])
        more = f" and {len(self.modules) - 3} more" if len(self.modules) > 3 else ""
        return f"modules {names}{more} of {self.owner.kind} {self.owner.id}, if {self.condition}"


@kind("iteration.create")
class CreateIteration(Operation):
    """``iterations.create(step)``, in a run or in none; :attr:`id` is the iteration's id."""

    __slots__ = ("model_id", "run_id", "step")

    def __init__(self, id: UUID, model_id: UUID, step: int, run_id: UUID | None = None) -> None:
        super().__init__(id)
        self.model_id = model_id
        self.step = step
        self.run_id = run_id

    def apply(self, store: Store, ids: IdMap) -> Any:
        return store.create_iteration(ids(self.model_id), self.step, id=self.id, run_id=self.run_id)

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        run = None if self.run_id is None else self.run_id.hex
        return {"model": ids(self.model_id).hex, "step": self.step, "run": run}

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        run = None if arguments.get("run") is None else _uuid(arguments, "run")
        return cls(id, _uuid(arguments, "model"), _int(arguments, "step"), run)

    def models_needed(self) -> set[UUID]:
        return {self.model_id}

    def describe(self) -> str:
        return f"iteration at step {self.step} of model {self.model_id}"


@kind("run.start")
class StartRun(Operation):
    """A run's start; :attr:`id` is the run's id (made by the client)."""

    __slots__ = ("start",)

    def __init__(self, start: RunStart) -> None:
        super().__init__(start.id)
        self.start = start

    def apply(self, store: Store, ids: IdMap) -> Any:
        start = self.start
        model_id = ids(start.model_id)
        if model_id != start.model_id:
            start = dataclasses.replace(start, model_id=model_id)
        try:
            return store.start_run(start)
        except NotFoundError:
            if self.awaited:
                raise
            # The model was deleted: its points, if any, say so (and are dropped); the start
            # of a run of nothing is not worth a report of its own.
            return None

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        start = self.start
        return {
            "model": ids(start.model_id).hex,
            "name": start.name,
            "params": start.params_json,
            "context": start.context_json,
            "started_at": float(start.started_at).hex(),
            "timeout": None if start.timeout is None else float(start.timeout).hex(),
        }

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        params, context = arguments.get("params"), arguments.get("context")
        if type(params) is not str or type(context) is not str:
            raise UnreadableEntry("params and context must be JSON text")
        return cls(
            RunStart(
                id,
                _uuid(arguments, "model"),
                _name(arguments, "name", optional=True),
                params,
                context,
                _float(arguments, "started_at"),
                _float(arguments, "timeout", optional=True),
            )
        )

    def models_needed(self) -> set[UUID]:
        return {self.start.model_id}

    def describe(self) -> str:
        return f"the start of run {self.id} of model {self.start.model_id}"


@kind("run.resume")
class ResumeRun(Operation):
    """``model.runs.start(resume=run)``: the run ``running`` again; with ``rewind`` (a step),
    its points from that step on, logged before, superseded (with ``since``, only those
    logged after that time). :attr:`id` makes the rewind apply once: a replay supersedes
    nothing that was logged after the first application."""

    __slots__ = ("at", "rewind", "run_id", "since", "timeout")

    def __init__(
        self,
        id: UUID,
        run_id: UUID,
        at: float,
        timeout: float | None,
        rewind: int | None = None,
        since: float | None = None,
    ) -> None:
        super().__init__(id)
        self.run_id = run_id
        self.at = at
        self.timeout = timeout
        self.rewind = rewind
        self.since = since

    def apply(self, store: Store, ids: IdMap) -> Any:
        rewind = None if self.rewind is None else Rewind(self.id, self.rewind, self.since)
        return store.resume_run(self.run_id, self.at, self.timeout, rewind)

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        timeout = None if self.timeout is None else float(self.timeout).hex()
        found: dict[str, Any] = {
            "run": self.run_id.hex,
            "at": float(self.at).hex(),
            "timeout": timeout,
        }
        if self.rewind is not None:  # a spool of a version before rewinds reads the others
            found["rewind"] = self.rewind
            found["since"] = None if self.since is None else float(self.since).hex()
        return found

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        rewind = None
        if arguments.get("rewind") is not None:
            rewind = _int(arguments, "rewind")
            if rewind < 0:
                raise UnreadableEntry(f"rewind must be a step of at least 0, not {rewind}")
        return cls(
            id,
            _uuid(arguments, "run"),
            _float(arguments, "at"),
            _float(arguments, "timeout", optional=True),
            rewind,
            _float(arguments, "since", optional=True),
        )

    def describe(self) -> str:
        rewind = "" if self.rewind is None else f" from step {self.rewind}"
        return f"the resumption of run {self.run_id}{rewind}"


@kind("run.beat")
class BeatRun(Operation):
    """A live run's heartbeat, made at :attr:`at` (a replay keeps when it was made, so a run
    whose heartbeats arrive late is not taken for crashed)."""

    __slots__ = ("at", "run_id")

    def __init__(self, id: UUID, run_id: UUID, at: float) -> None:
        super().__init__(id)
        self.run_id = run_id
        self.at = at

    def apply(self, store: Store, ids: IdMap) -> Any:
        store.heartbeat_run(self.run_id, self.at)

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {"run": self.run_id.hex, "at": float(self.at).hex()}

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        return cls(id, _uuid(arguments, "run"), _float(arguments, "at"))

    def describe(self) -> str:
        return f"a heartbeat of run {self.run_id}"


@kind("run.end")
class EndRun(Operation):
    """A run's end: its status (``finished``, ``failed``, ``killed``), how it ended, when."""

    __slots__ = ("at", "exit", "run_id", "status")

    def __init__(
        self, id: UUID, run_id: UUID, status: RunStatus, exit: str | None, at: float
    ) -> None:
        super().__init__(id)
        self.run_id = run_id
        self.status = status
        self.exit = exit
        self.at = at

    def apply(self, store: Store, ids: IdMap) -> Any:
        try:
            store.end_run(self.run_id, self.status, self.exit, self.at)
        except NotFoundError:  # it went with its model: there is nothing left to end
            return None

    def arguments(self, ids: IdMap) -> dict[str, Any]:
        return {
            "run": self.run_id.hex,
            "status": self.status,
            "exit": self.exit,
            "at": float(self.at).hex(),
        }

    @classmethod
    def from_arguments(cls, id: UUID, arguments: Mapping[str, Any]) -> Operation:
        status = arguments.get("status")
        if status not in ("finished", "failed", "killed"):
            raise UnreadableEntry(f"a run ends finished, failed or killed, not {status!r}")
        exit = arguments.get("exit")
        if exit is not None and type(exit) is not str:
            raise UnreadableEntry("exit must be text or null")
        return cls(id, _uuid(arguments, "run"), status, exit, _float(arguments, "at"))

    def describe(self) -> str:
        return f"the end of run {self.run_id} ({self.status})"


# Points -----------------------------------------------------------------------------------

_VALUE_KINDS = frozenset({values.FLOAT, values.INT, values.BOOL, values.JSON})


def encode_points(points: Sequence[Point]) -> list[list[Any]]:
    """Points as spool rows: ``[model id, name, phase, step, kind, value, extra,
    timestamp, run id]``, floats as ``float.hex`` text so that every value is exact (a row of
    8 fields, of a version before runs, is a point of no run)."""
    return [
        [
            series.model_id.hex,
            series.name,
            series.phase,
            step,
            kind,
            None if value is None else float(value).hex(),
            extra,
            float(timestamp).hex(),
            None if series.run_id is None else series.run_id.hex,
        ]
        for series, step, kind, value, extra, timestamp in points
    ]


def write_points(
    store: Store,
    points: list[Point],
    batch_id: UUID,
    ids: IdMap,
    part_of: Sequence[UUID] = (),
) -> None:
    """Apply a batch of points: one ``write_points``, idempotent by ``batch_id`` (and by
    ``part_of``, the batches it was split from)."""
    store.write_points(ids.points(points), batch_id, part_of=part_of)


# Entries ----------------------------------------------------------------------------------


def encode_entry(entry: Entry, ids: IdMap) -> dict[str, Any]:
    """An entry's spool record, without its id: ``{"points": rows}`` or ``{"op": kind,
    "args": fields}``; the ids it refers to mapped by ``ids``."""
    if isinstance(entry, Operation):
        return {"op": entry.kind, "args": entry.arguments(ids)}
    return {POINTS: encode_points(ids.points(entry))}


def entry_size(entry: Entry) -> tuple[int, int]:
    """How many points and operations an entry holds."""
    if isinstance(entry, Operation):
        return 0, 1
    return len(entry), 0


def models_of(entries: Sequence[Entry]) -> set[UUID]:
    """The models that ``entries`` write to and do not create themselves: the store they
    belong to holds them."""
    needed: set[UUID] = set()
    created: set[UUID] = set()
    for entry in entries:
        if isinstance(entry, Operation):
            needed |= entry.models_needed() - created
            created |= entry.models_created()
        else:
            needed.update(series.model_id for series, *_ in entry if series.model_id not in created)
    return needed


class Decoder:
    """Decodes the records of one spool file (its series objects are shared by its points)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str | None, str | None], Series] = {}

    def entry(self, id: UUID, record: Mapping[str, Any]) -> Entry:
        """The entry of id ``id`` in a spool record (see :func:`encode_entry`).

        Raises:
            UnreadableEntry: The record is not an entry of a known kind, or holds a field
                of the wrong type.
        """
        rows = record.get(POINTS)
        if rows is not None:
            if not isinstance(rows, list):
                raise UnreadableEntry('"points" must be a list')
            return self.points(rows)
        name = record.get("op")
        if name is None:
            raise UnreadableEntry('not an entry: it needs "points" (a list) or "op" (a kind)')
        cls = KINDS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise UnreadableEntry(f"unknown operation kind {name!r}")
        arguments = record.get("args")
        if not isinstance(arguments, dict):
            raise UnreadableEntry(f'{name}: "args" must be an object')
        try:
            return cls.from_arguments(id, arguments)
        except UnreadableEntry as error:
            raise UnreadableEntry(f"{name}: {error}") from None

    def points(self, rows: list[Any]) -> list[Point]:
        points: list[Point] = []
        append = points.append
        for index, row in enumerate(rows):
            try:
                append(self._point(row))
            except UnreadableEntry as error:
                raise UnreadableEntry(f"point {index}: {error}") from None
        return points

    def _point(self, row: Any) -> Point:
        if type(row) is not list or len(row) not in (8, 9):
            raise UnreadableEntry("not a list of 9 fields (or 8, without a run)")
        model_id, name, phase, step, kind, value, extra, timestamp = row[:8]
        run_id = row[8] if len(row) == 9 else None
        if type(model_id) is not str or type(name) is not str:
            raise UnreadableEntry("the model id and the name must be text")
        if phase is not None and type(phase) is not str:
            raise UnreadableEntry("the phase must be text or null")
        if run_id is not None and type(run_id) is not str:
            raise UnreadableEntry("the run id must be text or null")
        series = self._known.get((model_id, name, phase, run_id))
        if series is None:
            try:
                checked = Series(
                    UUID(hex=model_id),
                    values.check_name(name, "metric name"),
                    values.check_optional_name(phase, "metric phase"),
                    None if run_id is None else UUID(hex=run_id),
                )
            except (ValueError, InvalidArgumentError) as error:
                raise UnreadableEntry(
                    str(error) or f"model id {model_id[:40]!r} or run id is not a UUID"
                ) from None
            series = self._known[(model_id, name, phase, run_id)] = checked
        if step is not None and (
            type(step) is not int or not values.INT64_MIN <= step <= values.INT64_MAX
        ):
            raise UnreadableEntry(f"step {step!r} is not an int64 or null")
        if type(kind) is not int or kind not in _VALUE_KINDS:
            raise UnreadableEntry(f"kind {kind!r} is not 0-3")
        if extra is not None and type(extra) is not str:
            raise UnreadableEntry("extra must be text or null")
        if kind == values.JSON and extra is None:
            raise UnreadableEntry("a JSON value needs its text in extra")
        try:
            number = None if value is None else float.fromhex(value)
            seconds = float.fromhex(timestamp)
        except (TypeError, ValueError, OverflowError):
            raise UnreadableEntry("a value or timestamp is not float.hex text") from None
        if not math.isfinite(seconds):
            raise UnreadableEntry("the timestamp is not finite")
        return series, step, kind, number, extra, seconds


def new_id() -> UUID:
    """A fresh id for an operation (random: unique across processes and hosts)."""
    return uuid.uuid4()


# Field checks of decoding -----------------------------------------------------------------


def _uuid(arguments: Mapping[str, Any], key: str) -> UUID:
    text = arguments.get(key)
    if type(text) is not str:
        raise UnreadableEntry(f"{key} must be a UUID's hex text")
    try:
        return UUID(hex=text)
    except ValueError:
        raise UnreadableEntry(f"{key} {text[:40]!r} is not a UUID") from None


def _owner(arguments: Mapping[str, Any]) -> ModuleOwner:
    owner = arguments.get("owner")
    if owner not in ("model", "iteration", "run"):
        raise UnreadableEntry(f"a module's owner is a model, an iteration or a run, not {owner!r}")
    return ModuleOwner(owner, _uuid(arguments, "owner_id"))


def _int(arguments: Mapping[str, Any], key: str) -> int:
    number = arguments.get(key)
    if type(number) is not int or not values.INT64_MIN <= number <= values.INT64_MAX:
        raise UnreadableEntry(f"{key} must be an int64, not {number!r}")
    return number


def _float(arguments: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    text = arguments.get(key)
    if text is None and optional:
        return None
    try:
        number = float.fromhex(text)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise UnreadableEntry(f"{key} must be float.hex text, not {text!r}") from None
    if not math.isfinite(number):
        raise UnreadableEntry(f"{key} must be finite")
    return number


def _name(arguments: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    text = arguments.get(key)
    if text is None and optional:
        return None
    return _checked_name(text, key)


def _checked_name(text: object, what: str) -> str:
    try:
        return values.check_name(text, what)
    except InvalidArgumentError as error:
        raise UnreadableEntry(str(error)) from None
