"""The metric points of a SQL store: the fast path that writes them, and their reads.

A batch of points is written in one transaction with the driver's bulk path
(:func:`~mltracker.backends.sql.engine.bulk_insert`); the key of each series is cached on
the ``Series`` objects of the writer's queue, so a batch whose series are known costs two
statements. :func:`series_key` is the one place where a series is found or created, for
this path and for a restore. Reads build ``Metric`` objects from the driver's plain tuples.
The functions take the connection of a transaction that the store opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import maintenance, summaries
from mltracker.backends.sql.engine import uuid_from_driver
from mltracker.backends.sql.rewinds import keeps_superseded
from mltracker.backends.sql.runs import keeps_runs, run_key
from mltracker.backends.sql.schema import (
    metrics,
    models,
    pk_of,
    runs,
    series,
    superseded_metrics,
    write_batches,
)
from mltracker.backends.sql.schema import summaries as summaries_table
from mltracker.collector import collector_paused
from mltracker.columnar import EXTRA_FLAG
from mltracker.entities import Metric, parse_metric_id, stamp_matches
from mltracker.errors import MLTrackerError, NotFoundError
from mltracker.ports.metrics import NO_PHASE
from mltracker.ports.store import BatchRow, MetricColumns, MetricFilter, Point, Series
from mltracker.values import BOOL, FLOAT, INT, decode_value

#: How the store runs an operation in a write transaction (``SqlStore._write``).
WriteTransaction = Callable[[Callable[[Connection], list[Series]]], list[Series]]

#: A missing phase, as ``series.phase`` holds it (see ``schema``).
_NO_PHASE = ""

#: What a read knows of a series: its name, phase and run (``None``: of no run).
SeriesKey = tuple[str, str | None, UUID | None]


def phase_in(phase: str | None) -> str:
    """A phase as ``series.phase`` stores it."""
    return _NO_PHASE if phase is None else phase


def phase_out(phase: str) -> str | None:
    """A phase as ``series.phase`` stores it, back as the API shows it."""
    return None if phase == _NO_PHASE else phase


def series_key(
    connection: Connection,
    model_pk: int,
    name: str,
    phase: str | None,
    run_pk: int | None = None,
) -> int | None:
    """The key of a model's series (of a run, or of none), created if absent; ``None`` if
    the model is gone.

    The insert runs in a savepoint: when another writer created the series meanwhile, or
    deleted the model, the transaction goes on and the series is looked up again.
    """
    stored_phase = phase_in(phase)
    key = (
        series.c.model_pk == model_pk,
        series.c.name == name,
        series.c.phase == stored_phase,
        series.c.run_pk.is_(None) if run_pk is None else series.c.run_pk == run_pk,
    )
    found = connection.execute(sa.select(series.c.pk).where(*key)).scalar()
    if found is not None:
        return int(found)
    insert = (
        sa.insert(series)
        .values(model_pk=model_pk, name=name, phase=stored_phase, run_pk=run_pk)
        .returning(series.c.pk)
    )
    try:
        with connection.begin_nested():
            return int(connection.execute(insert).scalar_one())
    except sa.exc.IntegrityError:
        found = connection.execute(sa.select(series.c.pk).where(*key)).scalar()
        return None if found is None else int(found)


# Writing ---------------------------------------------------------------------------------
class _StaleSeries(MLTrackerError):
    """A cached series key no longer exists (its model was deleted by someone)."""


_METRIC_INSERT = engines.BulkInsert(
    metrics,
    ("series_pk", "step", "kind", "value", "extra", "timestamp"),
    ("int8", "int8", "int2", "float8", "text", "float8"),
)


class PointWriter:
    """Writes batches of points into one store; counts the batch ids it noted, so that
    every thousandth one also forgets the old ones (``maintenance.forget_old_batch_ids``)."""

    def __init__(self) -> None:
        self._batches_noted = 0

    def write(
        self,
        transaction: WriteTransaction,
        points: Sequence[Point],
        batch_id: UUID | None,
        writer: str | None = None,
        part_of: Sequence[UUID] = (),
    ) -> None:
        """Write ``points`` in one transaction run by ``transaction``; a batch id that was
        written already, or the id of a batch it is a part of (``part_of``), makes it a no-op.
        The batch id is noted with ``writer`` (a batch of a
        writer but no id is noted under a new id, so that who wrote it is kept). If a cached
        series key went stale (its model was deleted by someone), the series are looked up
        again and the batch written again.

        Raises:
            NotFoundError: Some points were of models that no longer exist; the others
                were written.
        """
        if not points:
            return
        if batch_id is None and writer is not None:
            batch_id = uuid4()

        def insert(connection: Connection) -> list[Series]:
            return self._insert(connection, points, batch_id, writer, part_of)

        try:
            missing = transaction(insert)
        except _StaleSeries:  # a cached series vanished with its model: look them up again
            for point in points:
                point[0].handle = None
            missing = transaction(insert)
        if missing:
            names = ", ".join(sorted({str(s.model_id) for s in missing}))
            raise NotFoundError(f"metric points of deleted models were dropped: {names}")

    def _insert(
        self,
        connection: Connection,
        points: Sequence[Point],
        batch_id: UUID | None,
        writer: str | None,
        part_of: Sequence[UUID],
    ) -> list[Series]:
        """Insert the points of models that exist; return the series of those that do not."""
        if batch_id is not None and self._batch_written(connection, batch_id, writer, part_of):
            return []
        missing = resolve_series(connection, points)
        if missing:
            points = [point for point in points if point[0].handle is not None]
        handles = {point[0].handle for point in points}
        # The series must exist until we commit: PostgreSQL locks them against a concurrent
        # delete (which deletes series before points); SQLite's write lock already does.
        check = sa.select(sa.func.count()).select_from(
            engines.locked_against_delete(
                sa.select(series.c.pk).where(series.c.pk.in_(handles))
            ).subquery()
        )
        if handles and connection.execute(check).scalar_one() != len(handles):
            raise _StaleSeries("a series of the batch was deleted")
        # Before the points: on PostgreSQL this locks the summaries of the batch's series, so
        # that concurrent writers of a series take turns (see ``summaries``).
        summaries.add_batch(connection, summaries.batch_rows(points))
        # The rows are made as the driver takes them: a list of them would hold a second
        # tuple per point while the batch is written.
        rows = (
            (s.handle, step, kind, value, extra, ts) for s, step, kind, value, extra, ts in points
        )
        engines.bulk_insert(connection, _METRIC_INSERT, rows)
        return missing

    def _batch_written(
        self, connection: Connection, batch_id: UUID, writer: str | None, part_of: Sequence[UUID]
    ) -> bool:
        """Whether the batch, or a batch it is a part of, was written; if not, note it as
        written by this transaction (and by ``writer``)."""
        found = connection.execute(
            sa.select(write_batches.c.id).where(write_batches.c.id.in_([batch_id, *part_of]))
        ).first()
        if found is not None:
            return True
        now = time.time()
        connection.execute(
            sa.insert(write_batches).values(id=batch_id, written_at=now, writer=writer)
        )
        self._batches_noted += 1
        if self._batches_noted % 1000 == 0:
            maintenance.forget_old_batch_ids(connection, now)
        return False


def list_batches(connection: Connection, writer: str | None, limit: int) -> list[BatchRow]:
    """The ids of the batches written lately, newest first (see ``Store.list_batches``); a
    store older than the column of writers (version 6) reads its batches without one, and
    one older than the table (version 2) has none."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(write_batches.name):
        return []
    kept = {column["name"] for column in inspector.get_columns(write_batches.name)}
    if "writer" not in kept:
        if writer is not None:
            return []
        statement = sa.select(write_batches.c.id, write_batches.c.written_at, sa.null())
    else:
        columns = (write_batches.c.id, write_batches.c.written_at, write_batches.c.writer)
        statement = sa.select(*columns)
        if writer is not None:
            statement = statement.where(write_batches.c.writer == writer)
    statement = statement.order_by(write_batches.c.written_at.desc()).limit(limit)
    return [BatchRow(row[0], row[1], row[2]) for row in connection.execute(statement)]


