"""The summary of each series (since schema version 8): kept by every write of points, in the
same transaction, so that a search over runs reads one row per series instead of its points.

What a summary holds (see ``schema.summaries`` and ``mltracker.summaries.Summary``):

- ``count``: every point of the series; ``nan_count``: its float NaN points.
- ``first`` and ``last``: the point logged first and last (in logged order, the order of
  ``metrics.seq``: ``last`` is the point ``metrics.latest()`` reads), with their steps.
- ``min`` and ``max``: over the points that hold a number (floats but NaN, ints, bools as 0 and
  1; strings and other JSON values are not numbers), with the step of the first point (in
  logged order) that holds them: ``argmin``, ``argmax``. ``None`` when there is no such point.

A batch of points adds to the summaries of its series by one upsert whose update combines the
stored summary with the batch's (sums of counts, the lower of the minimums, ...). The upsert
comes before the points are inserted and its rows are in the order of the series' keys: on
PostgreSQL it locks each summary row until the commit, so that two writers of one series take
turns and a batch's points are always logged after those its summary was combined with (its
last point is the series' last, and ties of ``min`` and ``max`` go to the earlier point);
SQLite's write lock already serialises writers. Whatever changes points otherwise (a point
removed, a model's points cleared, an import) calls :func:`recompute`, which rebuilds the
summaries of some series from their points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from mltracker.backends.sql.engine import uuid_from_driver
from mltracker.backends.sql.schema import metrics, runs, series, summaries
from mltracker.entities import Summary
from mltracker.ports.store import Point
from mltracker.values import FLOAT, decode_value

#: The columns of a summary row, in the order of the tuples :func:`batch_rows` makes.
COLUMNS = (
    "series_pk",
    "count",
    "nan_count",
    "first_step",
    "first_kind",
    "first_value",
    "first_extra",
    "last_step",
    "last_kind",
    "last_value",
    "last_extra",
    "min_value",
    "min_step",
    "max_value",
    "max_step",
)


def batch_rows(points: Sequence[Point]) -> list[tuple[Any, ...]]:
    """The summary of each series of a batch of points (whose series have keys), ordered by
    the series' keys (see the module docstring). This runs on the path of every
    ``metrics.log``: a batch of one series (the common case) is summarised by C loops over
    its values (``min``, ``max``, ``index``), a few tens of nanoseconds a point."""
    if not points:  # every point was of a model deleted meanwhile
        return []
    entries = list(map(_ENTRY, points))
    if entries.count(entries[0]) == len(entries):
        groups: dict[Any, list[Point]] = {entries[0].handle: list(points)}
    else:
        groups = {}
        for point in points:
            handle = point[0].handle
            group = groups.get(handle)
            if group is None:
                groups[handle] = [point]
            else:
                group.append(point)
    return [_summary_row(handle, groups[handle]) for handle in sorted(groups)]


_ENTRY = itemgetter(0)
_VALUE = itemgetter(3)


def _summary_row(handle: Any, group: list[Point]) -> tuple[Any, ...]:
    """The summary row of a series' points of one batch."""
    values = list(map(_VALUE, group))
    nan_count = 0
    try:  # plain numbers (the common case): C loops only
        low, high = min(values), max(values)
        plain = low is not None
    except TypeError:  # a None among them: NaN, or a JSON value (no float column)
        plain = False
    if not plain:
        numbers = [value for value in values if value is not None]
        nan_count = sum(1 for point in group if point[3] is None and point[2] == FLOAT)
        low, high = (min(numbers), max(numbers)) if numbers else (None, None)
    low_step = high_step = None
    if low is not None:
        low_step = group[values.index(low)][1]  # the first point that holds it
        high_step = group[values.index(high)][1]
    _entry, first_step, first_kind, first_value, first_extra, _ = group[0]
    _entry, last_step, last_kind, last_value, last_extra, _ = group[-1]
    return (
        handle,
        len(values),
        nan_count,
        first_step,
        first_kind,
        first_value,
        first_extra,
        last_step,
        last_kind,
        last_value,
        last_extra,
        low,
        low_step,
        high,
        high_step,
    )


def _upsert(connection: Connection) -> Any:
    """An ``INSERT ... ON CONFLICT (series_pk) DO UPDATE`` that combines a row with the stored
    summary, for the connection's dialect (made once per dialect)."""
    name = connection.dialect.name
    found = _UPSERTS.get(name)
    if found is None:
        found = _UPSERTS[name] = _make_upsert(name)
    return found


_UPSERTS: dict[str, Any] = {}


def _make_upsert(name: str) -> Any:
    dialect = postgresql if name == "postgresql" else sqlite
    insert = dialect.insert(summaries)
    new = insert.excluded
    old = summaries.c
    lower = sa.or_(old.min_value.is_(None), new.min_value < old.min_value)
    higher = sa.or_(old.max_value.is_(None), new.max_value > old.max_value)
    empty = old.count == 0

    def pick(condition: Any, column: str) -> Any:
        return sa.case((condition, new[column]), else_=old[column])

    combined = {
        "count": old.count + new.count,
        "nan_count": old.nan_count + new.nan_count,
        **{column: pick(empty, column) for column in COLUMNS[3:7]},
        **{column: new[column] for column in COLUMNS[7:11]},
        "min_value": pick(lower, "min_value"),
        "min_step": pick(lower, "min_step"),
        "max_value": pick(higher, "max_value"),
        "max_step": pick(higher, "max_step"),
    }
    return insert.on_conflict_do_update(index_elements=[old.series_pk], set_=combined)


