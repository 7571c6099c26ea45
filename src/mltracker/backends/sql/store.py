"""The SQL store: the :class:`~mltracker.ports.store.Store` on SQLite or PostgreSQL.

This module opens the store, runs every public operation as one transaction
(``engine.run``), and keeps experiments, models (and their step), modules and iterations.
Metric points are written and read by ``metrics`` (the fast path), a restore is run by
``restore``, and what differs between SQLite and PostgreSQL is in ``engine``.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltracker import columnar, deadlines
from mltracker.backends.sql import (
    buckets,
    maintenance,
    metrics,
    migrations,
    rewinds,
    schema,
    search,
    summaries,
)
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import runs as sql_runs
from mltracker.backends.sql.arrow import ArrowReader
from mltracker.backends.sql.restore import restore_records
from mltracker.backends.sql.schema import (
    experiments,
    iterations,
    models,
    modules,
    pk_of,
    runs,
    step_operations,
)
from mltracker.entities import Metric, Module, Summary
from mltracker.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    SchemaVersionError,
)
from mltracker.ports.store import (
    PROVISIONAL_ID_PREFIX,
    BatchRow,
    ExperimentRecord,
    ExperimentRow,
    IterationRow,
    MetricColumns,
    MetricFilter,
    ModelField,
    ModelRow,
    ModuleOwner,
    Point,
    RestoreReport,
    Rewind,
    RunRow,
    RunStart,
    RunStatus,
    Store,
)
from mltracker.schemes import sqlite_path
from mltracker.values import INT64_MAX, INT64_MIN, loads_json

if TYPE_CHECKING:
    import pyarrow

T = TypeVar("T")


def _owner_column(owner: ModuleOwner) -> tuple[sa.Column[Any], Any]:
    if owner.kind == "model":
        return modules.c.model_pk, pk_of(models, owner.id)
    if owner.kind == "run":
        return modules.c.run_pk, pk_of(runs, owner.id)
    return modules.c.iteration_pk, pk_of(iterations, owner.id)


def _raise_violation(
    error: sa.exc.IntegrityError, *, exists: str | None = None, missing: str | None = None
) -> None:
    """Raise ``AlreadyExistsError(exists)`` for a unique violation and
    ``NotFoundError(missing)`` for a foreign key violation (an owner deleted by a concurrent
    transaction), each when its message is given; else return."""
    if exists is not None and engines.is_unique_violation(error):
        raise AlreadyExistsError(exists) from None
    if missing is not None and engines.is_foreign_key_violation(error):
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


class _Raced(Exception):
    """A concurrent transaction stored a row of the same caller-made id first: the
    operation is run again, and then finds it."""


def _insert_once(connection: Connection, statement: sa.Executable, owner: str) -> None:
    """:func:`_execute_owned` of a row whose id the caller chose: a unique violation (a
    concurrent retry of the same call stored it first) raises ``_Raced``."""
    try:
        _execute_owned(connection, statement, owner)
    except sa.exc.IntegrityError as error:
        if engines.is_unique_violation(error):
            raise _Raced from None
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
        self._points = metrics.PointWriter()
        self._operations_noted = 0
        self._version: int | None = None
        self._readable = False  # its tables exist, of a version this code reads
        self._writable = False  # ready for writes: writable, at the current version
        self._store_id: str | None = None  # read once; forgotten by close()
        self.engine = engines.create_engine(uri)
        self._arrow = ArrowReader(self.engine)
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
        sql_runs.note_version(self.engine, version)
        rewinds.note_version(self.engine, version)

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
        sql_runs.note_version(self.engine, self._version)
        rewinds.note_version(self.engine, self._version)
        if engines.is_sqlite(self.engine):
            _checkpoint_at_exit.register()

    def _write_once(self, operation: Callable[[Connection], T]) -> T:
        """:meth:`_write` of an operation that stores a row of a caller-made id: if a
        concurrent call of the same id stored it first, run again (and find it)."""
        try:
            return self._write(operation)
        except _Raced:
            return self._write(operation)

    def prepare(self) -> None:
        self._prepare_writing()

    def store_id(self) -> str:
        """The id written in the store when it was created (or upgraded to schema version
        4), read once and kept until :meth:`close`.

        A store without one (older than version 4 and only read so far, or not created yet)
        answers ``"uri-"`` (``PROVISIONAL_ID_PREFIX``) and a hash of its URI: stable until
        its first write, which gives it its id. A writer keys nothing by such an id: it
        learns the store's id after that first write.
        """
        known = self._store_id
        if known is not None:
            return known
        found, _version = self.identity()
        return found

    def identity(self) -> tuple[str, int | None]:
        """The store's id (see :meth:`store_id`) and its schema version (``None``: no store
        yet), in one cheap read."""
        found, version = self._read(migrations.read_identity)
        if found is None:
            digest = hashlib.sha256(self.uri.encode()).hexdigest()[:32]
            return f"{PROVISIONAL_ID_PREFIX}{digest}", version
        self._store_id = found
        return found, version

    def close(self) -> None:
        """Let go of the connections, after a checkpoint that moves a SQLite store's
        write-ahead log into its file (so that the file alone holds the data). The store
        stays usable: the next call connects again and looks at the schema (and its id)
        afresh (the file may have been replaced meanwhile)."""
        self.checkpoint()
        self._arrow.close()
        self.engine.dispose()
        self._readable = self._writable = False
        self._store_id = None

    def checkpoint(self) -> bool:
        """Copy a SQLite store's write-ahead log into its file and empty the log, if this
        process wrote the store and no other connection is busy with it; whether it was
        done. Never raises, never waits for a lock (a busy store keeps its log, which its
        next checkpoint copies). Nothing to do on PostgreSQL."""
        if not self._writable or not engines.is_sqlite(self.engine):
            return False
        return engines.checkpoint_sqlite(self.engine)

    # Experiments ---------------------------------------------------------------------
    def create_experiment(self, name: str, *, id: UUID | None = None) -> ExperimentRow:
        def create(connection: Connection) -> ExperimentRow:
            if self._find_experiment(connection, name) is not None:
                raise AlreadyExistsError(f"an experiment named {name!r} exists already")
            return self._insert_experiment(connection, name, id)

        return self._write(create)

    def get_or_create_experiment(self, name: str, *, id: UUID | None = None) -> ExperimentRow:
        def find(connection: Connection) -> ExperimentRow | None:
            found = self._find_experiment(connection, name)
            if found is None and id is not None:  # created by this call before, renamed since
                found = self._find_experiment_by_id(connection, id)
            return found

        found = self._read(find)
        if found is not None:
            return found

        def get_or_create(connection: Connection) -> ExperimentRow:
            return find(connection) or self._insert_experiment(connection, name, id)

        try:
            return self._write(get_or_create)
        except AlreadyExistsError:  # another process created it between our two looks
            row = self._read(find)
            if row is None:  # and someone deleted it again: give up as on any conflict
                raise
            return row

    _experiment_columns = (experiments.c.id, experiments.c.name, experiments.c.created_at)

    def _find_experiment(self, connection: Connection, name: str) -> ExperimentRow | None:
        statement = sa.select(*self._experiment_columns).where(experiments.c.name == name)
        row = connection.execute(statement).first()
        return None if row is None else ExperimentRow(row.id, row.name, row.created_at)

    def _find_experiment_by_id(
        self, connection: Connection, experiment_id: UUID
    ) -> ExperimentRow | None:
        statement = sa.select(*self._experiment_columns).where(experiments.c.id == experiment_id)
        row = connection.execute(statement).first()
        return None if row is None else ExperimentRow(row.id, row.name, row.created_at)

    def _insert_experiment(
        self, connection: Connection, name: str, id: UUID | None = None
    ) -> ExperimentRow:
        if id is not None and self._find_experiment_by_id(connection, id) is not None:
            raise AlreadyExistsError(f"an experiment of id {id} exists already")
        row = ExperimentRow(id or uuid.uuid4(), name, time.time())
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
                models.c.experiment_pk == pk_of(experiments, experiment_id)
            )
            metrics.delete_points_of_models(connection, owned)
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
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        id: UUID | None = None,
    ) -> ModelRow:
        def create(connection: Connection) -> ModelRow:
            return self._insert_model(connection, experiment_id, hash, name, description, id)

        return self._write(create)

    def _insert_model(
        self,
        connection: Connection,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        id: UUID | None = None,
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
        if id is not None:
            taken = connection.execute(sa.select(models.c.pk).where(models.c.id == id)).first()
            if taken is not None:
                raise AlreadyExistsError(f"a model of id {id} exists already")
        row = ModelRow(id or uuid.uuid4(), experiment_id, hash, name, description, time.time(), 0)
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
        self,
        experiment_id: UUID,
        hash: str,
        name: str | None,
        description: str | None,
        *,
        id: UUID | None = None,
    ) -> ModelRow:
        found = self.read_model(experiment_id, hash)
        if found is not None:
            return found

        def get_or_create(connection: Connection) -> ModelRow:
            return self._find_model(connection, experiment_id, hash) or self._insert_model(
                connection, experiment_id, hash, name, description, id
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
            models.c.experiment_pk == pk_of(experiments, experiment_id), models.c.hash == hash
        )

        def read(connection: Connection) -> ModelRow | None:
            row = connection.execute(statement).first()
            return None if row is None else self._model_row(experiment_id, row)

        return self._read(read)

    def _find_model(
        self, connection: Connection, experiment_id: UUID, hash: str
    ) -> ModelRow | None:
        statement = sa.select(*self._model_columns).where(
            models.c.experiment_pk == pk_of(experiments, experiment_id), models.c.hash == hash
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
            models.c.experiment_pk == pk_of(experiments, experiment_id), models.c.hash == hash
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
            models.c.experiment_pk == pk_of(experiments, experiment_id), models.c.hash == hash
        )
        return connection.execute(statement).first() is not None

    def delete_model(self, experiment_id: UUID, model_id: UUID) -> None:
        statement = sa.delete(models).where(
            models.c.id == model_id, models.c.experiment_pk == pk_of(experiments, experiment_id)
        )

        def delete(connection: Connection) -> None:
            owned = sa.select(models.c.pk).where(
                models.c.id == model_id, models.c.experiment_pk == pk_of(experiments, experiment_id)
            )
            metrics.delete_points_of_models(connection, owned)
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"model {model_id} not found in this experiment")

        self._write(delete)

    def list_models(self, experiment_id: UUID) -> list[ModelRow]:
        statement = (
            sa.select(*self._model_columns)
            .where(models.c.experiment_pk == pk_of(experiments, experiment_id))
            .order_by(models.c.pk)
        )
        return self._read(
            lambda connection: [
                self._model_row(experiment_id, row) for row in connection.execute(statement)
            ]
        )

    def clear_models(self, experiment_id: UUID) -> None:
        owned = sa.select(models.c.pk).where(
            models.c.experiment_pk == pk_of(experiments, experiment_id)
        )
        statement = sa.delete(models).where(models.c.pk.in_(owned))

        def clear(connection: Connection) -> None:
            metrics.delete_points_of_models(connection, owned)
            connection.execute(statement)

        self._write(clear)

    def read_step(self, model_id: UUID) -> int:
        statement = sa.select(models.c.step).where(models.c.id == model_id)
        return int(self._read(lambda c: _require(c, statement, f"model {model_id}")))

    def write_step(self, model_id: UUID, step: int, *, op_id: UUID | None = None) -> None:
        statement = sa.update(models).where(models.c.id == model_id).values(step=step)
        exists = sa.select(models.c.pk).where(models.c.id == model_id)

        def write(connection: Connection) -> None:
            if op_id is not None and self._applied_step(connection, op_id, model_id) is not None:
                _require(connection, exists, f"model {model_id}")
                return
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"model {model_id} not found")
            if op_id is not None:
                self._note_step_operation(connection, op_id, model_id, step)

        self._write_once(write)

    def add_step(self, model_id: UUID, delta: int, *, op_id: UUID | None = None) -> int:
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

        exists = sa.select(models.c.pk).where(models.c.id == model_id)

        def add(connection: Connection) -> int:
            if op_id is not None:
                applied = self._applied_step(connection, op_id, model_id)
                if applied is not None:
                    _require(connection, exists, f"model {model_id}")
                    return applied
            step = connection.execute(statement).scalar()
            if step is None:
                current = _require(
                    connection,
                    sa.select(models.c.step).where(models.c.id == model_id),
                    f"model {model_id}",
                )
                raise InvalidArgumentError(
                    f"model step {current} + {delta} is outside the int64 range"
                )
            if op_id is not None:
                self._note_step_operation(connection, op_id, model_id, int(step))
            return int(step)

        return self._write_once(add)

    @staticmethod
    def _applied_step(connection: Connection, op_id: UUID, model_id: UUID) -> int | None:
        """The step that the increment (or write) ``op_id`` made, if it was applied."""
        statement = sa.select(step_operations.c.model_id, step_operations.c.step).where(
            step_operations.c.id == op_id
        )
        found = connection.execute(statement).first()
        if found is None:
            return None
        if found.model_id != model_id:
            raise AlreadyExistsError(
                f"step operation {op_id} was applied to another model ({found.model_id})"
            )
        return int(found.step)

    def _note_step_operation(
        self, connection: Connection, op_id: UUID, model_id: UUID, step: int
    ) -> None:
        """Note the increment (or write) ``op_id`` as applied, with the step it made; every
        thousandth note also forgets the old ones."""
        now = time.time()
        statement = sa.insert(step_operations).values(
            id=op_id, model_id=model_id, step=step, applied_at=now
        )
        try:
            connection.execute(statement)
        except sa.exc.IntegrityError as error:
            if engines.is_unique_violation(error):  # a concurrent retry of it came first
                raise _Raced from None
            raise
        self._operations_noted += 1
        if self._operations_noted % 1000 == 0:
            maintenance.forget_old_operation_ids(connection, now)

    # Metrics -------------------------------------------------------------------------
    def write_points(
        self,
        points: Sequence[Point],
        batch_id: UUID | None = None,
        *,
        writer: str | None = None,
        part_of: Sequence[UUID] = (),
    ) -> None:
        self._points.write(self._write, points, batch_id, writer, part_of)

    def list_batches(self, *, writer: str | None = None, limit: int = 100) -> list[BatchRow]:
        return self._read(lambda connection: metrics.list_batches(connection, writer, limit))

    def list_metrics(self, model_id: UUID, where: MetricFilter) -> list[Metric]:
        return self._read(lambda connection: metrics.list_metrics(connection, model_id, where))

    def metric_columns(self, model_id: UUID, where: MetricFilter) -> MetricColumns:
        return self._read(lambda connection: metrics.metric_columns(connection, model_id, where))

    def metric_table(self, model_id: UUID, where: MetricFilter) -> pyarrow.Table:
        """Read through the database's ADBC driver (the ``arrow`` extra)."""
        self._arrow.require()
        names = self._read(lambda connection: metrics.series_names(connection, model_id, where))
        if not names:
            return columnar.store_schema().empty_table()
        points, extras = metrics.table_queries(names, where)
        with self._located():
            found, texts = self._arrow.fetch(points, extras, when=_has_extras)
        return columnar.from_storage(found, names, texts)

    def reads_arrow(self) -> bool:
        return self._arrow.available()

    def metric_buckets(self, model_id: UUID, where: MetricFilter, budget: int) -> list[Metric]:
        return self._read(
            lambda connection: buckets.metric_buckets(connection, model_id, where, budget)
        )

    def latest_metrics(
        self, model_id: UUID, *, run_id: UUID | None = None, by_run: bool = False
    ) -> list[Metric]:
        if run_id is None:
            return self.latest_metrics_of_models([model_id], by_run=by_run)[model_id]
        return self._read(
            lambda connection: metrics.latest_metrics_of_models(connection, [model_id], run_id)
        )[model_id]

    def latest_metrics_of_models(
        self, model_ids: Sequence[UUID], *, by_run: bool = False
    ) -> dict[UUID, list[Metric]]:
        return self._read(
            lambda connection: metrics.latest_metrics_of_models(
                connection, model_ids, by_run=by_run
            )
        )

    def remove_metric(self, model_id: UUID, metric_id: UUID) -> None:
        self._write(lambda connection: metrics.remove_metric(connection, model_id, metric_id))

    def clear_metrics(self, model_id: UUID) -> None:
        self._write(lambda connection: metrics.clear_metrics(connection, model_id))

    # Modules -------------------------------------------------------------------------
    def log_module(
        self, owner: ModuleOwner, name: str, attributes_json: str, *, id: UUID | None = None
    ) -> Module:
        column, owner_pk = _owner_column(owner)
        chosen = id is not None
        module = Module(id or uuid.uuid4(), name, loads_json(attributes_json), time.time())

        def log(connection: Connection) -> Module:
            pk = _require(connection, sa.select(owner_pk), f"{owner.kind} {owner.id}")
            owners = {column.name: pk}
            if owner.kind == "run":  # a module of the run's model, logged in the run
                owners["model_pk"] = connection.execute(
                    sa.select(runs.c.model_pk).where(runs.c.pk == pk)
                ).scalar_one()
            if chosen:
                found = connection.execute(
                    sa.select(modules).where(modules.c.id == module.id)
                ).first()
                if found is not None:
                    same = (getattr(found, column.name), found.name, found.attributes)
                    if same != (pk, name, attributes_json):
                        raise AlreadyExistsError(
                            f"a module of id {module.id} exists already, of another owner, "
                            "name or attributes"
                        )
                    return Module(
                        found.id, found.name, loads_json(found.attributes), found.created_at
                    )
            (_insert_once if chosen else _execute_owned)(
                connection,
                sa.insert(modules).values(
                    {
                        **owners,
                        "id": module.id,
                        "name": name,
                        "attributes": attributes_json,
                        "created_at": module.created_at,
                    }
                ),
                f"{owner.kind} {owner.id}",
            )
            return module

        return self._write_once(log)

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

    # Runs --------------------------------------------------------------------------
    def start_run(self, start: RunStart) -> RunRow:
        return self._write(lambda connection: sql_runs.start_run(connection, start))

    def resume_run(
        self, run_id: UUID, at: float, timeout: float | None, rewind: Rewind | None = None
    ) -> RunRow:
        return self._write(
            lambda connection: sql_runs.resume_run(connection, run_id, at, timeout, rewind)
        )

    def heartbeat_run(self, run_id: UUID, at: float) -> None:
        self._write(lambda connection: sql_runs.heartbeat_run(connection, run_id, at))

    def end_run(self, run_id: UUID, status: RunStatus, exit: str | None, at: float) -> None:
        self._write(lambda connection: sql_runs.end_run(connection, run_id, status, exit, at))

    def read_run(self, run_id: UUID) -> RunRow | None:
        return self._read(lambda connection: sql_runs.read_run(connection, run_id))

    def list_runs(self, model_id: UUID) -> list[RunRow]:
        return self._read(lambda connection: sql_runs.list_runs(connection, model_id))

    def list_experiment_runs(self, experiment_id: UUID) -> list[RunRow]:
        experiment_pk = pk_of(experiments, experiment_id)
        return self._read(
            lambda connection: sql_runs.list_experiment_runs(connection, experiment_pk)
        )

    def search_runs(
        self,
        experiment_id: UUID | None,
        where: str | None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        search.check(where, order_by, limit)
        return self._read(
            lambda connection: search.search_runs(connection, experiment_id, where, order_by, limit)
        )

    def read_summaries(self, run_ids: Sequence[UUID]) -> list[Summary]:
        wanted = list(run_ids)
        return self._read(lambda connection: summaries.read_summaries(connection, wanted))

    # Bulk --------------------------------------------------------------------------
    def restore(self, experiments: Sequence[ExperimentRecord]) -> RestoreReport:
        return self._write(lambda connection: restore_records(connection, experiments))

    # Iterations ----------------------------------------------------------------------
    def create_iteration(
        self, model_id: UUID, step: int, *, id: UUID | None = None, run_id: UUID | None = None
    ) -> IterationRow:
        chosen = id is not None
        row = IterationRow(id or uuid.uuid4(), model_id, step, time.time(), run_id)

        def create(connection: Connection) -> IterationRow:
            model_pk = _require(connection, sa.select(pk_of(models, model_id)), f"model {model_id}")
            run_pk = None
            if run_id is not None:
                run_pk = sql_runs.run_key(connection, model_pk, run_id, row.created_at or 0.0)
            if chosen:
                found = connection.execute(
                    sa.select(iterations).where(iterations.c.id == row.id)
                ).first()
                if found is not None:
                    if (found.model_pk, found.step) != (model_pk, step):
                        raise AlreadyExistsError(
                            f"an iteration of id {row.id} exists already, of another model or step"
                        )
                    return IterationRow(found.id, model_id, found.step, found.created_at, run_id)
            (_insert_once if chosen else _execute_owned)(
                connection,
                sa.insert(iterations).values(
                    id=row.id,
                    model_pk=model_pk,
                    step=step,
                    created_at=row.created_at,
                    run_pk=run_pk,
                ),
                f"model {model_id}",
            )
            return row

        return self._write_once(create)

    def get_iteration(self, model_id: UUID, step: int) -> IterationRow | None:
        statement = (
            sa.select(iterations.c.id, iterations.c.created_at)
            .where(iterations.c.model_pk == pk_of(models, model_id), iterations.c.step == step)
            .order_by(iterations.c.pk)
            .limit(1)
        )

        def get(connection: Connection) -> IterationRow | None:
            found = connection.execute(statement).first()
            return None if found is None else IterationRow(found.id, model_id, step, found[1])

        return self._read(get)

    def list_iterations(self, model_id: UUID, *, run_id: UUID | None = None) -> list[IterationRow]:
        statement = (
            sa.select(iterations.c.id, iterations.c.step, iterations.c.created_at)
            .where(iterations.c.model_pk == pk_of(models, model_id))
            .order_by(iterations.c.pk)
        )
        if run_id is not None:
            statement = statement.where(iterations.c.run_pk == pk_of(runs, run_id))

        def read(connection: Connection) -> list[IterationRow]:
            if run_id is not None and not sql_runs.keeps_runs(connection):
                return []
            return [
                IterationRow(row.id, model_id, row.step, row.created_at, run_id)
                for row in connection.execute(statement)
            ]

        return self._read(read)

    def remove_iteration(self, model_id: UUID, iteration_id: UUID) -> None:
        statement = sa.delete(iterations).where(
            iterations.c.id == iteration_id, iterations.c.model_pk == pk_of(models, model_id)
        )

        def remove(connection: Connection) -> None:
            if connection.execute(statement).rowcount == 0:
                raise NotFoundError(f"iteration {iteration_id} not found in model {model_id}")

        self._write(remove)

    def clear_iterations(self, model_id: UUID) -> None:
        statement = sa.delete(iterations).where(iterations.c.model_pk == pk_of(models, model_id))
        self._write(lambda connection: connection.execute(statement))


def _has_extras(points: pyarrow.Table) -> bool:
    """Whether a columnar read's points include some with an ``extra`` text."""
    return columnar.has_flag(points)


_open_stores: weakref.WeakSet[SqlStore] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    # A forked child must not use the parent's connections (SQLite files and PostgreSQL
    # sockets are not shareable): it drops them unclosed and opens its own.
    for store in list(_open_stores):
        store.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_after_fork)