def resolve_series(connection: Connection, points: Sequence[Point]) -> list[Series]:
    """Set the key of each series of ``points`` that has none; return those whose model is
    gone (their key stays ``None``)."""
    unresolved = {id(p[0]): p[0] for p in points if p[0].handle is None}
    missing: list[Series] = []
    now = time.time()
    for entry in unresolved.values():
        model_pk = connection.execute(
            sa.select(models.c.pk).where(models.c.id == entry.model_id)
        ).scalar()
        if model_pk is not None:
            run_pk = None
            if entry.run_id is not None:
                run_pk = run_key(connection, model_pk, entry.run_id, now)
            entry.handle = series_key(connection, model_pk, entry.name, entry.phase, run_pk)
        if entry.handle is None:
            missing.append(entry)
    return missing


# Deleting --------------------------------------------------------------------------------
def delete_points_of_models(connection: Connection, model_pks: sa.Select[Any]) -> None:
    """Delete the series and points of some models (their other rows cascade).

    On PostgreSQL, the models are locked first, which waits for any writer that is adding
    a series to them and keeps others from doing so; then the series are deleted, which waits
    for any writer holding them locked; so the next statement sees, and deletes, every point
    that those writers committed.
    """
    connection.execute(
        engines.locked_for_update(sa.select(models.c.pk).where(models.c.pk.in_(model_pks)))
    ).all()
    series_pks = list(
        connection.execute(
            sa.delete(series).where(series.c.model_pk.in_(model_pks)).returning(series.c.pk)
        ).scalars()
    )
    for start in range(0, len(series_pks), 500):
        chunk = series_pks[start : start + 500]
        connection.execute(sa.delete(metrics).where(metrics.c.series_pk.in_(chunk)))


