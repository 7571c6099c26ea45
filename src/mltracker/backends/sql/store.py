"""The SQL store: the :class:`~mltracker.ports.store.Store` on SQLite or PostgreSQL.

Every public operation is one transaction (``engine.run``). Metric points take the fast
path: the batch is written with the driver's ``executemany`` (SQLite) or ``COPY``
(PostgreSQL), and series keys are cached on the ``Series`` objects of the writer's queue.
"""

from __future__ import annotations

import os
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import maintenance, migrations, schema
from mltracker.backends.sql.schema import (
    experiments,
    iterations,
    metrics,
    models,
    modules,
    series,
    write_batches,
)
from mltracker.connect import sqlite_path
from mltracker.entities import Metric, Module, parse_metric_id, stamp_matches
from mltracker.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidArgumentError,
    MLTrackerError,
    NotFoundError,
    SchemaVersionError,
)
from mltracker.ports.metrics import NO_PHASE
from mltracker.ports.store import (
    ExperimentRecord,
    ExperimentRow,
    IterationRow,
    MetricColumns,
    MetricFilter,
    MetricRecord,
    ModelField,
    ModelRecord,
    ModelRow,
    ModuleOwner,
    ModuleRecord,
    Point,
    RestoreReport,
    Series,
    Store,
)
from mltracker.values import (
    FLOAT,
    INT,
    INT64_MAX,
    INT64_MIN,
    JSON,
    decode_value,
    dumps_json,
    encode_value,
    loads_json,
)

T = TypeVar("T")


class _StaleSeries(MLTrackerError):
    """A cached series key no longer exists (its model was deleted by someone)."""


_NO_PHASE = ""


def _phase_in(phase: str | None) -> str:
    return _NO_PHASE if phase is None else phase


def _phase_out(phase: str) -> str | None:
    return None if phase == _NO_PHASE else phase


def _experiment_pk(experiment_id: UUID) -> Any:
    return sa.select(experiments.c.pk).where(experiments.c.id == experiment_id).scalar_subquery()


def _model_pk(model_id: UUID) -> Any:
    return sa.select(models.c.pk).where(models.c.id == model_id).scalar_subquery()


def _iteration_pk(iteration_id: UUID) -> Any:
    return sa.select(iterations.c.pk).where(iterations.c.id == iteration_id).scalar_subquery()


def _owner_column(owner: ModuleOwner) -> tuple[sa.Column[Any], Any]:
    if owner.kind == "model":
        return modules.c.model_pk, _model_pk(owner.id)
    return modules.c.iteration_pk, _iteration_pk(owner.id)


