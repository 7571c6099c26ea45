"""Writing runs read from another tracker into a store, streamed and idempotent.

The importers of MLflow and TensorBoard read their source a run at a time and hand each
run here (:class:`RunImport`): its experiment, its model (by hash), the run itself and its
metric series. Points go to the store in large batches (:data:`BATCH_POINTS`) through
:meth:`~mltracker.ports.store.Store.write_points`, the path the metric writer uses, so
memory stays constant whatever the length of the history.

Idempotency. An imported run's id is made from the source's id of the run
(:func:`external_run_id`), which the run's ``context`` keeps too
(``{"imported_from": {"source": ..., "run_id": ...}}``). Before a run's points are written,
the store is asked how many points each of the run's series holds; that many points of
the source's series (in the source's order) are skipped, the rest are written. Each batch
is one transaction, so a store always holds a prefix of each series, and an import that
stopped half-way (an error, a kill) is finished by importing again. A run's status and
end come last, once its points are in: until then it reads ``running`` (with no
heartbeat timeout), which says that the import is not complete.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from mltracker import values
from mltracker.errors import AlreadyExistsError, InvalidArgumentError
from mltracker.ports.store import (
    MetricFilter,
    ModelRow,
    Point,
    RunStart,
    RunStatus,
    Series,
    Store,
)

#: Points per batch written to the store (one transaction each).
BATCH_POINTS = 50_000

#: The namespace of the ids of imported runs.
_NAMESPACE = uuid.UUID("5b0f3c2e-6a43-4d0e-9a55-0c1f4a8e7d21")


def external_run_id(source: str, key: str) -> UUID:
    """The id an imported run gets in MLTracker: the same for the same run of the same kind
    of source, every time."""
    return uuid.uuid5(_NAMESPACE, f"{source}\x00{key}")


def params_hash(params: Mapping[str, Any]) -> str:
    """A model hash for the runs that share these parameter values: the first 16 hex digits
    of the SHA-256 of their canonical JSON."""
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def params_name(params: Mapping[str, Any]) -> str:
    """The name of a model grouped by parameters: ``a=1,b=x``."""
    return ",".join(f"{key}={value}" for key, value in params.items())


class SourceFormatError(InvalidArgumentError):
    """A file or store of the source cannot be read as what it should be; the message
    names it."""


class SeriesKey(NamedTuple):
    """A metric series of an imported run: its name and phase in MLTracker."""

    name: str
    phase: str | None


#: Points of a source series: ``(step, value, timestamp)``, in the source's order.
SourcePoints = Iterable[tuple[int | None, Any, float]]


@dataclass
class RunImport:
    """One run of the source, as MLTracker will hold it."""

    experiment: str
    model_hash: str
    model_name: str | None
    source: str
    source_id: str
    name: str | None
    status: RunStatus | None  # None: still running in the source
    started_at: float
    ended_at: float | None
    params: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> UUID:
        return external_run_id(self.source, self.source_id)


@dataclass
class ImportCounts:
    """What an import did: runs seen, runs new to the store, and metric points written
    (those already there are counted in ``points_skipped``)."""

    runs: int = 0
    runs_added: int = 0
    points: int = 0
    points_skipped: int = 0
    experiments: set[str] = field(default_factory=set)
    models: set[tuple[str, str]] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {
            "experiments": len(self.experiments),
            "models": len(self.models),
            "runs": self.runs,
            "runs_added": self.runs_added,
            "points": self.points,
            "points_skipped": self.points_skipped,
        }


#: Called as an import goes: ``progress(run_name_or_none, points_written_since_last_call)``.
#: ``run_name`` is given once when a run begins (with 0 points).
Progress = Callable[[str | None, int], None]


def stored_counts(store: Store, model_id: UUID, run_id: UUID) -> dict[SeriesKey, int]:
    """How many points each series of a run holds in the store.

    A SQL store counts them in one aggregate query over its index; another store (a
    tracking server) reads the run's points, a page at a time, and counts them.
    """
    counted = _sql_counts(store, run_id)
    if counted is not None:
        return counted
    found: dict[SeriesKey, int] = {}
    after: int | None = None
    while True:
        page = store.list_metrics(model_id, MetricFilter(run=run_id, after=after, limit=50_000))
        for point in page:
            key = SeriesKey(point.name, point.phase)
            found[key] = found.get(key, 0) + 1
        if len(page) < 50_000:
            return found
        after = page[-1].ordinal


def _sql_counts(store: Store, run_id: UUID) -> dict[SeriesKey, int] | None:
    try:
        from mltracker.backends.sql.store import SqlStore
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if not isinstance(store, SqlStore):
        return None
    import sqlalchemy as sa

    from mltracker.backends.sql import engine as engines
    from mltracker.backends.sql.metrics import phase_out
    from mltracker.backends.sql.schema import metrics, runs, series

    points = sa.select(sa.func.count()).where(metrics.c.series_pk == series.c.pk).scalar_subquery()
    query = (
        sa.select(series.c.name, series.c.phase, points)
        .select_from(series.join(runs, runs.c.pk == series.c.run_pk))
        .where(runs.c.id == run_id)
    )

    def count(connection: Any) -> dict[SeriesKey, int]:
        if not sa.inspect(connection).has_table(runs.name):
            return {}
        return {
            SeriesKey(name, phase_out(phase)): int(number)
            for name, phase, number in connection.execute(query)
        }

    return engines.run(store.engine, count, write=False)


class RunWriter:
    """Writes imported runs into a store (see the module's docstring)."""

    def __init__(
        self, store: Store, progress: Progress | None = None, batch_points: int = BATCH_POINTS
    ) -> None:
        self.store = store
        self.progress = progress
        self.batch_points = batch_points
        self.counts = ImportCounts()
        self._experiments: dict[str, UUID] = {}
        self._models: dict[tuple[str, str], ModelRow] = {}

    def _model(self, run: RunImport) -> ModelRow:
        key = (run.experiment, run.model_hash)
        found = self._models.get(key)
        if found is None:
            experiment_id = self._experiments.get(run.experiment)
            if experiment_id is None:
                experiment_id = self.store.get_or_create_experiment(run.experiment).id
                self._experiments[run.experiment] = experiment_id
            found = self.store.get_or_create_model(
                experiment_id, run.model_hash, run.model_name, None
            )
            self._models[key] = found
        self.counts.experiments.add(run.experiment)
        self.counts.models.add(key)
        return found

    def begin(self, run: RunImport) -> RunHandle:
        """Start (or find again) the run in the store, and learn what it holds already.

        Raises:
            AlreadyExistsError: The run was imported before into another model (another
                ``--group-by-param``, say).
        """
        model = self._model(run)
        run_id = run.run_id
        existing = self.store.read_run(run_id)
        if existing is not None and existing.model_id != model.id:
            raise AlreadyExistsError(
                f"run {run.source_id} of {run.source} was imported before into another model "
                f"(run {run_id}): import it with the same grouping, or delete that model first"
            )
        context = {
            **run.context,
            "imported_from": {"source": run.source, "run_id": run.source_id},
        }
        start = RunStart(
            run_id,
            model.id,
            run.name,
            values.encode_attributes(run.params, "params"),
            values.encode_attributes(context, "run context"),
            run.started_at,
            None,
        )
        self.store.start_run(start)
        self.counts.runs += 1
        if existing is None:
            self.counts.runs_added += 1
        stored = stored_counts(self.store, model.id, run_id) if existing is not None else {}
        if self.progress is not None:
            self.progress(run.name or run.source_id, 0)
        return RunHandle(
            self, run, model.id, stored, None if existing is None else existing.status, start
        )

    def write(self, points: list[Point], segments: list[tuple[SeriesKey, int, int]]) -> None:
        """Write one batch, with an id made from what it holds (a retry is written once)."""
        if not points:
            return
        described = "|".join(f"{k.name}\x00{k.phase}\x00{s}\x00{n}" for k, s, n in segments)
        run_id = points[0][0].run_id
        batch_id = uuid.uuid5(run_id or _NAMESPACE, described)
        self.store.write_points(points, batch_id)
        self.counts.points += len(points)
        if self.progress is not None:
            self.progress(None, len(points))


class RunHandle:
    """One run being imported: :meth:`series` for each metric series, then :meth:`end`."""

    def __init__(
        self,
        writer: RunWriter,
        run: RunImport,
        model_id: UUID,
        stored: dict[SeriesKey, int],
        stored_status: str | None,
        start: RunStart,
    ) -> None:
        self.writer = writer
        self.start = start
        self.run = run
        self.model_id = model_id
        self.stored = stored
        self.stored_status = stored_status
        # Per series: [its Series, points seen at the source, points the store holds].
        self._states: dict[SeriesKey, list[Any]] = {}
        self._last_key: SeriesKey | None = None
        self._points: list[Point] = []
        self._segments: list[tuple[SeriesKey, int, int]] = []

    def _state(self, key: SeriesKey) -> list[Any]:
        state = self._states.get(key)
        if state is None:
            series = Series(self.model_id, key.name, key.phase, self.run.run_id)
            state = self._states[key] = [series, 0, self.stored.get(key, 0)]
        return state

    def point(self, key: SeriesKey, step: int | None, value: Any, timestamp: float) -> None:
        """Import the next point of a series (skipped if the store holds it already)."""
        state = self._states.get(key)
        if state is None:
            state = self._state(key)
        seen = state[1]
        state[1] = seen + 1
        if seen < state[2]:
            self.writer.counts.points_skipped += 1
            return
        kind, number, text = values.encode_value(value)
        points = self._points
        points.append((state[0], step, kind, number, text, timestamp))
        segments = self._segments
        if self._last_key is key or (segments and segments[-1][0] == key):
            last = segments[-1]
            segments[-1] = (key, last[1], last[2] + 1)
        else:
            segments.append((key, seen, 1))
        self._last_key = key
        if len(points) >= self.writer.batch_points:
            self.flush()

    def flush(self) -> None:
        self.writer.write(self._points, self._segments)
        self._points = []
        self._segments = []
        self._last_key = None

    def end(self) -> None:
        """Write the points still held, then the run's status and end as the source has
        them (a run still running in the source stays ``running``)."""
        self.flush()
        run = self.run
        store = self.writer.store
        if run.status is None:
            if self.stored_status not in (None, "running"):
                store.resume_run(run.run_id, time.time(), None)
            return
        ended = run.ended_at if run.ended_at is not None else run.started_at
        store.end_run(run.run_id, run.status, None, ended)