def remove_metric(connection: Connection, model_id: UUID, metric_id: UUID) -> None:
    """Delete one point of a model, by its id.

    Raises:
        NotFoundError: The model has no such point.
    """
    parsed = parse_metric_id(model_id, metric_id)
    owned = sa.select(series.c.pk).where(series.c.model_pk == pk_of(models, model_id))
    if parsed is None:
        match = metrics.c.id == metric_id
    else:
        match = metrics.c.seq == parsed[0]
    found = connection.execute(
        sa.select(metrics.c.seq, metrics.c.timestamp, metrics.c.series_pk).where(
            match, metrics.c.series_pk.in_(owned)
        )
    ).first()
    if found is None or (parsed is not None and not stamp_matches(found[1], parsed[1])):
        raise NotFoundError(f"metric {metric_id} not found in model {model_id}")
    connection.execute(sa.delete(metrics).where(metrics.c.seq == found[0]))
    summaries.recompute(connection, [found[2]])


def clear_metrics(connection: Connection, model_id: UUID) -> None:
    """Delete every point of a model, superseded ones too (its series stay, without
    summaries)."""
    owned = sa.select(series.c.pk).where(series.c.model_pk == pk_of(models, model_id))
    connection.execute(sa.delete(summaries_table).where(summaries_table.c.series_pk.in_(owned)))
    connection.execute(sa.delete(metrics).where(metrics.c.series_pk.in_(owned)))
    if keeps_superseded(connection):
        connection.execute(
            sa.delete(superseded_metrics).where(superseded_metrics.c.series_pk.in_(owned))
        )


# Reading ---------------------------------------------------------------------------------
#: The columns of a point, as every read of points selects them.
POINT_COLUMNS = sa.select(
    metrics.c.seq,
    metrics.c.series_pk,
    metrics.c.step,
    metrics.c.kind,
    metrics.c.value,
    metrics.c.extra,
    metrics.c.timestamp,
    metrics.c.id,
)

#: For the fast read of :func:`list_metrics`: NULL for a plain float (the common case), the
#: kind for an int or a bool that the float column holds exactly, -1 for a point that needs
#: its other columns (NaN, -0.0, big ints, JSON, an imported id).
_SPECIAL = sa.case(
    (
        sa.and_(metrics.c.extra.is_(None), metrics.c.id.is_(None), metrics.c.value.is_not(None)),
        sa.func.nullif(metrics.c.kind, FLOAT),
    ),
    else_=-1,
)
_NEEDS_MORE = -1