class _ExitCheckpoint:
    """At interpreter exit, after the metric writers' last flush: a checkpoint of every
    SQLite store this process wrote, so that each file alone holds its data (a connection
    still open at exit would leave it in the ``-wal`` file beside it).

    Registered with ``atexit`` when a SQLite store is first written. ``atexit`` runs the
    hooks registered last first, and whether the writers' own exit flush was registered
    before or after this one depends on what the process did first; so this hook flushes
    the writers itself (:func:`mltracker.writer.flush_all`, bounded by
    ``$MLTRACKER_CLOSE_SECONDS``) before it checkpoints, and the writers' own hook then
    finds nothing left to write.
    """

    def __init__(self) -> None:
        self._registered = False

    def register(self) -> None:
        if not self._registered:  # registrations outlive a fork: once per process tree
            self._registered = True
            atexit.register(self)

    def __call__(self) -> None:
        writer = sys.modules.get("mltracker.writer")
        if writer is not None:
            writer.flush_all(within=deadlines.close_seconds())
        checkpoint_all()


_checkpoint_at_exit = _ExitCheckpoint()


def checkpoint_all() -> None:
    """Checkpoint every SQLite store of this process that it wrote (see
    :meth:`SqlStore.checkpoint`). Never raises."""
    for store in list(_open_stores):
        store.checkpoint()