def add_batch(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Combine the summaries of a batch (:func:`batch_rows`) with the stored ones."""
    if rows:
        named = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        connection.execute(_upsert(connection), named)


# Rebuilding from the points ------------------------------------------------------------------
#: How many series one rebuilding statement covers.
_SERIES_PER_STATEMENT = 500


def _rebuild_select(series_pks: Sequence[int]) -> sa.Select[Any]:
    """The summary of each of these series that has points, from its points, in SQL."""
    point = metrics.alias("point")
    numeric = point.c.value.is_not(None)

    def chosen(*order: Any, numbers_only: bool = False) -> Any:
        """The first point of the series in this order (of its numbers only)."""
        return (
            sa.select(point.c.seq)
            .where(point.c.series_pk == series.c.pk, *([numeric] if numbers_only else []))
            .order_by(*order)
            .limit(1)
            .scalar_subquery()
        )

    first = metrics.alias("first_point")
    last = metrics.alias("last_point")
    low = metrics.alias("low_point")
    high = metrics.alias("high_point")
    counts = (
        sa.select(
            point.c.series_pk.label("series_pk"),
            sa.func.count().label("count"),
            sa.func.count(
                sa.case((sa.and_(point.c.kind == FLOAT, point.c.value.is_(None)), 1))
            ).label("nan_count"),
        )
        .where(point.c.series_pk.in_(list(series_pks)))
        .group_by(point.c.series_pk)
        .subquery("counts")
    )
    # Ties of the lowest and highest go to the earlier point, as when they are written.
    keys = (
        sa.select(
            series.c.pk.label("series_pk"),
            chosen(point.c.seq.asc()).label("first_seq"),
            chosen(point.c.seq.desc()).label("last_seq"),
            chosen(point.c.value.asc(), point.c.seq.asc(), numbers_only=True).label("low_seq"),
            chosen(point.c.value.desc(), point.c.seq.asc(), numbers_only=True).label("high_seq"),
        )
        .where(series.c.pk.in_(list(series_pks)))
        .subquery("keys")
    )
    return sa.select(
        counts.c.series_pk,
        counts.c.count,
        counts.c.nan_count,
        first.c.step,
        first.c.kind,
        first.c.value,
        first.c.extra,
        last.c.step,
        last.c.kind,
        last.c.value,
        last.c.extra,
        low.c.value,
        low.c.step,
        high.c.value,
        high.c.step,
    ).select_from(
        counts.join(keys, keys.c.series_pk == counts.c.series_pk)
        .join(first, first.c.seq == keys.c.first_seq)
        .join(last, last.c.seq == keys.c.last_seq)
        .outerjoin(low, low.c.seq == keys.c.low_seq)
        .outerjoin(high, high.c.seq == keys.c.high_seq)
    )


def recompute(
    connection: Connection,
    series_pks: Iterable[int] | None = None,
    *,
    run_pk: int | None = None,
    model_pk: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Rebuild the summaries of some series from the points that ``metrics`` holds now: those
    of ``series_pks``, and every series of the run ``run_pk`` and of the model ``model_pk``
    (with none of them given: every series of the store). A series without points is left
    without a summary. ``progress(done, total)`` is told the series done so far.

    This is what a change of points other than a write of new ones (a point removed, points
    moved out of ``metrics``, restored or imported) calls, in its own transaction.
    """
    wanted: list[int] = [] if series_pks is None else list(series_pks)
    if run_pk is not None:
        wanted += connection.execute(
            sa.select(series.c.pk).where(series.c.run_pk == run_pk)
        ).scalars()
    if model_pk is not None:
        wanted += connection.execute(
            sa.select(series.c.pk).where(series.c.model_pk == model_pk)
        ).scalars()
    if series_pks is None and run_pk is None and model_pk is None:
        wanted = list(connection.execute(sa.select(series.c.pk)).scalars())
    chosen = sorted(set(wanted))
    for start in range(0, len(chosen), _SERIES_PER_STATEMENT):
        chunk = chosen[start : start + _SERIES_PER_STATEMENT]
        connection.execute(sa.delete(summaries).where(summaries.c.series_pk.in_(chunk)))
        connection.execute(sa.insert(summaries).from_select(list(COLUMNS), _rebuild_select(chunk)))
        if progress is not None:
            progress(start + len(chunk), len(chosen))


# Reading ------------------------------------------------------------------------------------
#: How many runs one read of summaries binds.
_RUNS_PER_QUERY = 1000


def read_summaries(connection: Connection, run_ids: Sequence[UUID]) -> list[Summary]:
    """The summaries of the series of these runs, by run (in the order given), then series
    (in the order they were made); a run that is not there has none."""
    wanted = list(dict.fromkeys(run_ids))
    if not wanted or not sa.inspect(connection).has_table(summaries.name):
        return []
    found: dict[UUID, list[Summary]] = {run_id: [] for run_id in wanted}
    column = summaries.c
    for start in range(0, len(wanted), _RUNS_PER_QUERY):
        chunk = wanted[start : start + _RUNS_PER_QUERY]
        query = (
            sa.select(runs.c.id, series.c.name, series.c.phase, *(column[c] for c in COLUMNS[1:]))
            .select_from(
                summaries.join(series, series.c.pk == column.series_pk).join(
                    runs, runs.c.pk == series.c.run_pk
                )
            )
            .where(runs.c.id.in_(chunk))
            .order_by(series.c.pk)
        )
        for row in connection.execute(query):
            run_id = uuid_from_driver(row[0])
            assert run_id is not None
            found[run_id].append(
                Summary(
                    run_id,
                    row[1],
                    None if row[2] == "" else row[2],
                    row[3],
                    row[4],
                    decode_value(row[6], row[7], row[8]),
                    decode_value(row[10], row[11], row[12]),
                    row[5],
                    row[9],
                    row[13],
                    row[15],
                    row[14],
                    row[16],
                )
            )
    return [summary for run_id in wanted for summary in found[run_id]]