#: How many ids (or keys) one query binds.
_IDS_PER_QUERY = 5000


def list_metrics(connection: Connection, model_id: UUID, where: MetricFilter) -> list[Metric]:
    """The points of a model that ``where`` selects, in logged order.

    The query selects what most points need (ordinal, step, float value, timestamp, and the
    series if there are several) and flags the few that need more, which a second query
    completes.
    """
    names = series_of(connection, model_id, where)
    if not names:
        return []
    if where.superseded and keeps_superseded(connection):
        return _with_superseded(connection, names, model_id, where)
    single = len(names) == 1
    columns = [metrics.c.seq, metrics.c.step, metrics.c.value, metrics.c.timestamp, _SPECIAL]
    if not single:
        columns.append(metrics.c.series_pk)
    with collector_paused:  # a million rows, then a million objects: see ``mltracker.collector``
        rows = engines.driver_execute(connection, filtered(sa.select(*columns), names, where))
        built, pending = _build_fast(rows, names, model_id, single)
        del rows
        if pending:
            _complete(connection, built, pending)
    return built


def _build_fast(
    rows: list[tuple[Any, ...]],
    names: dict[int, SeriesKey],
    model_id: UUID,
    single: bool,
) -> tuple[list[Metric], list[int]]:
    """Metrics of the rows of :func:`list_metrics`'s query, and the positions of those that
    need their other columns (their value is a placeholder until :func:`_complete`)."""
    built: list[Metric] = []
    pending: list[int] = []
    append = built.append
    if single:
        name, phase, run_id = next(iter(names.values()))
        for seq, step, value, timestamp, special in rows:
            if special is None:
                append(Metric(name, value, step, phase, timestamp, seq, model_id, None, run_id))
                continue
            if special == INT:
                value = int(value)
            elif special == BOOL:
                value = value != 0.0
            else:
                pending.append(len(built))
            append(Metric(name, value, step, phase, timestamp, seq, model_id, None, run_id))
        return built, pending
    for seq, step, value, timestamp, special, series_pk in rows:
        name, phase, run_id = names[series_pk]
        if special is not None:
            if special == INT:
                value = int(value)
            elif special == BOOL:
                value = value != 0.0
            else:
                pending.append(len(built))
        append(Metric(name, value, step, phase, timestamp, seq, model_id, None, run_id))
    return built, pending


def _complete(connection: Connection, built: list[Metric], pending: list[int]) -> None:
    """Read the value columns and id of the points at ``pending`` and set them."""
    by_seq = {built[position].ordinal: built[position] for position in pending}
    seqs = list(by_seq)
    for start in range(0, len(seqs), _IDS_PER_QUERY):
        query = sa.select(
            metrics.c.seq, metrics.c.kind, metrics.c.value, metrics.c.extra, metrics.c.id
        ).where(metrics.c.seq.in_(seqs[start : start + _IDS_PER_QUERY]))
        for seq, kind, value, extra, id_ in engines.driver_execute(connection, query):
            metric = by_seq[seq]
            metric.value = decode_value(kind, value, extra)
            metric._id = uuid_from_driver(id_)


def _with_superseded(
    connection: Connection, names: dict[int, SeriesKey], model_id: UUID, where: MetricFilter
) -> list[Metric]:
    """:func:`list_metrics` of the points of ``names`` and of those that rewinds
    superseded, in logged order (a superseded point keeps its ordinal), each marked."""
    parts = []
    for table, flag in ((metrics, 0), (superseded_metrics, 1)):
        columns = [table.c[name] for name in _POINT_NAMES]
        part = sa.select(*columns, sa.literal(flag).label("superseded")).where(
            _in_series(table, names), *_in_range(table, where)
        )
        if where.limit is not None:  # each part's first few (a subquery: SQLite's rule)
            limited = part.order_by(table.c.seq).limit(where.limit).subquery()
            part = sa.select(*limited.c)
        parts.append(part)
    both = sa.union_all(*parts).subquery()
    query = sa.select(*both.c).order_by(both.c.seq)
    if where.limit is not None:
        query = query.limit(where.limit)
    built: list[Metric] = []
    for seq, series_pk, step, kind, value, extra, timestamp, id_, flag in connection.execute(query):
        name, phase, run_id = names[series_pk]
        point = Metric(
            name,
            decode_value(kind, value, extra),
            step,
            phase,
            timestamp,
            seq,
            model_id,
            uuid_from_driver(id_),
            run_id,
            superseded=bool(flag),
        )
        built.append(point)
    return built


