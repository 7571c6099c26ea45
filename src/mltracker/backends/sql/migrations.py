"""Schema versions: a store is created at the current version or upgraded step by step.

Opening a store only reads (:func:`inspect_store`): its version, or that there is no store
yet (a missing SQLite file, a database without tables). A store of a newer version is
refused, and so is a database with tables of another application (``ForeignStoreError``);
nothing is written. A store that does not exist yet reads as :func:`empty_store`.

``ensure_schema`` runs before the first write. Reading the version costs one query; only a
fresh or older store takes the lock (SQLite's write lock, a PostgreSQL advisory lock),
reads the version again, and creates or upgrades the schema in that one transaction. So when
many processes write to a fresh or old store at once, exactly one of them does the work and
the others find it done. A foreign database is adopted (given MLTracker's tables) only by
``ensure_schema(..., adopt=True)``, which ``mltracker db upgrade --adopt`` calls, and never
when one of its tables has the name of one of MLTracker's.

A fresh store gets the current tables of ``schema.py`` directly, and a random store id (see
``Store.store_id``); an older one gets its id when it is upgraded to version 4. An older one runs
``UPGRADES[v]`` for each version ``v`` it is behind: a function that takes the store from
``v`` to ``v + 1`` with explicit DDL (never the current ``schema.py``, which describes only
the newest version).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import schema, summaries
from mltracker.errors import BackendError, ForeignStoreError, SchemaVersionError


def _add_write_batches(connection: Connection) -> None:
    """Version 2: the table of written batch ids, for idempotent metric writes."""
    table = sa.Table(
        "write_batches",
        sa.MetaData(),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("written_at", sa.Double, nullable=False, index=True),
    )
    table.create(connection)


def _add_created_at(connection: Connection) -> None:
    """Version 3: when iterations and modules were created (NULL for the older rows)."""
    double = sa.Double().compile(dialect=connection.dialect)
    inspector = sa.inspect(connection)
    for table in ("iterations", "modules"):
        if "created_at" not in {column["name"] for column in inspector.get_columns(table)}:
            connection.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN created_at {double}"))


def _add_step_operations(connection: Connection) -> None:
    """Version 4: the table of applied step increments, for idempotent ``add_step``."""
    table = sa.Table(
        "step_operations",
        sa.MetaData(),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("model_id", sa.Uuid, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("applied_at", sa.Double, nullable=False, index=True),
    )
    table.create(connection, checkfirst=True)


def _add_store_identity(connection: Connection) -> None:
    """Version 5: the store's random id (see :func:`write_store_id`)."""
    table = sa.Table("mltracker_store", sa.MetaData(), sa.Column("id", sa.Text, nullable=False))
    table.create(connection, checkfirst=True)
    write_store_id(connection)


def _add_batch_writers(connection: Connection) -> None:
    """Version 6: who wrote each metric batch (``write_batches.writer``, the name of a
    server's token; NULL for the rows before)."""
    columns = {column["name"] for column in sa.inspect(connection).get_columns("write_batches")}
    if "writer" not in columns:
        text = sa.Text().compile(dialect=connection.dialect)
        connection.execute(sa.text(f"ALTER TABLE write_batches ADD COLUMN writer {text}"))