#: SQLSTATE codes of PostgreSQL, and SQLite's extended result codes, by violation.
_UNIQUE_VIOLATIONS = frozenset(
    {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
)
_FOREIGN_KEY_VIOLATIONS = frozenset({"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"})


def _raise_violation(
    error: sa.exc.IntegrityError, *, exists: str | None = None, missing: str | None = None
) -> None:
    """Raise ``AlreadyExistsError(exists)`` for a unique violation and
    ``NotFoundError(missing)`` for a foreign key violation (an owner deleted by a concurrent
    transaction), each when its message is given; else return."""
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    if exists is not None and code in _UNIQUE_VIOLATIONS:
        raise AlreadyExistsError(exists) from None
    if missing is not None and code in _FOREIGN_KEY_VIOLATIONS:
        raise NotFoundError(missing) from None


def _execute_owned(connection: Connection, statement: sa.Executable, owner: str) -> None:
    """Execute an insert of a row with an owner; a foreign key violation (the owner was
    deleted by a concurrent transaction) becomes ``NotFoundError``, as when the owner was
    already gone."""
    try:
        connection.execute(statement)
    except sa.exc.IntegrityError as error:
        _raise_violation(error, missing=f"{owner} not found")
        raise


def _require(connection: Connection, statement: sa.Executable, what: str) -> Any:
    """Execute and return the first column of the first row, or raise ``NotFoundError``."""
    value = connection.execute(statement).scalar()
    if value is None:
        raise NotFoundError(f"{what} not found")
    return value


def _display(uri: str) -> str:
    """A URI fit for a message: a SQLite file's path, a database URL without password."""
    path = sqlite_path(uri)
    if path is not None:
        return path
    try:
        return sa.engine.make_url(uri).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return uri


class SqlStore(Store):
    """A store in a SQLite file or a PostgreSQL database.

    Opening only reads the schema version: nothing is created, upgraded or written, and a
    store of a newer version or a database of another application is refused. The schema is
    created or upgraded before the first write. Until then, a store that does not exist yet
    reads as an empty one, and an older store is read as it is.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._batches_noted = 0
        self._version: int | None = None
        self._readable = False  # its tables exist, of a version this code reads
        self._writable = False  # ready for writes: writable, at the current version
        self.engine = engines.create_engine(uri)
        _open_stores.add(self)
        try:
            self._look()
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def _located(self) -> Iterator[None]:
        """Name the store in the message of a backend error raised inside."""
        try:
            yield
        except BackendError as error:
            raise type(error)(f"{_display(self.uri)}: {error}") from error.__cause__

    def _look(self) -> None:
        """Read the store's schema version, writing nothing, and note what it allows."""
        with self._located():
            version = migrations.inspect_store(self.engine)
        self._version = version
        self._readable = version is not None and version >= migrations.OLDEST_READABLE_VERSION

    def _read(self, operation: Callable[[Connection], T]) -> T:
        if not self._readable:
            return self._read_without_tables(operation)
        return engines.run(self.engine, operation, write=False)

    def _read_without_tables(self, operation: Callable[[Connection], T]) -> T:
        self._look()  # another process may have created or upgraded it meanwhile
        if self._readable:
            return engines.run(self.engine, operation, write=False)
        if self._version is None:  # no store yet: it reads as an empty one
            return engines.run(migrations.empty_store(), operation, write=False)
        raise SchemaVersionError(
            f"{_display(self.uri)}: the store has schema version {self._version}, older than "
            "this MLTracker reads: `mltracker db upgrade` (or any write) upgrades it"
        )

    def _write(self, operation: Callable[[Connection], T]) -> T:
        if not self._writable:
            self._prepare_writing()
        return engines.run(self.engine, operation, write=True)

    def _prepare_writing(self) -> None:
        """Before the first write: check that the store is writable, and create or upgrade
        its schema (safe in many processes)."""
        with self._located():
            migrations.ensure_schema(self.engine)
        self._version = schema.SCHEMA_VERSION
        self._readable = self._writable = True

    def prepare(self) -> None:
        self._prepare_writing()

    def close(self) -> None:
        """Let go of the connections. The store stays usable: the next call connects again
        and looks at the schema afresh (the file may have been replaced meanwhile)."""
        self.engine.dispose()
        self._readable = self._writable = False

    # Experiments ---------------------------------------------------------------------
    def create_experiment(self, name: str) -> ExperimentRow:
        def create(connection: Connection) -> ExperimentRow:
            if self._find_experiment(connection, name) is not None:
                raise AlreadyExistsError(f"an experiment named {name!r} exists already")
            return self._insert_experiment(connection, name)

        return self._write(create)

    def get_or_create_experiment(self, name: str) -> ExperimentRow:
        found = self._read(lambda connection: self._find_experiment(connection, name))
        if found is not None:
            return found

        def get_or_create(connection: Connection) -> ExperimentRow:
            return self._find_experiment(connection, name) or self._insert_experiment(
                connection, name
            )

        try:
            return self._write(get_or_create)
        except AlreadyExistsError:  # another process created it between our two looks
            row = self._read(lambda connection: self._find_experiment(connection, name))
            assert row is not None
            return row

    _experiment_columns = (experiments.c.id, experiments.c.name, experiments.c.created_at)

    def _find_experiment(self, connection: Connection, name: str) -> ExperimentRow | None:
        statement = sa.select(*self._experiment_columns).where(experiments.c.name == name)
        row = connection.execute(statement).first()
        return None if row is None else ExperimentRow(row.id, row.name, row.created_at)

    def _insert_experiment(self, connection: Connection, name: str) -> ExperimentRow:
        row = ExperimentRow(uuid.uuid4(), name, time.time())
        statement = sa.insert(experiments).values(id=row.id, name=name, created_at=row.created_at)
        self._insert_unique(connection, statement, f"an experiment named {name!r} exists already")
        return row

    @staticmethod
    def _insert_unique(
        connection: Connection,
        statement: sa.Executable,
        message: str,
        missing: str | None = None,
    ) -> None:
        """Execute in a savepoint; a unique violation becomes ``AlreadyExistsError(message)``
        and, with ``missing``, a foreign key violation (the owner was deleted meanwhile)
        ``NotFoundError(missing)``."""
        try:
            with connection.begin_nested():
                connection.execute(statement)
        except sa.exc.IntegrityError as error:
            _raise_violation(error, exists=message, missing=missing)
            raise

    def read_experiment(self, name: str) -> ExperimentRow | None:
        return self._read(lambda connection: self._find_experiment(connection, name))

    def update_experiment(self, experiment_id: UUID, name: str) -> None:
        def update(connection: Connection) -> None:
            found = connection.execute(
                sa.select(experiments.c.pk).where(experiments.c.id == experiment_id)
            ).scalar()
            if found is None:
                raise NotFoundError(f"experiment {experiment_id} not found")
            statement = sa.update(experiments).where(experiments.c.pk == found).values(name=name)
            self._insert_unique(
                connection, statement, f"an experiment named {name!r} exists already"
            )

        self._write(update)

    def delete_experiment(self, experiment_id: UUID) -> None:
        def delete(connection: Connection) -> None:
            owned = sa.select(models.c.pk).where(
                models.c.experiment_pk == _experiment_pk(experiment_id)
            )
            _delete_points_of_models(connection, owned)
            result = connection.execute(
                sa.delete(experiments).where(experiments.c.id == experiment_id)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"experiment {experiment_id} not found")

        self._write(delete)

    def list_experiments(self) -> list[ExperimentRow]:
        statement = sa.select(*self._experiment_columns).order_by(experiments.c.pk)
        return self._read(
            lambda connection: [
                ExperimentRow(r.id, r.name, r.created_at) for r in connection.execute(statement)
            ]
        )

    # Models --------------------------------------------------------------------------
    _model_columns = (
        models.c.id,
        models.c.hash,
        models.c.name,
        models.c.description,
        models.c.created_at,
        models.c.step,
    )

    @staticmethod
    def _model_row(experiment_id: UUID, row: Any) -> ModelRow:
        return ModelRow(
            row.id, experiment_id, row.hash, row.name, row.description, row.created_at, row.step
        )

    def create_model(
        self, experiment_id: UUID, hash: str, name: str | None, description: str | None
    ) -> ModelRow:
        def create(connection: Connection) -> ModelRow:
            return self._insert_model(connection, experiment_id, hash, name, description)

        return self._write(create)

    def _insert_model(
        self,
        connection: Connection,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
    ) -> ModelRow:
        experiment_pk = _require(
            connection,
            sa.select(experiments.c.pk).where(experiments.c.id == experiment_id),
            f"experiment {experiment_id}",
        )
        exists = connection.execute(
            sa.select(models.c.pk).where(
                models.c.experiment_pk == experiment_pk, models.c.hash == hash
            )
        ).first()
        message = f"a model with hash {hash!r} exists already in this experiment"
        if exists is not None:
            raise AlreadyExistsError(message)
        row = ModelRow(uuid.uuid4(), experiment_id, hash, name, description, time.time(), 0)
        statement = sa.insert(models).values(
            id=row.id,
            experiment_pk=experiment_pk,
            hash=hash,
            name=name,
            description=description,
            created_at=row.created_at,
        )
        self._insert_unique(
            connection, statement, message, missing=f"experiment {experiment_id} not found"
        )
        return row

    def get_or_create_model(
        self, experiment_id: UUID, hash: str, name: str | None, description: str | None
    ) -> ModelRow:
        found = self.read_model(experiment_id, hash)
        if found is not None:
            return found

        def get_or_create(connection: Connection) -> ModelRow:
            return self._find_model(connection, experiment_id, hash) or self._insert_model(
                connection, experiment_id, hash, name, description
            )

        try:
            return self._write(get_or_create)
        except AlreadyExistsError:  # another process created it between our two looks
            row = self.read_model(experiment_id, hash)
            if row is None:  # and someone deleted it again: give up as on any conflict
                raise
            return row

    def read_model(self, experiment_id: UUID, hash: str) -> ModelRow | None:
        statement = sa.select(*self._model_columns).where(
            models.c.experiment_pk == _experiment_pk(experiment_id), models.c.hash == hash
        )

        def read(connection: Connection) -> ModelRow | None:
            row = connection.execute(statement).first()
            return None if row is None else self._model_row(experiment_id, row)

        return self._read(read)

    def _find_model(
        self, connection: Connection, experiment_id: UUID, hash: str
    ) -> ModelRow | None:
        statement = sa.select(*self._model_columns).where(
            models.c.experiment_pk == _experiment_pk(experiment_id), models.c.hash == hash
        )
        row = connection.execute(statement).first()
        return None if row is None else self._model_row(experiment_id, row)

    def update_model(
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        clear: frozenset[ModelField] = frozenset(),
    ) -> None:
        changes: dict[str, str | None] = {"name": name, "description": description}
        changes = {column: value for column, value in changes.items() if value is not None}
        changes.update({column: None for column in clear})
        statement = sa.update(models).where(
            models.c.experiment_pk == _experiment_pk(experiment_id), models.c.hash == hash
        )

        def update(connection: Connection) -> None:
            if changes:
                result = connection.execute(statement.values(**changes))
                found = result.rowcount > 0
            else:
                found = self._model_exists(connection, experiment_id, hash)
            if not found:
                raise NotFoundError(f"no model with hash {hash!r} in this experiment")

        self._write(update)

    def _model_exists(self, connection: Connection, experiment_id: UUID, hash: str) -> bool:
        statement = sa.select(models.c.pk).where(
            models.c.experiment_pk == _experiment_pk(experiment_id), models.c.hash == hash
        )
        return connection.execute(statement).first() is not None

    def delete_model(self, experiment_id: UUID, model_id: UUID) -> None:
        statement = sa.delete(models).where(
            models.c.id == model_id, models.c.experiment_pk == _experiment_pk(experiment_id)
        )

        def delete(connection: Connection) -> None:
            owned = sa.select(models.c.pk).where(
                models.c.id == model_id, models.c.experiment_pk == _experiment_pk(experiment_id)
            )
            _delete_points_of_models(connection, owned)
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"model {model_id} not found in this experiment")

        self._write(delete)

    def list_models(self, experiment_id: UUID) -> list[ModelRow]:
        statement = (
            sa.select(*self._model_columns)
            .where(models.c.experiment_pk == _experiment_pk(experiment_id))
            .order_by(models.c.pk)
        )
        return self._read(
            lambda connection: [
                self._model_row(experiment_id, row) for row in connection.execute(statement)
            ]
        )

    def clear_models(self, experiment_id: UUID) -> None:
        owned = sa.select(models.c.pk).where(
            models.c.experiment_pk == _experiment_pk(experiment_id)
        )
        statement = sa.delete(models).where(models.c.pk.in_(owned))

        def clear(connection: Connection) -> None:
            _delete_points_of_models(connection, owned)
            connection.execute(statement)

        self._write(clear)

    def read_step(self, model_id: UUID) -> int:
        statement = sa.select(models.c.step).where(models.c.id == model_id)
        return int(self._read(lambda c: _require(c, statement, f"model {model_id}")))

    def write_step(self, model_id: UUID, step: int) -> None:
        statement = sa.update(models).where(models.c.id == model_id).values(step=step)

        def write(connection: Connection) -> None:
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"model {model_id} not found")

        self._write(write)

    def add_step(self, model_id: UUID, delta: int) -> int:
        # The bound keeps the sum in int64: SQLite would make it a float, PostgreSQL fail.
        if delta >= 0:
            fits = models.c.step <= INT64_MAX - delta
        else:
            fits = models.c.step >= INT64_MIN - delta
        statement = (
            sa.update(models)
            .where(models.c.id == model_id, fits)
            .values(step=models.c.step + delta)
            .returning(models.c.step)
        )

        def add(connection: Connection) -> int:
            step = connection.execute(statement).scalar()
            if step is not None:
                return int(step)
            current = _require(
                connection,
                sa.select(models.c.step).where(models.c.id == model_id),
                f"model {model_id}",
            )
            raise InvalidArgumentError(f"model step {current} + {delta} is outside the int64 range")

        return self._write(add)

    # Metrics -------------------------------------------------------------------------
    def write_points(self, points: Sequence[Point], batch_id: UUID | None = None) -> None:
        if not points:
            return

        def insert(connection: Connection) -> list[Series]:
            return self._insert_points(connection, points, batch_id)

        try:
            missing = self._write(insert)
        except _StaleSeries:  # a cached series vanished with its model: look them up again
            for point in points:
                point[0].handle = None
            missing = self._write(insert)
        if missing:
            names = ", ".join(sorted({str(s.model_id) for s in missing}))
            raise NotFoundError(f"metric points of deleted models were dropped: {names}")

    def _insert_points(
        self, connection: Connection, points: Sequence[Point], batch_id: UUID | None
    ) -> list[Series]:
        if batch_id is not None and self._batch_written(connection, batch_id):
            return []
        missing = self._resolve_series(connection, points)
        if missing:
            points = [point for point in points if point[0].handle is not None]
        rows = [
            (s.handle, step, kind, value, extra, ts) for s, step, kind, value, extra, ts in points
        ]
        handles = {row[0] for row in rows}
        # The series must exist until we commit: PostgreSQL locks them against a concurrent
        # delete (which deletes series before points); SQLite's write lock already does.
        check = sa.select(sa.func.count()).select_from(
            sa.select(series.c.pk)
            .where(series.c.pk.in_(handles))
            .with_for_update(read=True, key_share=True)
            .subquery()
        )
        if rows and connection.execute(check).scalar_one() != len(handles):
            raise _StaleSeries("a series of the batch was deleted")
        _bulk_insert(connection, connection.connection.driver_connection, rows)
        return missing

    def _batch_written(self, connection: Connection, batch_id: UUID) -> bool:
        """Whether the batch was written; if not, note it as written by this transaction."""
        found = connection.execute(
            sa.select(write_batches.c.id).where(write_batches.c.id == batch_id)
        ).first()
        if found is not None:
            return True
        now = time.time()
        connection.execute(sa.insert(write_batches).values(id=batch_id, written_at=now))
        self._batches_noted += 1
        if self._batches_noted % 1000 == 0:
            maintenance.forget_old_batch_ids(connection, now)
        return False

    def _resolve_series(self, connection: Connection, points: Sequence[Point]) -> list[Series]:
        unresolved = {id(p[0]): p[0] for p in points if p[0].handle is None}
        missing: list[Series] = []
        for entry in unresolved.values():
            model_pk = connection.execute(
                sa.select(models.c.pk).where(models.c.id == entry.model_id)
            ).scalar()
            if model_pk is None:
                missing.append(entry)
                continue
            phase = _phase_in(entry.phase)
            key = (
                series.c.model_pk == model_pk,
                series.c.name == entry.name,
                series.c.phase == phase,
            )
            series_pk = connection.execute(sa.select(series.c.pk).where(*key)).scalar()
            if series_pk is None:
                insert = (
                    sa.insert(series)
                    .values(model_pk=model_pk, name=entry.name, phase=phase)
                    .returning(series.c.pk)
                )
                try:
                    with connection.begin_nested():
                        series_pk = connection.execute(insert).scalar_one()
                except sa.exc.IntegrityError:
                    # Another writer created the series, or the model was deleted meanwhile.
                    series_pk = connection.execute(sa.select(series.c.pk).where(*key)).scalar()
                    if series_pk is None:
                        missing.append(entry)
                        continue
            entry.handle = series_pk
        return missing

    def list_metrics(self, model_id: UUID, where: MetricFilter) -> list[Metric]:
        def read(connection: Connection) -> list[Metric]:
            names = self._series_names(connection, model_id, where)
            if not names:
                return []
            rows = engines.driver_execute(connection, _points_query(names, where))
            return _build_metrics(rows, names, model_id)

        return self._read(read)

    def _series_names(
        self, connection: Connection, model_id: UUID, where: MetricFilter
    ) -> dict[int, tuple[str, str | None]]:
        """The model's series that ``where`` selects: primary key -> (name, phase)."""
        query = sa.select(series.c.pk, series.c.name, series.c.phase).where(
            series.c.model_pk == _model_pk(model_id)
        )
        if where.name is not None:
            query = query.where(series.c.name == where.name)
        if where.phase is NO_PHASE:
            query = query.where(series.c.phase == _NO_PHASE)
        elif where.phase is not None:
            query = query.where(series.c.phase == where.phase)
        return {pk: (name, _phase_out(phase)) for pk, name, phase in connection.execute(query)}

    def metric_columns(self, model_id: UUID, where: MetricFilter) -> MetricColumns:
        def read(connection: Connection) -> MetricColumns:
            names = self._series_names(connection, model_id, where)
            columns = MetricColumns([], [], [], [], [])
            if not names:
                return columns
            rows = engines.driver_execute(connection, _points_query(names, where))
            for _seq, series_pk, step, kind, value, extra, timestamp, _id in rows:
                if extra is not None or kind != FLOAT:
                    value = decode_value(kind, value, extra)
                name, phase = names[series_pk]
                columns.name.append(name)
                columns.phase.append(phase)
                columns.step.append(step)
                columns.value.append(value)
                columns.timestamp.append(timestamp)
            return columns

        return self._read(read)

    def latest_metrics(self, model_id: UUID) -> list[Metric]:
        return self.latest_metrics_of_models([model_id])[model_id]

    def latest_metrics_of_models(self, model_ids: Sequence[UUID]) -> dict[UUID, list[Metric]]:
        wanted = list(dict.fromkeys(model_ids))
        latest: dict[UUID, list[Metric]] = {model_id: [] for model_id in wanted}

        def read(connection: Connection) -> dict[UUID, list[Metric]]:
            for start in range(0, len(wanted), _IDS_PER_QUERY):
                chunk = wanted[start : start + _IDS_PER_QUERY]
                found = connection.execute(
                    sa.select(series.c.pk, series.c.name, series.c.phase, models.c.pk, models.c.id)
                    .select_from(series.join(models, models.c.pk == series.c.model_pk))
                    .where(models.c.id.in_(chunk))
                ).all()
                if not found:
                    continue
                names = {row[0]: (row[1], _phase_out(row[2]), row[4]) for row in found}
                query = _latest_points_query(sorted({row[3] for row in found}))
                for point in _build_points(engines.driver_execute(connection, query), names):
                    latest[point.model_id].append(point)
            return latest

        return self._read(read)

    def remove_metric(self, model_id: UUID, metric_id: UUID) -> None:
        parsed = parse_metric_id(model_id, metric_id)
        owned = sa.select(series.c.pk).where(series.c.model_pk == _model_pk(model_id))
        if parsed is None:
            match = metrics.c.id == metric_id
        else:
            match = metrics.c.seq == parsed[0]

        def remove(connection: Connection) -> None:
            found = connection.execute(
                sa.select(metrics.c.seq, metrics.c.timestamp).where(
                    match, metrics.c.series_pk.in_(owned)
                )
            ).first()
            if found is None or (parsed is not None and not stamp_matches(found[1], parsed[1])):
                raise NotFoundError(f"metric {metric_id} not found in model {model_id}")
            connection.execute(sa.delete(metrics).where(metrics.c.seq == found[0]))

        self._write(remove)

    def clear_metrics(self, model_id: UUID) -> None:
        statement = sa.delete(metrics).where(
            metrics.c.series_pk.in_(
                sa.select(series.c.pk).where(series.c.model_pk == _model_pk(model_id))
            )
        )
        self._write(lambda connection: connection.execute(statement))

    # Modules -------------------------------------------------------------------------
    def log_module(self, owner: ModuleOwner, name: str, attributes_json: str) -> Module:
        column, owner_pk = _owner_column(owner)
        module = Module(uuid.uuid4(), name, loads_json(attributes_json), time.time())

        def log(connection: Connection) -> Module:
            pk = _require(connection, sa.select(owner_pk), f"{owner.kind} {owner.id}")
            _execute_owned(
                connection,
                sa.insert(modules).values(
                    {
                        column.name: pk,
                        "id": module.id,
                        "name": name,
                        "attributes": attributes_json,
                        "created_at": module.created_at,
                    }
                ),
                f"{owner.kind} {owner.id}",
            )
            return module

        return self._write(log)

    def list_modules(self, owner: ModuleOwner) -> list[Module]:
        column, owner_pk = _owner_column(owner)
        statement = (
            sa.select(modules.c.id, modules.c.name, modules.c.attributes, modules.c.created_at)
            .where(column == owner_pk)
            .order_by(modules.c.pk)
        )
        return self._read(
            lambda connection: [
                Module(row.id, row.name, loads_json(row.attributes), row.created_at)
                for row in connection.execute(statement)
            ]
        )

    def remove_module(self, owner: ModuleOwner, module_id: UUID) -> None:
        column, owner_pk = _owner_column(owner)
        statement = sa.delete(modules).where(modules.c.id == module_id, column == owner_pk)

        def remove(connection: Connection) -> None:
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"module {module_id} not found in {owner.kind} {owner.id}")

        self._write(remove)

    def clear_modules(self, owner: ModuleOwner) -> None:
        column, owner_pk = _owner_column(owner)
        statement = sa.delete(modules).where(column == owner_pk)
        self._write(lambda connection: connection.execute(statement))

    # Bulk --------------------------------------------------------------------------
    def restore(self, experiments: Sequence[ExperimentRecord]) -> RestoreReport:
        def restore(connection: Connection) -> RestoreReport:
            restorer = _Restorer(connection)
            for record in experiments:
                restorer.experiment(record)
            return restorer.report

        return self._write(restore)

    # Iterations ----------------------------------------------------------------------
    def create_iteration(self, model_id: UUID, step: int) -> IterationRow:
        row = IterationRow(uuid.uuid4(), model_id, step, time.time())

        def create(connection: Connection) -> IterationRow:
            model_pk = _require(connection, sa.select(_model_pk(model_id)), f"model {model_id}")
            _execute_owned(
                connection,
                sa.insert(iterations).values(
                    id=row.id, model_pk=model_pk, step=step, created_at=row.created_at
                ),
                f"model {model_id}",
            )
            return row

        return self._write(create)

    def get_iteration(self, model_id: UUID, step: int) -> IterationRow | None:
        statement = (
            sa.select(iterations.c.id, iterations.c.created_at)
            .where(iterations.c.model_pk == _model_pk(model_id), iterations.c.step == step)
            .order_by(iterations.c.pk)
            .limit(1)
        )

        def get(connection: Connection) -> IterationRow | None:
            found = connection.execute(statement).first()
            return None if found is None else IterationRow(found.id, model_id, step, found[1])

        return self._read(get)

    def list_iterations(self, model_id: UUID) -> list[IterationRow]:
        statement = (
            sa.select(iterations.c.id, iterations.c.step, iterations.c.created_at)
            .where(iterations.c.model_pk == _model_pk(model_id))
            .order_by(iterations.c.pk)
        )
        return self._read(
            lambda connection: [
                IterationRow(row.id, model_id, row.step, row.created_at)
                for row in connection.execute(statement)
            ]
        )

    def remove_iteration(self, model_id: UUID, iteration_id: UUID) -> None:
        statement = sa.delete(iterations).where(
            iterations.c.id == iteration_id, iterations.c.model_pk == _model_pk(model_id)
        )

        def remove(connection: Connection) -> None:
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"iteration {iteration_id} not found in model {model_id}")

        self._write(remove)

    def clear_iterations(self, model_id: UUID) -> None:
        statement = sa.delete(iterations).where(iterations.c.model_pk == _model_pk(model_id))
        self._write(lambda connection: connection.execute(statement))