_POINT_NAMES = ("seq", "series_pk", "step", "kind", "value", "extra", "timestamp", "id")


def metric_columns(connection: Connection, model_id: UUID, where: MetricFilter) -> MetricColumns:
    """The points of a model that ``where`` selects, in logged order, as columns."""
    names = series_names(connection, model_id, where)
    columns = MetricColumns([], [], [], [], [])
    if not names:
        return columns
    rows = engines.driver_execute(connection, filtered(POINT_COLUMNS, names, where))
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


def table_queries(
    names: dict[int, Any], where: MetricFilter
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The selects of a columnar read of the points of some series (see
    ``mltracker.columnar.from_storage``): the columns of every point, then the ``extra`` text
    of those that have one, in the same order. No column can be NULL where its type must be
    guessed from its first values (SQLite's driver does so)."""
    code = sa.case(
        (metrics.c.extra.is_(None), metrics.c.kind), else_=metrics.c.kind + EXTRA_FLAG
    ).label("code")
    columns = [
        metrics.c.step,
        sa.func.coalesce(metrics.c.value, 0.0).label("value"),
        metrics.c.timestamp,
        code,
    ]
    if len(names) > 1:
        columns.append(metrics.c.series_pk)
    points = filtered(sa.select(*columns), names, where)
    chosen = filtered(sa.select(metrics.c.seq, metrics.c.extra), names, where).subquery()
    extras = sa.select(chosen.c.extra).where(chosen.c.extra.is_not(None)).order_by(chosen.c.seq)
    return points, extras


def latest_metrics_of_models(
    connection: Connection,
    model_ids: Sequence[UUID],
    run_id: UUID | None = None,
    *,
    by_run: bool = False,
) -> dict[UUID, list[Metric]]:
    """The last point of each name and phase of each model (of whichever run logged it
    last), in logged order, in a constant number of queries (two per ``_IDS_PER_QUERY``
    models); a model that is not there has none. With ``run_id``, of that run only; with
    ``by_run``, of each run (and of no run) apart."""
    wanted = list(dict.fromkeys(model_ids))
    latest: dict[UUID, list[Metric]] = {model_id: [] for model_id in wanted}
    with_runs = keeps_runs(connection)
    if run_id is not None and not with_runs:
        return latest
    run_column = runs.c.id if with_runs else sa.null()
    joined = series.join(models, models.c.pk == series.c.model_pk)
    if with_runs:
        joined = joined.outerjoin(runs, runs.c.pk == series.c.run_pk)
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        chunk = wanted[start : start + _IDS_PER_QUERY]
        found = connection.execute(
            sa.select(
                series.c.pk, series.c.name, series.c.phase, models.c.pk, models.c.id, run_column
            )
            .select_from(joined)
            .where(
                models.c.id.in_(chunk),
                *([] if run_id is None else [series.c.run_pk == pk_of(runs, run_id)]),
            )
        ).all()
        if not found:
            continue
        names = {
            row[0]: (row[1], phase_out(row[2]), row[4], uuid_from_driver(row[5])) for row in found
        }
        if run_id is None:
            owned = series.c.model_pk.in_(sorted({row[3] for row in found}))
        else:
            owned = series.c.pk.in_(sorted(names))
        query = _latest_points_query(owned)
        # A name and phase has a series per run: its last point is the last of them all
        # (unless each run's is asked for).
        last: dict[tuple[UUID, str, str | None, UUID | None], Metric] = {}
        for point in build_points(engines.driver_execute(connection, query), names):
            run = point.run_id if by_run else None
            last[point.model_id, point.name, point.phase, run] = point  # in logged order
        for point in sorted(last.values(), key=lambda point: point.ordinal):
            latest[point.model_id].append(point)
    return latest


def series_of(connection: Connection, model_id: UUID, where: MetricFilter) -> dict[int, SeriesKey]:
    """The model's series that ``where`` selects: primary key -> (name, phase, run id), in
    one query (a store older than runs has series of no run)."""
    with_runs = keeps_runs(connection)
    if where.run is not None and not with_runs:
        return {}
    query = sa.select(
        series.c.pk, series.c.name, series.c.phase, runs.c.id if with_runs else sa.null()
    ).where(series.c.model_pk == pk_of(models, model_id))
    if with_runs:
        query = query.select_from(series.outerjoin(runs, runs.c.pk == series.c.run_pk))
    if where.name is not None:
        query = query.where(series.c.name == where.name)
    if where.run is not None:
        query = query.where(series.c.run_pk == pk_of(runs, where.run))
    if where.phase is NO_PHASE:
        query = query.where(series.c.phase == _NO_PHASE)
    elif where.phase is not None:
        query = query.where(series.c.phase == where.phase)
    query = query.order_by(series.c.pk)
    return {
        pk: (name, phase_out(phase), uuid_from_driver(run_id))
        for pk, name, phase, run_id in connection.execute(query)
    }


def series_names(
    connection: Connection, model_id: UUID, where: MetricFilter
) -> dict[int, tuple[str, str | None]]:
    """The model's series that ``where`` selects: primary key -> (name, phase)."""
    found = series_of(connection, model_id, where)
    return {pk: (name, phase) for pk, (name, phase, _run) in found.items()}


def in_series(names: dict[int, Any]) -> sa.ColumnElement[bool]:
    """The points of these series."""
    return _in_series(metrics, names)


def _in_series(table: sa.Table, names: dict[int, Any]) -> sa.ColumnElement[bool]:
    if len(names) == 1:
        only: sa.ColumnElement[bool] = table.c.series_pk == next(iter(names))
        return only
    return table.c.series_pk.in_(list(names))


def in_range(where: MetricFilter) -> list[sa.ColumnElement[bool]]:
    """The conditions of ``where`` on a point's step and ordinal."""
    return _in_range(metrics, where)


def _in_range(table: sa.Table, where: MetricFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if where.start_step is not None:
        conditions.append(table.c.step >= where.start_step)
    if where.stop_step is not None:
        conditions.append(table.c.step < where.stop_step)
    if where.after is not None:
        conditions.append(table.c.seq > where.after)
    return conditions


def filtered(columns: sa.Select[Any], names: dict[int, Any], where: MetricFilter) -> sa.Select[Any]:
    """``columns`` of the points of ``names`` that ``where`` selects, in logged order, at
    most ``where.limit`` of them."""
    query = columns.where(in_series(names), *in_range(where)).order_by(metrics.c.seq)
    if where.limit is not None:
        query = query.limit(where.limit)
    return query


def _latest_points_query(owned: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The last point of each series that ``owned`` selects, in logged order.

    A correlated ``max`` per series, which both databases answer from the index on
    ``(series_pk, seq)`` without reading the series' other points.
    """
    inner = metrics.alias("later")
    last = (
        sa.select(sa.func.max(inner.c.seq)).where(inner.c.series_pk == series.c.pk)
    ).scalar_subquery()
    seqs = sa.select(last).where(owned)
    return POINT_COLUMNS.where(metrics.c.seq.in_(seqs)).order_by(metrics.c.seq)


def build_points(
    rows: list[tuple[Any, ...]], names: dict[int, tuple[str, str | None, UUID, UUID | None]]
) -> list[Metric]:
    """Metrics of rows of :data:`POINT_COLUMNS`: ``names`` maps a series to its name, phase,
    model and run."""
    built: list[Metric] = []
    for seq, series_pk, step, kind, value, extra, timestamp, id_ in rows:
        name, phase, model_id, run_id = names[series_pk]
        value = decode_value(kind, value, extra)
        built.append(
            Metric(
                name, value, step, phase, timestamp, seq, model_id, uuid_from_driver(id_), run_id
            )
        )
    return built
