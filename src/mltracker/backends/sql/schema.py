"""Every table of the SQL backend, in its current version.

Rows refer to each other by integer keys (``pk``) with ``ON DELETE CASCADE`` foreign keys, but
for ``metrics.series_pk`` (see there); UUIDs (``id``) are what the API shows.
Metric points are normalised into ``series`` (one row per model, name and phase) and
``metrics`` (one row per point), which keeps a point at about 30 bytes on disk. The value
columns follow ``mltracker.values``. A NULL phase is stored as ``''`` in ``series`` so that
the unique constraint holds (phases are never empty strings). ``pk_of`` finds a row's key
from its id, inside a statement.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    select,
    text,
)
from sqlalchemy.sql.selectable import ScalarSelect

#: The schema version that added ``summaries`` (see ``migrations.py``).
SUMMARIES_VERSION = 9

#: The schema version this code writes; see ``migrations.py``.
SCHEMA_VERSION = SUMMARIES_VERSION

metadata = MetaData()

#: An integer primary key: a rowid alias in SQLite, a BIGINT identity in PostgreSQL.
_Key = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> Column[int]:
    return Column("pk", _Key, primary_key=True, autoincrement=True)


def _owner(table: str, column: str, *, nullable: bool = False) -> Column[int]:
    return Column(
        column,
        _Key,
        ForeignKey(f"{table}.pk", ondelete="CASCADE"),
        nullable=nullable,
    )


schema_version = Table(
    "mltracker_schema",
    metadata,
    Column("version", Integer, nullable=False),
)

#: The store's identity (since version 4): one row, a random id written when the store is
#: created (or first upgraded to version 4), never changed. It tells two stores apart that
#: answer at the same address one after the other (see ``Store.store_id``).
store_identity = Table(
    "mltracker_store",
    metadata,
    Column("id", Text, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    _pk(),
    Column("id", Uuid, nullable=False, unique=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    sqlite_autoincrement=True,
)

models = Table(
    "models",
    metadata,
    _pk(),
    Column("id", Uuid, nullable=False, unique=True),
    _owner("experiments", "experiment_pk"),
    Column("hash", Text, nullable=False),
    Column("name", Text),
    Column("description", Text),
    Column("step", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("experiment_pk", "hash"),
    sqlite_autoincrement=True,
)

#: The runs of models (since version 7): one training process's part of a model (see
#: ``mltracker.runs``). ``status`` is what was last written (``running``, ``finished``,
#: ``failed``, ``killed``); a ``running`` run whose heartbeat is older than its ``timeout``
#: reads as ``crashed``. ``params``, ``context`` (host, pid, command, git, environment) are
#: JSON text; ``exit`` says how it ended (a signal's name, an exception's type and message).
runs = Table(
    "runs",
    metadata,
    _pk(),
    Column("id", Uuid, nullable=False, unique=True),
    _owner("models", "model_pk"),
    Column("name", Text),
    Column("status", Text, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("heartbeat_at", Double),
    Column("timeout", Double),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("context", Text, nullable=False, server_default="{}"),
    Column("exit", Text),
    Index("ix_runs_model", "model_pk", "pk"),
    sqlite_autoincrement=True,
)


def _run_column() -> Column[int]:
    """The run a row belongs to (since version 7); NULL for a row written without one."""
    return _owner("runs", "run_pk", nullable=True)


series = Table(
    "series",
    metadata,
    _pk(),
    _owner("models", "model_pk"),
    Column("name", Text, nullable=False),
    Column("phase", Text, nullable=False),
    _run_column(),
    # One series per model, name and phase without a run, and per run, name and phase with
    # one (two partial indexes: a unique constraint takes NULLs as all different).
    Index(
        "ux_series_model",
        "model_pk",
        "name",
        "phase",
        unique=True,
        sqlite_where=text("run_pk IS NULL"),
        postgresql_where=text("run_pk IS NULL"),
    ),
    Index(
        "ux_series_run",
        "run_pk",
        "name",
        "phase",
        unique=True,
        sqlite_where=text("run_pk IS NOT NULL"),
        postgresql_where=text("run_pk IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

metrics = Table(
    "metrics",
    metadata,
    Column("seq", _Key, primary_key=True, autoincrement=True),
    # Not a foreign key: checking one per row would cost PostgreSQL more than half its COPY
    # speed. The store checks (and on PostgreSQL locks) a batch's series once per batch, and
    # deletes a model's points itself, after its series, in the same transaction.
    Column("series_pk", _Key, nullable=False),
    Column("step", BigInteger),
    Column("kind", SmallInteger, nullable=False),
    Column("value", Double),
    Column("extra", Text),
    Column("timestamp", Double, nullable=False),
    # NULL but for imported points, whose UUID is kept; others derive theirs from ``seq``.
    Column("id", Uuid),
    Index("ix_metrics_series", "series_pk", "seq"),
    # No AUTOINCREMENT: it costs a fifth of SQLite's insert speed. SQLite may then reuse the
    # sequence number of the very last point after it was removed.
)

#: The rewinds of runs (since version 8): a run resumed from an earlier checkpoint
#: (``model.runs.start(resume=..., rewind=step)``) supersedes its points at ``step`` and
#: after. ``id`` is the resumption's operation id, so that a retried or replayed resumption
#: finds it and supersedes nothing more (the points logged since are the new values).
run_rewinds = Table(
    "run_rewinds",
    metadata,
    Column("id", Uuid, primary_key=True),
    _owner("runs", "run_pk"),
    Column("step", BigInteger, nullable=False),
    Column("at", Double, nullable=False),
    Index("ix_run_rewinds_run", "run_pk"),
)

#: The points that rewinds superseded (since version 8): the columns of ``metrics`` (a
#: point keeps its ``seq``, so its ordinal and id), and when and by which rewind it was
#: superseded. Ordinary reads never look here: only ``list_metrics`` with ``superseded``.
superseded_metrics = Table(
    "superseded_metrics",
    metadata,
    Column("seq", _Key, primary_key=True, autoincrement=False),
    Column("series_pk", _Key, ForeignKey("series.pk", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger),
    Column("kind", SmallInteger, nullable=False),
    Column("value", Double),
    Column("extra", Text),
    Column("timestamp", Double, nullable=False),
    Column("id", Uuid),
    Column("superseded_at", Double, nullable=False),
    Column("rewind_id", Uuid, ForeignKey("run_rewinds.id", ondelete="CASCADE"), nullable=False),
    Index("ix_superseded_metrics_series", "series_pk", "seq"),
)

#: The ``series_pk`` of the row that holds the place of the ordinals of superseded points
#: in a SQLite store's ``metrics`` (no series has it): SQLite gives a new row the largest
#: ``seq`` plus one, so without it a point logged after a rewind could take the ordinal of
#: a superseded one. It is read by nothing (reads select points by their series).
ORDINAL_FLOOR = 0


#: What each series holds, kept by every write of its points in the same transaction (since
#: version 9; see ``summaries.py``): how many points (``count``, ``nan_count``), its first and
#: last point (in logged order: ``seq``) as the value columns of ``metrics`` hold them, and
#: its lowest and highest number with the step of their first occurrence. One row per series
#: that has points; it goes with its series.
summaries = Table(
    "summaries",
    metadata,
    Column("series_pk", _Key, ForeignKey("series.pk", ondelete="CASCADE"), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("nan_count", BigInteger, nullable=False),
    Column("first_step", BigInteger),
    Column("first_kind", SmallInteger, nullable=False),
    Column("first_value", Double),
    Column("first_extra", Text),
    Column("last_step", BigInteger),
    Column("last_kind", SmallInteger, nullable=False),
    Column("last_value", Double),
    Column("last_extra", Text),
    Column("min_value", Double),
    Column("min_step", BigInteger),
    Column("max_value", Double),
    Column("max_step", BigInteger),
)

iterations = Table(
    "iterations",
    metadata,
    _pk(),
    Column("id", Uuid, nullable=False, unique=True),
    _owner("models", "model_pk"),
    Column("step", BigInteger, nullable=False),
    # Since version 3; NULL for the rows of older stores. Filled in by SQLAlchemy on insert.
    Column("created_at", Double, default=time.time),
    _run_column(),
    Index("ix_iterations_model_step", "model_pk", "step"),
    Index("ix_iterations_run", "run_pk"),
    sqlite_autoincrement=True,
)

modules = Table(
    "modules",
    metadata,
    _pk(),
    Column("id", Uuid, nullable=False, unique=True),
    _owner("models", "model_pk", nullable=True),
    _owner("iterations", "iteration_pk", nullable=True),
    Column("name", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    # Since version 3; NULL for the rows of older stores. Filled in by SQLAlchemy on insert.
    Column("created_at", Double, default=time.time),
    # The run a model's module was logged in; NULL for an iteration's (its iteration has it).
    _run_column(),
    CheckConstraint("(model_pk IS NULL) <> (iteration_pk IS NULL)", name="ck_modules_one_owner"),
    Index("ix_modules_model", "model_pk"),
    Index("ix_modules_iteration", "iteration_pk"),
    Index("ix_modules_run", "run_pk"),
    sqlite_autoincrement=True,
)

#: The ids of the metric batches written lately (since version 2): a batch is written in the
#: same transaction as its id, so a retry of a batch that did commit finds it and skips.
#: ``writer`` (since version 6): the name of the tracking server's token that wrote it, NULL
#: without one (and for the rows of older stores).
write_batches = Table(
    "write_batches",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("written_at", Double, nullable=False, index=True),
    Column("writer", Text),
)

#: The ids of the step increments applied lately (since version 4), with the step each made:
#: an increment with an operation id is applied in the same transaction as its id is noted,
#: so a retry of one that did commit finds it, adds nothing and answers the same step. Not a
#: foreign key (old ids are forgotten as batch ids are), so that no check of older stores
#: looks for it.
step_operations = Table(
    "step_operations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("model_id", Uuid, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("applied_at", Double, nullable=False, index=True),
)

#: References that are not foreign keys (see ``metrics.series_pk``): (referring, referred).
UNENFORCED_REFERENCES = [(metrics.c.series_pk, series.c.pk)]


def pk_of(table: Table, row_id: UUID) -> ScalarSelect[Any]:
    """The ``pk`` of the row of ``table`` whose ``id`` is ``row_id``, as a scalar subquery
    (NULL when there is none)."""
    return select(table.c.pk).where(table.c.id == row_id).scalar_subquery()
