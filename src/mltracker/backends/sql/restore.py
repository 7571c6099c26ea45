"""Restoring records into a SQL store: one transaction that makes the store match them.

This is what :meth:`SqlStore.restore` runs (for an import, see ``mltracker.importers``): it
adds what is missing and updates what is there, keeping ids, and counts what it did in a
``RestoreReport``. Series are found or created by ``metrics.series_key``, as logging does.
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

from mltracker.backends.sql.metrics import POINT_COLUMNS, phase_out, series_key
from mltracker.backends.sql.schema import (
    experiments,
    iterations,
    metrics,
    models,
    modules,
    series,
)
from mltracker.errors import AlreadyExistsError, NotFoundError
from mltracker.ports.store import (
    ExperimentRecord,
    MetricRecord,
    ModelRecord,
    ModuleRecord,
    RestoreReport,
)
from mltracker.values import INT, JSON, dumps_json, encode_value


def restore_records(connection: Connection, records: Sequence[ExperimentRecord]) -> RestoreReport:
    """Make the store match ``records``, in the connection's transaction (see
    :class:`_Restorer`), and say what was added, updated and skipped."""
    restorer = _Restorer(connection)
    for record in records:
        restorer.experiment(record)
    return restorer.report


class _Restorer:
    """One restore transaction: makes the store match the records.

    What is missing is added; what is there (same id) takes the record's values. The metric
    points, modules and iterations of a record are compared with the stored ones of the same
    ids, in order: those up to the first difference stay as they are (``skipped``); from
    there on they are written again in the record's order (``updated`` when the id was
    there, else ``added``), keeping their ids and, for points, their stored timestamps. An
    iteration written again takes its modules along. Rows the records do not name are never
    touched, so points logged into an imported model stay where they are.
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
        self.metrics(pk, record.id, record.metrics)
        self.modules(record.modules, modules.c.model_pk, pk)
        self.iterations(pk, record)

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

    def metrics(self, model_pk: int, model_id: UUID, records: Sequence[MetricRecord]) -> None:
        names = {
            row.pk: (row.name, phase_out(row.phase))
            for row in self.connection.execute(
                sa.select(series.c.pk, series.c.name, series.c.phase).where(
                    series.c.model_pk == model_pk
                )
            )
        }
        keys = {key: pk for pk, key in names.items()}
        wanted = {record.id for record in records if record.id is not None}
        stored: list[Any] = []
        if names and wanted:
            query = POINT_COLUMNS.where(
                metrics.c.series_pk.in_(list(names)), metrics.c.id.is_not(None)
            ).order_by(metrics.c.seq)
            stored = [row for row in self.connection.execute(query) if row.id in wanted]
        encoded = [self._encode(record.value) for record in records]
        same = 0
        for row, record, columns in zip(stored, records, encoded, strict=False):
            if (
                row.id != record.id
                or names[row.series_pk] != (record.name, record.phase)
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
        for record, (kind, value, extra) in zip(records[same:], encoded[same:], strict=True):
            key = (record.name, record.phase)
            if key not in keys:
                keys[key] = self._series_pk(model_pk, model_id, record.name, record.phase)
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

    def _series_pk(self, model_pk: int, model_id: UUID, name: str, phase: str | None) -> int:
        key = series_key(self.connection, model_pk, name, phase)
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
        self, records: Sequence[ModuleRecord], owner: sa.Column[Any], owner_pk: int
    ) -> None:
        wanted = {record.id for record in records}
        stored = [
            row
            for row in self.connection.execute(
                sa.select(modules.c.id, modules.c.name, modules.c.attributes)
                .where(owner == owner_pk)
                .order_by(modules.c.pk)
            )
            if row.id in wanted
        ]
        texts = [dumps_json(record.attributes, "attributes") for record in records]
        same = 0
        for row, record, text in zip(stored, records, texts, strict=False):
            if (row.id, row.name, row.attributes) != (record.id, record.name, text):
                break
            same += 1
        self.report.skipped["modules"] += same
        rest = list(records[same:])
        ids = [record.id for record in rest]
        there = self._existing(modules, ids)
        for start in range(0, len(ids), self._CHUNK):
            chunk = ids[start : start + self._CHUNK]
            self.connection.execute(sa.delete(modules).where(modules.c.id.in_(chunk)))
        for record, text in zip(rest, texts[same:], strict=True):
            self.connection.execute(
                sa.insert(modules).values(
                    {owner.name: owner_pk, "id": record.id, "name": record.name, "attributes": text}
                )
            )
            if record.id in there:
                self.report.updated["modules"] += 1
            else:
                self.report.added["modules"] += 1

    def iterations(self, model_pk: int, model: ModelRecord) -> None:
        records = model.iterations
        wanted = {record.id for record in records}
        stored = [
            row
            for row in self.connection.execute(
                sa.select(iterations.c.pk, iterations.c.id, iterations.c.step)
                .where(iterations.c.model_pk == model_pk)
                .order_by(iterations.c.pk)
            )
            if row.id in wanted
        ]
        same = 0
        for row, record in zip(stored, records, strict=False):
            if (row.id, row.step) != (record.id, record.step):
                break
            same += 1
            self.report.skipped["iterations"] += 1
            self.modules(record.modules, modules.c.iteration_pk, row.pk)
        for record in records[same:]:
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