def _add_runs(connection: Connection) -> None:
    """Version 7: the runs of models; series, modules and iterations carry a run. Each model
    that holds anything gets one run named ``before runs`` (finished, from the model's
    creation to its last point) that everything it held belongs to."""
    key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    meta = sa.MetaData()
    sa.Table("models", meta, sa.Column("pk", key, primary_key=True))
    runs = sa.Table(
        "runs",
        meta,
        sa.Column("pk", key, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("model_pk", key, sa.ForeignKey("models.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double),
        sa.Column("heartbeat_at", sa.Double),
        sa.Column("timeout", sa.Double),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("context", sa.Text, nullable=False, server_default="{}"),
        sa.Column("exit", sa.Text),
        sa.Index("ix_runs_model", "model_pk", "pk"),
        sqlite_autoincrement=True,
    )
    runs.create(connection, checkfirst=True)
    reference = sa.Integer() if connection.dialect.name == "sqlite" else sa.BigInteger()
    column_type = reference.compile(dialect=connection.dialect)
    for table in ("modules", "iterations"):
        if not _has_column(connection, table, "run_pk"):
            connection.execute(
                sa.text(
                    f"ALTER TABLE {table} ADD COLUMN run_pk {column_type} "
                    "REFERENCES runs (pk) ON DELETE CASCADE"
                )
            )
    if not _has_column(connection, "series", "run_pk"):
        _series_with_runs(connection, meta, key)
    _runs_before_runs(connection, runs)
    for index in schema.iterations.indexes | schema.modules.indexes | schema.series.indexes:
        if "run" in (index.name or "") or index.name == "ux_series_model":
            index.create(connection, checkfirst=True)


def _has_column(connection: Connection, table: str, column: str) -> bool:
    return column in {found["name"] for found in sa.inspect(connection).get_columns(table)}


def _series_with_runs(
    connection: Connection, meta: sa.MetaData, key: sa.types.TypeEngine[int]
) -> None:
    """``series.run_pk``, and a series unique per model, name and phase only without a run:
    SQLite cannot drop a table's unique constraint, so its table is made again."""
    if connection.dialect.name != "sqlite":
        unique = sa.inspect(connection).get_unique_constraints("series")
        connection.execute(
            sa.text(
                "ALTER TABLE series ADD COLUMN run_pk BIGINT REFERENCES runs (pk) ON DELETE CASCADE"
            )
        )
        for constraint in unique:
            connection.execute(
                sa.text(f'ALTER TABLE series DROP CONSTRAINT "{constraint["name"]}"')
            )
        return
    rebuilt = sa.Table(
        "series_v7",
        meta,
        sa.Column("pk", key, primary_key=True, autoincrement=True),
        sa.Column("model_pk", key, sa.ForeignKey("models.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("run_pk", key, sa.ForeignKey("runs.pk", ondelete="CASCADE")),
        sqlite_autoincrement=True,
    )
    rebuilt.create(connection)
    connection.execute(
        sa.text(
            "INSERT INTO series_v7 (pk, model_pk, name, phase) "
            "SELECT pk, model_pk, name, phase FROM series"
        )
    )
    connection.execute(sa.text("DROP TABLE series"))
    connection.execute(sa.text("ALTER TABLE series_v7 RENAME TO series"))


def _runs_before_runs(connection: Connection, runs: sa.Table) -> None:
    """Give each model that holds series, modules or iterations its ``before runs`` run."""
    no_run = sa.column("run_pk").is_(None)
    owners = sa.union(
        sa.select(sa.column("model_pk")).select_from(sa.table("series")).where(no_run),
        sa.select(sa.column("model_pk"))
        .select_from(sa.table("modules"))
        .where(sa.column("model_pk").is_not(None), no_run),
        sa.select(sa.column("model_pk")).select_from(sa.table("iterations")).where(no_run),
    ).subquery()
    found: list[Any] = connection.execute(
        sa.select(sa.column("pk"), sa.column("created_at"))
        .select_from(sa.table("models"))
        .where(sa.column("pk").in_(sa.select(owners.c.model_pk)))
    ).all()  # type: ignore[assignment]
    if not found:
        return
    last: dict[int, float] = dict(
        connection.execute(
            sa.text(
                "SELECT series.model_pk, MAX(metrics.timestamp) FROM series JOIN metrics "
                "ON metrics.seq = (SELECT MAX(later.seq) FROM metrics AS later "
                "WHERE later.series_pk = series.pk) GROUP BY series.model_pk"
            )
        ).all()
    )
    connection.execute(
        sa.insert(runs),
        [
            {
                "id": uuid.uuid4(),
                "model_pk": model_pk,
                "name": BEFORE_RUNS,
                "status": "finished",
                "started_at": created_at,
                "ended_at": max(created_at, last.get(model_pk) or created_at),
                "params": "{}",
                "context": "{}",
            }
            for model_pk, created_at in found
        ],
    )
    for table in ("series", "modules", "iterations"):
        connection.execute(
            sa.text(
                f"UPDATE {table} SET run_pk = (SELECT runs.pk FROM runs "
                f"WHERE runs.model_pk = {table}.model_pk AND runs.name = :name) "
                f"WHERE {table}.model_pk IS NOT NULL AND {table}.run_pk IS NULL"
            ).bindparams(name=BEFORE_RUNS)
        )


def _add_rewinds(connection: Connection) -> None:
    """Version 8: the rewinds of resumed runs and the points they superseded (see
    ``schema.run_rewinds`` and ``schema.superseded_metrics``); nothing is superseded yet."""
    key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    meta = sa.MetaData()
    sa.Table("runs", meta, sa.Column("pk", key, primary_key=True))
    sa.Table("series", meta, sa.Column("pk", key, primary_key=True))
    rewinds = sa.Table(
        "run_rewinds",
        meta,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("run_pk", key, sa.ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Index("ix_run_rewinds_run", "run_pk"),
    )
    superseded = sa.Table(
        "superseded_metrics",
        meta,
        sa.Column("seq", key, primary_key=True, autoincrement=False),
        sa.Column("series_pk", key, sa.ForeignKey("series.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.BigInteger),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("extra", sa.Text),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("id", sa.Uuid),
        sa.Column("superseded_at", sa.Double, nullable=False),
        sa.Column(
            "rewind_id",
            sa.Uuid,
            sa.ForeignKey("run_rewinds.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Index("ix_superseded_metrics_series", "series_pk", "seq"),
    )
    rewinds.create(connection, checkfirst=True)
    superseded.create(connection, checkfirst=True)


#: The name of the run that an upgrade to version 7 gives each model's earlier data.
BEFORE_RUNS = "before runs"


def _add_summaries(connection: Connection) -> None:
    """Version 9 (``schema.SUMMARIES_VERSION``): the summary of each series, rebuilt from the
    points that ``metrics`` holds, not the superseded ones (see ``summaries``), with a
    progress bar on a terminal."""
    key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    meta = sa.MetaData()
    sa.Table("series", meta, sa.Column("pk", key, primary_key=True))
    table = sa.Table(
        "summaries",
        meta,
        sa.Column(
            "series_pk", key, sa.ForeignKey("series.pk", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("nan_count", sa.BigInteger, nullable=False),
        sa.Column("first_step", sa.BigInteger),
        sa.Column("first_kind", sa.SmallInteger, nullable=False),
        sa.Column("first_value", sa.Double),
        sa.Column("first_extra", sa.Text),
        sa.Column("last_step", sa.BigInteger),
        sa.Column("last_kind", sa.SmallInteger, nullable=False),
        sa.Column("last_value", sa.Double),
        sa.Column("last_extra", sa.Text),
        sa.Column("min_value", sa.Double),
        sa.Column("min_step", sa.BigInteger),
        sa.Column("max_value", sa.Double),
        sa.Column("max_step", sa.BigInteger),
    )
    table.create(connection, checkfirst=True)
    summaries.recompute(connection, progress=_progress_bar("summarising metric series"))


def _progress_bar(what: str) -> Callable[[int, int], None] | None:
    """A progress bar on stderr for a long upgrade step, if stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        sys.stderr.write(f"\r{what}: [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


#: ``UPGRADES[v]`` takes a store from version ``v`` to ``v + 1``.
UPGRADES: dict[int, Callable[[Connection], None]] = {
    1: _add_write_batches,
    2: _add_created_at,
    3: _add_step_operations,
    4: _add_store_identity,
    5: _add_batch_writers,
    6: _add_runs,
    7: _add_rewinds,
    schema.SUMMARIES_VERSION - 1: _add_summaries,
}

#: The oldest schema version whose tables this code reads as they are. Reads of a store that
#: is older but not older than this work without upgrading it (reading never writes); a
#: release whose reads need a newer table raises it, and an older store must then be
#: upgraded (``mltracker db upgrade``, or any write) before it can be read.
OLDEST_READABLE_VERSION = 1


def read_version(connection: Connection) -> int | None:
    """The store's schema version, or ``None`` for a store without MLTracker tables."""
    if not sa.inspect(connection).has_table(schema.schema_version.name):
        return None
    return connection.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()


def write_store_id(connection: Connection) -> None:
    """Give the store its random id, unless it has one (in the transaction that creates or
    upgrades the schema)."""
    table = schema.store_identity
    if connection.execute(sa.select(table.c.id)).first() is None:
        connection.execute(sa.insert(table).values(id=str(uuid.uuid4())))


def read_identity(connection: Connection) -> tuple[str | None, int | None]:
    """The store's id and schema version; the id is ``None`` for a store that has none yet
    (one of a version before 4 that was only read, never upgraded, or no store at all)."""
    inspector = sa.inspect(connection)
    version = None
    if inspector.has_table(schema.schema_version.name):
        version = connection.execute(
            sa.select(sa.func.max(schema.schema_version.c.version))
        ).scalar()
    if not inspector.has_table(schema.store_identity.name):
        return None, version
    found = connection.execute(sa.select(schema.store_identity.c.id).limit(1)).scalar()
    return found, version


def read_state(connection: Connection, *, adopt: bool = False) -> int | None:
    """The store's schema version; ``None`` for a database without tables (or, with
    ``adopt``, one whose tables clash with none of MLTracker's).

    The list of tables is read once, so that a store being created by another process at
    that moment is seen either before or after, never half-made.

    Raises:
        ForeignStoreError: The database has tables but no MLTracker schema version.
    """
    tables = sorted(sa.inspect(connection).get_table_names())
    if schema.schema_version.name in tables:
        version = connection.execute(sa.select(sa.func.max(schema.schema_version.c.version)))
        return version.scalar()
    if not tables:
        return None
    clashing = [table for table in tables if table in schema.metadata.tables]
    if adopt and not clashing:
        return None
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    if clashing:
        raise ForeignStoreError(
            f"not an MLTracker store: it has tables of another application ({shown}), and "
            f"some have the names of MLTracker's ({', '.join(clashing)}), so MLTracker cannot "
            "use it: give another file or database"
        )
    raise ForeignStoreError(
        f"not an MLTracker store: it has tables of another application ({shown}); to keep "
        "MLTracker's tables beside them, run `mltracker db upgrade --adopt` once, else give "
        "another file or database"
    )


#: The start of a ``db.json`` of the original mltracker 0.4.0: a TinyDB table named by path.
_ORIGINAL_JSON = re.compile(rb'\A\s*\{\s*"(/experiments|/models/|/iterations/|_default)')


def _refuse_original_json(path: str) -> None:
    try:
        with open(path, "rb") as file:
            start = file.read(4096)
    except OSError:
        return
    if _ORIGINAL_JSON.match(start):
        store = os.path.join(os.path.dirname(path), "mltracker.db")
        if store == path:
            store = path + ".sqlite"
        raise ForeignStoreError(
            "not an MLTracker store: it is a db.json of the original mltracker 0.4.0 "
            "(TinyDB); copy its contents into a store with "
            f"`mltracker --uri {shlex.quote(store)} import {shlex.quote(path)}` "
            "and use that store instead"
        )


def inspect_store(engine: Engine, *, adopt: bool = False) -> int | None:
    """The store's schema version, read without writing anything; ``None`` if there is no
    store yet (a missing SQLite file, a database without tables, or with ``adopt`` one whose
    tables clash with none of MLTracker's).

    Raises:
        SchemaVersionError: The store is newer than this code.
        ForeignStoreError: The database (or file) is not an MLTracker store.
    """
    path = engines.sqlite_file(engine)
    if path is not None and not os.path.exists(path):
        return None
    try:
        version = engines.run(
            engine, lambda connection: read_state(connection, adopt=adopt), write=False
        )
    except ForeignStoreError:
        raise
    except BackendError:
        if path is not None:
            _refuse_original_json(path)
        raise
    _refuse_newer(version)
    return version


_empty_stores: dict[int, Engine] = {}


def empty_store() -> Engine:
    """An in-memory database with the current schema and no rows: what a store that does not
    exist yet reads as (one per process; only ever read)."""
    engine = _empty_stores.get(os.getpid())
    if engine is None:
        engine = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        schema.metadata.create_all(engine)
        _empty_stores.clear()  # an engine inherited from a parent process is not used
        _empty_stores[os.getpid()] = engine
    return engine


def _refuse_newer(version: int | None) -> None:
    if version is not None and version > schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the store has schema version {version}, but this MLTracker knows versions up to "
            f"{schema.SCHEMA_VERSION}: upgrade MLTracker (pip install -U mltracker)"
        )


def ensure_schema(engine: Engine, target: int | None = None, *, adopt: bool = False) -> int | None:
    """Create or upgrade the store's schema to ``target`` (default: the current version);
    return the version found before. With ``adopt``, a database with tables of another
    application gets MLTracker's tables too, if none of its tables has their names.

    Raises:
        SchemaVersionError: The store is newer than this code.
        ForeignStoreError: The database has tables of another application (and no ``adopt``,
            or a table with the name of one of MLTracker's).
        ReadOnlyStoreError: The store cannot be written by this process.
    """
    if target is None:
        target = schema.SCHEMA_VERSION
    engines.prepare_for_writing(engine)
    found = engines.run(engine, lambda connection: read_state(connection, adopt=adopt), write=False)
    _refuse_newer(found)
    if found is not None and found >= target:
        return found
    wanted = target
    return engines.run(engine, lambda connection: _migrate(connection, wanted, adopt), write=True)


def _migrate(connection: Connection, target: int, adopt: bool) -> int | None:
    engines.lock_for_schema_change(connection)
    found = read_state(connection, adopt=adopt)
    _refuse_newer(found)
    if found is not None and found >= target:  # another process got there first
        return found
    if found is None:
        schema.metadata.create_all(connection)
        connection.execute(sa.insert(schema.schema_version).values(version=target))
        write_store_id(connection)
        return found
    for version in range(found, target):
        UPGRADES[version](connection)
    connection.execute(sa.update(schema.schema_version).values(version=target))
    return found
