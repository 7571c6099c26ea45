"""Restoring records into a SQL store: one transaction that makes the store match them.

This is what :meth:`SqlStore.restore` runs (for an import, see ``mltracker.importers``): it
adds what is missing and updates what is there, keeping ids, and counts what it did in a
``RestoreReport``. Series are found or created by ``metrics.series_key``, as logging does:
one per model, name, phase and run.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltracker.backends.sql import runs as sql_runs
from mltracker.backends.sql import summaries
from mltracker.backends.sql.metrics import POINT_COLUMNS, phase_out, series_key
from mltracker.backends.sql.rewinds import keeps_superseded
from mltracker.backends.sql.schema import (
    experiments,
    iterations,
    metrics,
    models,
    modules,
    runs,
    series,
    superseded_metrics,
)
from mltracker.errors import AlreadyExistsError, NotFoundError
from mltracker.ports.store import (
    ExperimentRecord,
    MetricRecord,
    ModelRecord,
    ModuleRecord,
    RestoreReport,
    RunRecord,
)
from mltracker.values import INT, JSON, dumps_json, encode_value, loads_json

#: The runs of the model being restored: a run's id -> its key.
RunKeys = dict[UUID, int]


def restore_records(connection: Connection, records: Sequence[ExperimentRecord]) -> RestoreReport:
    """Make the store match ``records``, in the connection's transaction (see
    :class:`_Restorer`), and say what was added, updated and skipped."""
    restorer = _Restorer(connection)
    for record in records:
        restorer.experiment(record)
    return restorer.report


class _Restorer:
    """One restore transaction: makes the store match the records.

    What is missing is added; what is there (same id) takes the record's values. A model's
    runs are restored first (a run there keeps its times: see ``Store.restore``). The metric
    points, modules and iterations of a record are compared with the stored ones of the same
    ids, in order (their run included): those up to the first difference stay as they are
    (``skipped``); from there on they are written again in the record's order (``updated``
    when the id was there, else ``added``), keeping their ids and, for points, their stored
    timestamps. An iteration written again takes its modules along. Rows the records do not
    name are never touched, so points logged into an imported model stay where they are.
    """

    _CHUNK = 500

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.report = RestoreReport(added=Counter(), skipped=Counter(), updated=Counter())

    def experiment(self, record: ExperimentRecord) -> None:
        row = self.connection.execute(
            sa.select(experiments.c.pk, experiments.c.name).where(experiments.c.id == record.id)
        ).first()
        if row is None or row.name != record.name:
            clash = self.connection.execute(
                sa.select(experiments.c.id).where(
                    experiments.c.name == record.name, experiments.c.id != record.id
                )
            ).scalar()
            if clash is not None:
                raise AlreadyExistsError(
                    f"an experiment named {record.name!r} exists with another id ({clash}); "
                    "rename one of them first"
                )
        if row is None:
            pk = self.connection.execute(
                sa.insert(experiments)
                .values(id=record.id, name=record.name, created_at=time.time())
                .returning(experiments.c.pk)
            ).scalar_one()
            self.report.added["experiments"] += 1
        else:
            pk = row.pk
            if row.name != record.name:
                self.connection.execute(
                    sa.update(experiments).where(experiments.c.pk == pk).values(name=record.name)
                )
                self.report.updated["experiments"] += 1
            else:
                self.report.skipped["experiments"] += 1
        for model in record.models:
            self.model(pk, model)

    def model(self, experiment_pk: int, record: ModelRecord) -> None:
        columns = (models.c.experiment_pk, models.c.hash, models.c.name, models.c.description)
        row = self.connection.execute(
            sa.select(models.c.pk, models.c.step, *columns).where(models.c.id == record.id)
        ).first()
        wanted: dict[str, Any] = {
            "experiment_pk": experiment_pk,
            "hash": record.hash,
            "name": record.name,
            "description": record.description,
        }
        if record.step is not None:
            wanted["step"] = record.step
        if row is None or (row.experiment_pk, row.hash) != (experiment_pk, record.hash):
            clash = self.connection.execute(
                sa.select(models.c.id).where(
                    models.c.experiment_pk == experiment_pk,
                    models.c.hash == record.hash,
                    models.c.id != record.id,
                )
            ).scalar()
            if clash is not None:
                raise AlreadyExistsError(
                    f"a model with hash {record.hash!r} exists with another id ({clash})"
                )
        if row is None:
            wanted.setdefault("step", 0)
            pk = self.connection.execute(
                sa.insert(models)
                .values(id=record.id, created_at=time.time(), **wanted)
                .returning(models.c.pk)
            ).scalar_one()
            self.report.added["models"] += 1
        else:
            pk = row.pk
            changes = {key: value for key, value in wanted.items() if getattr(row, key) != value}
            if changes:
                self.connection.execute(sa.update(models).where(models.c.pk == pk).values(changes))
                self.report.updated["models"] += 1
            else:
                self.report.skipped["models"] += 1
        keys = self.runs(pk, record)
        self.metrics(pk, record, keys)
        self.modules(record.modules, modules.c.model_pk, pk, keys, record.id)
        self.iterations(pk, record, keys)

    def runs(self, model_pk: int, model: ModelRecord) -> RunKeys:
        """Restore the model's runs; return the keys of its runs (all of them, as stored)."""
        for record in model.runs:
            row = self.connection.execute(
                sa.select(runs.c.pk, runs.c.model_pk, *sql_runs.FIELDS).where(
                    runs.c.id == record.id
                )
            ).first()
            wanted: dict[str, Any] = {
                "name": record.name,
                "status": record.status,
                "timeout": record.timeout,
                "params": dumps_json(record.params, "run params"),
                "context": dumps_json(record.context, "run context"),
                "exit": record.exit,
            }
            if row is None:
                self.connection.execute(
                    sa.insert(runs).values(
                        id=record.id,
                        model_pk=model_pk,
                        started_at=record.started_at,
                        ended_at=record.ended_at,
                        heartbeat_at=record.heartbeat_at,
                        **wanted,
                    )
                )
                self.report.added["runs"] += 1
                continue
            if row.model_pk != model_pk:
                raise AlreadyExistsError(
                    f"a run of id {record.id} exists already, of another model"
                )
            wanted.update(_run_times(row, record))
            stored = {
                **row._asdict(),
                "params": _canonical(row.params),
                "context": _canonical(row.context),
            }
            changes = {key: value for key, value in wanted.items() if stored[key] != value}
            if changes:
                self.connection.execute(sa.update(runs).where(runs.c.pk == row.pk).values(changes))
                self.report.updated["runs"] += 1
            else:
                self.report.skipped["runs"] += 1
        stored_runs = self.connection.execute(
            sa.select(runs.c.id, runs.c.pk).where(runs.c.model_pk == model_pk)
        )
        return {run_id: pk for run_id, pk in stored_runs}

    @staticmethod
    def _run_key(keys: RunKeys, run_id: UUID | None, model_id: UUID) -> int | None:
        """The key of a run of the model that a point, module or iteration names.

        Raises:
            NotFoundError: The model has no such run.
        """
        if run_id is None:
            return None
        key = keys.get(run_id)
        if key is None:
            raise NotFoundError(f"run {run_id} of model {model_id} not found")
        return key

    @staticmethod
    def _encode(value: Any) -> tuple[int, float | None, str | None]:
        """A point's stored columns; unlike ``encode_value``, also for what the original
        accepted: ``None`` (kept as the JSON value null) and ints beyond int64 (exact)."""
        if value is None:
            return JSON, None, "null"
        if type(value) is int and not -(2**63) <= value < 2**63:
            try:
                approximate: float | None = float(value)
            except OverflowError:
                approximate = None
            return INT, approximate, str(value)
        return encode_value(value)

    def metrics(self, model_pk: int, model: ModelRecord, run_keys: RunKeys) -> None:
        model_id, records = model.id, model.metrics
        names = {
            row.pk: (row.name, phase_out(row.phase), row.run_pk)
            for row in self.connection.execute(
                sa.select(series.c.pk, series.c.name, series.c.phase, series.c.run_pk).where(
                    series.c.model_pk == model_pk
                )
            )
        }
        keys = {key: pk for pk, key in names.items()}
        records = self._without_superseded(names, records)
        record_runs = [self._run_key(run_keys, record.run, model_id) for record in records]
        wanted = {record.id for record in records if record.id is not None}
        stored: list[Any] = []
        if names and wanted:
            query = POINT_COLUMNS.where(
                metrics.c.series_pk.in_(list(names)), metrics.c.id.is_not(None)
            ).order_by(metrics.c.seq)
            stored = [row for row in self.connection.execute(query) if row.id in wanted]
        encoded = [self._encode(record.value) for record in records]
        same = 0
        for row, record, columns, run_pk in zip(
            stored, records, encoded, record_runs, strict=False
        ):
            if (
                row.id != record.id
                or names[row.series_pk] != (record.name, record.phase, run_pk)
                or row.step != record.step
                or (row.kind, row.value, row.extra) != columns
            ):
                break
            same += 1
        self.report.skipped["metrics"] += same
        rewritten = stored[same:]
        timestamps = {row.id: row.timestamp for row in rewritten}
        seqs = [row.seq for row in rewritten]
        for start in range(0, len(seqs), self._CHUNK):
            chunk = seqs[start : start + self._CHUNK]
            self.connection.execute(sa.delete(metrics).where(metrics.c.seq.in_(chunk)))
        rows = []
        for record, (kind, value, extra), run_pk in zip(
            records[same:], encoded[same:], record_runs[same:], strict=True
        ):
            key = (record.name, record.phase, run_pk)
            if key not in keys:
                keys[key] = self._series_pk(model_pk, model_id, *key)
            there = record.id is not None and record.id in timestamps
            if there:
                self.report.updated["metrics"] += 1
            else:
                self.report.added["metrics"] += 1
            rows.append(
                {
                    "series_pk": keys[key],
                    "step": record.step,
                    "kind": kind,
                    "value": value,
                    "extra": extra,
                    "timestamp": timestamps[record.id] if there else record.timestamp,
                    "id": record.id,
                }
            )
        if rows:
            self.connection.execute(sa.insert(metrics), rows)
        if rows or rewritten:
            summaries.recompute(self.connection, model_pk=model_pk)

    def _without_superseded(
        self, names: dict[Any, Any], records: list[MetricRecord]
    ) -> list[MetricRecord]:
        """The records but those of points that a rewind superseded (kept as they are, and
        counted as skipped: a restore does not bring them back)."""
        wanted = [record.id for record in records if record.id is not None]
        if not names or not wanted or not keeps_superseded(self.connection):
            return records
        found: set[UUID] = set()
        for start in range(0, len(wanted), self._CHUNK):
            query = sa.select(superseded_metrics.c.id).where(
                superseded_metrics.c.series_pk.in_(list(names)),
                superseded_metrics.c.id.in_(wanted[start : start + self._CHUNK]),
            )
            found.update(self.connection.execute(query).scalars())
        if not found:
            return records
        self.report.skipped["metrics"] += sum(1 for record in records if record.id in found)
        return [record for record in records if record.id not in found]

    def _series_pk(
        self, model_pk: int, model_id: UUID, name: str, phase: str | None, run_pk: int | None
    ) -> int:
        key = series_key(self.connection, model_pk, name, phase, run_pk)
        if key is None:  # deleted by a concurrent transaction since we read or wrote it
            raise NotFoundError(f"model {model_id} not found")
        return key

    def _existing(self, table: sa.Table, ids: list[UUID]) -> set[UUID]:
        """Which of ``ids`` the table holds, under any owner."""
        found: set[UUID] = set()
        for start in range(0, len(ids), self._CHUNK):
            chunk = ids[start : start + self._CHUNK]
            found.update(
                self.connection.execute(sa.select(table.c.id).where(table.c.id.in_(chunk)))
                .scalars()
                .all()
            )
        return found

    def modules(
        self,
        records: Sequence[ModuleRecord],
        owner: sa.Column[Any],
        owner_pk: int,
        run_keys: RunKeys | None = None,
        model_id: UUID | None = None,
    ) -> None:
        """Restore the modules of a model (``run_keys``: its runs, and ``model_id``) or of an
        iteration (``None``: an iteration's modules belong to its run)."""
        wanted = {record.id for record in records}
        stored = [
            row
            for row in self.connection.execute(
                sa.select(modules.c.id, modules.c.name, modules.c.attributes, modules.c.run_pk)
                .where(owner == owner_pk)
                .order_by(modules.c.pk)
            )
            if row.id in wanted
        ]
        texts = [dumps_json(record.attributes, "attributes") for record in records]
        record_runs = [
            None
            if run_keys is None or model_id is None
            else self._run_key(run_keys, record.run, model_id)
            for record in records
        ]
        same = 0
        for row, record, text, run_pk in zip(stored, records, texts, record_runs, strict=False):
            if (row.id, row.name, row.attributes, row.run_pk) != (
                record.id,
                record.name,
                text,
                run_pk,
            ):
                break
            same += 1
        self.report.skipped["modules"] += same
        rest = list(records[same:])
        ids = [record.id for record in rest]
        there = self._existing(modules, ids)
        for start in range(0, len(ids), self._CHUNK):
            chunk = ids[start : start + self._CHUNK]
            self.connection.execute(sa.delete(modules).where(modules.c.id.in_(chunk)))
        for record, text, run_pk in zip(rest, texts[same:], record_runs[same:], strict=True):
            self.connection.execute(
                sa.insert(modules).values(
                    {
                        owner.name: owner_pk,
                        "id": record.id,
                        "name": record.name,
                        "attributes": text,
                        "run_pk": run_pk,
                    }
                )
            )
            if record.id in there:
                self.report.updated["modules"] += 1
            else:
                self.report.added["modules"] += 1

    def iterations(self, model_pk: int, model: ModelRecord, run_keys: RunKeys) -> None:
        records = model.iterations
        wanted = {record.id for record in records}
        stored = [
            row
            for row in self.connection.execute(
                sa.select(iterations.c.pk, iterations.c.id, iterations.c.step, iterations.c.run_pk)
                .where(iterations.c.model_pk == model_pk)
                .order_by(iterations.c.pk)
            )
            if row.id in wanted
        ]
        record_runs = [self._run_key(run_keys, record.run, model.id) for record in records]
        same = 0
        for row, record, run_pk in zip(stored, records, record_runs, strict=False):
            if (row.id, row.step, row.run_pk) != (record.id, record.step, run_pk):
                break
            same += 1
            self.report.skipped["iterations"] += 1
            self.modules(record.modules, modules.c.iteration_pk, row.pk)
        for record, run_pk in zip(records[same:], record_runs[same:], strict=True):
            old = self.connection.execute(
                sa.select(iterations.c.pk).where(iterations.c.id == record.id)
            ).scalar()
            # A new row (at the end, under a placeholder id) takes over the old one's
            # modules, then its id: so the iteration moves with everything it owns.
            pk = self.connection.execute(
                sa.insert(iterations)
                .values(
                    id=record.id if old is None else uuid.uuid4(),
                    model_pk=model_pk,
                    step=record.step,
                    run_pk=run_pk,
                )
                .returning(iterations.c.pk)
            ).scalar_one()
            if old is None:
                self.report.added["iterations"] += 1
            else:
                self.connection.execute(
                    sa.update(modules).where(modules.c.iteration_pk == old).values(iteration_pk=pk)
                )
                self.connection.execute(sa.delete(iterations).where(iterations.c.pk == old))
                self.connection.execute(
                    sa.update(iterations).where(iterations.c.pk == pk).values(id=record.id)
                )
                self.report.updated["iterations"] += 1
            self.modules(record.modules, modules.c.iteration_pk, pk)


def _run_times(row: Any, record: RunRecord) -> dict[str, Any]:
    """The times of a stored run that a restore of ``record`` gives it: its start, its end
    (the record's if it has none; none if the record's run is running), the later
    heartbeat."""
    ended = (
        None
        if record.status == "running"
        else (row.ended_at if row.ended_at is not None else record.ended_at)
    )
    beats = [beat for beat in (row.heartbeat_at, record.heartbeat_at) if beat is not None]
    return {
        "started_at": row.started_at,
        "ended_at": ended,
        "heartbeat_at": max(beats, default=None),
    }


def _canonical(text: str) -> str:
    """A stored JSON object's text as ``dumps_json`` writes it (to compare with a record's)."""
    return dumps_json(loads_json(text), "stored JSON")