def _delete_points_of_models(connection: Connection, model_pks: sa.Select[Any]) -> None:
    """Delete the series and points of some models (their other rows cascade).

    On PostgreSQL, the models are locked first, which waits for any writer that is adding
    a series to them and keeps others from doing so; then the series are deleted, which waits
    for any writer holding them locked; so the next statement sees, and deletes, every point
    that those writers committed.
    """
    connection.execute(
        sa.select(models.c.pk).where(models.c.pk.in_(model_pks)).with_for_update()
    ).all()
    series_pks = list(
        connection.execute(
            sa.delete(series).where(series.c.model_pk.in_(model_pks)).returning(series.c.pk)
        ).scalars()
    )
    for start in range(0, len(series_pks), 500):
        chunk = series_pks[start : start + 500]
        connection.execute(sa.delete(metrics).where(metrics.c.series_pk.in_(chunk)))


_open_stores: weakref.WeakSet[SqlStore] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    # A forked child must not use the parent's connections (SQLite files and PostgreSQL
    # sockets are not shareable): it drops them unclosed and opens its own.
    for store in list(_open_stores):
        store.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_after_fork)


class _Restorer:
    """One :meth:`SqlStore.restore` transaction: makes the store match the records.

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
        self.metrics(pk, record.metrics)
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

    def metrics(self, model_pk: int, records: Sequence[MetricRecord]) -> None:
        names = {
            row.pk: (row.name, _phase_out(row.phase))
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
            query = _POINT_COLUMNS.where(
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
                keys[key] = self._series_pk(model_pk, record.name, record.phase)
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

    def _series_pk(self, model_pk: int, name: str, phase: str | None) -> int:
        key = (
            series.c.model_pk == model_pk,
            series.c.name == name,
            series.c.phase == _phase_in(phase),
        )
        found = self.connection.execute(sa.select(series.c.pk).where(*key)).scalar()
        if found is not None:
            return int(found)
        return int(
            self.connection.execute(
                sa.insert(series)
                .values(model_pk=model_pk, name=name, phase=_phase_in(phase))
                .returning(series.c.pk)
            ).scalar_one()
        )

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


_METRIC_COLUMNS = ("series_pk", "step", "kind", "value", "extra", "timestamp")
_SQLITE_INSERT = f"INSERT INTO metrics ({', '.join(_METRIC_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)"
_POSTGRES_COPY = f"COPY metrics ({', '.join(_METRIC_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_POSTGRES_TYPES = ["int8", "int8", "int2", "float8", "text", "float8"]


def _bulk_insert(connection: Connection, driver: Any, rows: list[tuple[Any, ...]]) -> None:
    """Insert metric rows with the driver's fastest bulk path."""
    if engines.is_sqlite(connection):
        driver.executemany(_SQLITE_INSERT, rows)
        return
    with driver.cursor() as cursor:
        with cursor.copy(_POSTGRES_COPY) as copy:
            copy.set_types(_POSTGRES_TYPES)
            for row in rows:
                copy.write_row(row)


