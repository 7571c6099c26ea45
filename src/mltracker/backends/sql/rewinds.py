"""The rewind of a resumed run (since schema version 8): its points from a step on are
superseded, moved from ``metrics`` into ``superseded_metrics`` (see ``schema``), so that the
ordinary reads of points, which read ``metrics`` only, are what they were.

:func:`rewind_run` runs in the transaction of the run's resumption (``runs.resume_run``).
It is idempotent by the resumption's operation id, noted in ``run_rewinds``: a retried or
replayed resumption supersedes nothing more, and the points logged since its first
application stay the run's values.
"""

from __future__ import annotations

import weakref

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import summaries
from mltracker.backends.sql.schema import (
    ORDINAL_FLOOR,
    metrics,
    run_rewinds,
    series,
    superseded_metrics,
)
from mltracker.ports.store import Rewind

#: The schema version that added rewinds.
REWINDS_VERSION = 8

#: The engines whose store was seen with the table of superseded points (a schema is never
#: downgraded, so it is not looked up again).
_WITH_SUPERSEDED: weakref.WeakSet[Engine] = weakref.WeakSet()

#: The columns a superseded point keeps of ``metrics``.
_POINT = ("seq", "series_pk", "step", "kind", "value", "extra", "timestamp", "id")


def note_version(engine: Engine, version: int | None) -> None:
    """What a store knows of its schema version (see ``runs.note_version``)."""
    if version is not None and version >= REWINDS_VERSION:
        _WITH_SUPERSEDED.add(engine)


def keeps_superseded(connection: Connection) -> bool:
    """Whether the store has the table of superseded points (version 8 or later),
    remembered per engine once true."""
    engine = connection.engine
    if engine in _WITH_SUPERSEDED:
        return True
    if not sa.inspect(connection).has_table(superseded_metrics.name):
        return False
    _WITH_SUPERSEDED.add(engine)
    return True


def rewind_run(connection: Connection, run_pk: int, rewind: Rewind, at: float) -> int:
    """Supersede the points of the run of key ``run_pk`` at ``rewind.step`` and after (with
    ``rewind.since``, only those whose timestamp is later), as stored now: they move to
    ``superseded_metrics`` with when (``at``) and by which rewind; points without a step
    stay. Returns how many points were superseded: 0 for a rewind applied already (a
    retry or a replay of the same resumption).
    """
    applied = connection.execute(
        sa.select(run_rewinds.c.id).where(run_rewinds.c.id == rewind.id)
    ).first()
    if applied is not None:
        return 0
    connection.execute(
        sa.insert(run_rewinds).values(id=rewind.id, run_pk=run_pk, step=rewind.step, at=at)
    )
    owned = sa.select(series.c.pk).where(series.c.run_pk == run_pk)
    chosen = [metrics.c.series_pk.in_(owned), metrics.c.step >= rewind.step]
    if rewind.since is not None:
        chosen.append(metrics.c.timestamp > rewind.since)
    columns = [metrics.c[name] for name in _POINT]
    marks = (
        sa.literal(at, sa.Double).label("superseded_at"),
        sa.literal(rewind.id, sa.Uuid).label("rewind_id"),
    )
    target = [*_POINT, "superseded_at", "rewind_id"]
    if not engines.is_sqlite(connection.engine):
        # One statement: the rows deleted are the rows kept, even if another writer adds
        # points to the run meanwhile (SQLite's write lock keeps any other writer out).
        deleted = sa.delete(metrics).where(*chosen).returning(*columns).cte("moved")
        moved = sa.select(*(deleted.c[name] for name in _POINT), *marks)
        done = connection.execute(sa.insert(superseded_metrics).from_select(target, moved))
        if done.rowcount:
            summaries.recompute(connection, run_pk=run_pk)  # of the points that stay
        return int(done.rowcount)
    done = connection.execute(
        sa.insert(superseded_metrics).from_select(
            target, sa.select(*columns, *marks).where(*chosen)
        )
    )
    count = done.rowcount
    if not count:
        return 0
    connection.execute(sa.delete(metrics).where(*chosen))
    _keep_ordinal_floor(connection)
    summaries.recompute(connection, run_pk=run_pk)  # of the points that stay
    return int(count)


def _keep_ordinal_floor(connection: Connection) -> None:
    """Keep SQLite from giving a later point the ordinal of a superseded one: SQLite gives a
    new row the largest ``seq`` plus one, so one row of no series
    (:data:`~mltracker.backends.sql.schema.ORDINAL_FLOOR`) stays at the largest ordinal of
    the superseded points (floors below it go: one is enough)."""
    top = connection.execute(sa.select(sa.func.max(superseded_metrics.c.seq))).scalar()
    if top is None:
        return
    floors = metrics.c.series_pk == ORDINAL_FLOOR
    connection.execute(sa.delete(metrics).where(floors, metrics.c.seq < top))
    there = connection.execute(sa.select(metrics.c.seq).where(metrics.c.seq == top)).first()
    if there is None:
        connection.execute(
            sa.insert(metrics).values(seq=top, series_pk=ORDINAL_FLOOR, kind=0, timestamp=0.0)
        )
