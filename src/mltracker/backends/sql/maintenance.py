"""Maintenance of a SQL store: give back the space of deleted rows, forget old batch ids.

``vacuum`` is what ``mltracker db vacuum`` runs. Deleting experiments, models or points frees
pages that SQLite keeps for reuse and PostgreSQL marks dead; vacuuming returns them (SQLite
shrinks the file; PostgreSQL makes the space reusable and refreshes the planner's statistics).
It also forgets the ids of metric batches and of step increments written more than
``BATCH_ID_DAYS`` ago: they only serve to recognise a write retried or replayed from a spool,
which happens within minutes or at the next run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import migrations, schema
from mltracker.errors import NotFoundError

#: How long the id of a written metric batch is kept.
BATCH_ID_DAYS = 7


@dataclass(frozen=True, slots=True)
class VacuumReport:
    """What :func:`vacuum` did: the store's size in bytes before and after, and how many
    batch ids and step increment ids it forgot."""

    bytes_before: int
    bytes_after: int
    batch_ids_forgotten: int
    operation_ids_forgotten: int = 0


def forget_old_batch_ids(connection: Connection, now: float | None = None) -> int:
    """Delete the ids of batches written more than ``BATCH_ID_DAYS`` ago; return how many."""
    cutoff = (time.time() if now is None else now) - BATCH_ID_DAYS * 86400
    table = schema.write_batches
    return int(connection.execute(sa.delete(table).where(table.c.written_at < cutoff)).rowcount)


def forget_old_operation_ids(connection: Connection, now: float | None = None) -> int:
    """Delete the ids of step increments applied more than ``BATCH_ID_DAYS`` ago; return how
    many."""
    cutoff = (time.time() if now is None else now) - BATCH_ID_DAYS * 86400
    table = schema.step_operations
    return int(connection.execute(sa.delete(table).where(table.c.applied_at < cutoff)).rowcount)


def vacuum(engine: Engine) -> VacuumReport:
    """Give back the space of deleted rows and forget old batch and operation ids.

    Raises:
        NotFoundError: There is no store there yet.
        SchemaVersionError, ForeignStoreError: As for opening a store.
        ReadOnlyStoreError, BackendUnavailableError: The store cannot be written now.
    """
    if migrations.inspect_store(engine) is None:
        raise NotFoundError("there is no store here yet: nothing to vacuum")
    migrations.ensure_schema(engine)  # an older store is upgraded, as by any write
    before = store_size(engine)
    forgotten = engines.run(engine, forget_old_batch_ids, write=True)
    operations = engines.run(engine, forget_old_operation_ids, write=True)
    path = engines.sqlite_file(engine)
    if path is not None:
        _vacuum_sqlite(engine)
    else:
        _vacuum_postgresql(engine)
    return VacuumReport(before, store_size(engine), forgotten, operations)


def _vacuum_sqlite(engine: Engine) -> None:
    # VACUUM cannot run inside a transaction; the engine begins one itself, so the driver's
    # own connection runs it, retried like any write while another process holds the lock.
    def run(connection: Connection) -> None:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("COMMIT")
        driver.execute("VACUUM")
        driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        driver.execute("BEGIN")  # for the engine's own COMMIT at the end

    engines.run(engine, run, write=True)


def _vacuum_postgresql(engine: Engine) -> None:
    tables = ", ".join(table.name for table in schema.metadata.sorted_tables)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {tables}")


def store_size(engine: Engine) -> int:
    """The bytes the store takes: a SQLite file with its write-ahead log, or the total size
    of MLTracker's tables and indexes in PostgreSQL."""
    path = engines.sqlite_file(engine)
    if path is not None:
        return sum(os.path.getsize(name) for name in (path, path + "-wal") if os.path.exists(name))
    names = [table.name for table in schema.metadata.sorted_tables]

    def measure(connection: Connection) -> int:
        total = connection.execute(
            sa.text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.relname = ANY(:names) AND c.relkind = 'r' "
                "AND c.relnamespace IN (SELECT oid FROM pg_namespace "
                "WHERE nspname = ANY(current_schemas(false)))"
            ),
            {"names": names},
        ).scalar_one()
        return int(total)

    return engines.run(engine, measure, write=False)