_POINT_COLUMNS = sa.select(
    metrics.c.seq,
    metrics.c.series_pk,
    metrics.c.step,
    metrics.c.kind,
    metrics.c.value,
    metrics.c.extra,
    metrics.c.timestamp,
    metrics.c.id,
)


def _points_query(names: dict[int, Any], where: MetricFilter) -> sa.Select[Any]:
    query = _POINT_COLUMNS.order_by(metrics.c.seq)
    if len(names) == 1:
        query = query.where(metrics.c.series_pk == next(iter(names)))
    else:
        query = query.where(metrics.c.series_pk.in_(list(names)))
    if where.start_step is not None:
        query = query.where(metrics.c.step >= where.start_step)
    if where.stop_step is not None:
        query = query.where(metrics.c.step < where.stop_step)
    return query


#: How many ids one query of :meth:`SqlStore.latest_metrics_of_models` binds.
_IDS_PER_QUERY = 5000


def _latest_points_query(model_pks: list[int]) -> sa.Select[Any]:
    """The last point of each series of some models, in logged order.

    A correlated ``max`` per series, which both databases answer from the index on
    ``(series_pk, seq)`` without reading the series' other points.
    """
    inner = metrics.alias("later")
    last = (
        sa.select(sa.func.max(inner.c.seq)).where(inner.c.series_pk == series.c.pk)
    ).scalar_subquery()
    seqs = sa.select(last).where(series.c.model_pk.in_(model_pks))
    return _POINT_COLUMNS.where(metrics.c.seq.in_(seqs)).order_by(metrics.c.seq)


def _build_points(
    rows: list[tuple[Any, ...]], names: dict[int, tuple[str, str | None, UUID]]
) -> list[Metric]:
    """Metrics of several models: ``names`` maps a series to its name, phase and model."""
    built: list[Metric] = []
    for seq, series_pk, step, kind, value, extra, timestamp, id_ in rows:
        name, phase, model_id = names[series_pk]
        value = decode_value(kind, value, extra)
        built.append(Metric(name, value, step, phase, timestamp, seq, model_id, _as_uuid(id_)))
    return built


def _as_uuid(value: Any) -> UUID | None:
    """A UUID column read through the driver: hex text in SQLite, a UUID in PostgreSQL."""
    if value is None or isinstance(value, UUID):
        return value
    return UUID(hex=value)


def _build_metrics(
    rows: list[tuple[Any, ...]], names: dict[int, tuple[str, str | None]], model_id: UUID
) -> list[Metric]:
    built: list[Metric] = []
    append = built.append
    for seq, series_pk, step, kind, value, extra, timestamp, id_ in rows:
        if extra is None and kind == FLOAT:
            pass
        elif extra is None and kind == INT:
            value = int(value)
        else:
            value = decode_value(kind, value, extra)
        name, phase = names[series_pk]
        if id_ is None:
            append(Metric(name, value, step, phase, timestamp, seq, model_id))
        else:
            append(Metric(name, value, step, phase, timestamp, seq, model_id, _as_uuid(id_)))
    return built
