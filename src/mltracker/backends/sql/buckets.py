"""A point budget per series, computed by the database (``Store.metric_buckets``).

For each series of the selection, one aggregate query counts its points and finds its step
range. A series within the budget is read whole. A longer one is cut into buckets of equal
width over that range (or over its logged order when some of its points have no step):
one query groups its points by bucket, keeping each bucket's first and last ordinal, lowest
and highest value and first NaN, and looks up, in the same statement, the first point of
each bucket that holds its lowest or highest value. The points chosen are then read by
ordinal. Both databases compute the bucket of a step with the same float arithmetic
(``engine.bucket_index``), so they choose the same points.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql.metrics import (
    POINT_COLUMNS,
    filtered,
    in_range,
    in_series,
    series_of,
)
from mltracker.backends.sql.schema import metrics
from mltracker.entities import Metric
from mltracker.errors import InvalidArgumentError
from mltracker.ports.store import MIN_BUDGET, MetricFilter
from mltracker.values import FLOAT, decode_value

#: How many ordinals one query binds.
_ORDINALS_PER_QUERY = 5000


def metric_buckets(
    connection: Connection, model_id: UUID, where: MetricFilter, budget: int
) -> list[Metric]:
    """The points of a model that ``where`` selects, at most ``budget`` per series (see
    ``Store.metric_buckets``: a series of each run), in logged order."""
    if budget < MIN_BUDGET:
        raise InvalidArgumentError(f"the point budget must be at least {MIN_BUDGET}, not {budget}")
    names = series_of(connection, model_id, where)
    if not names:
        return []
    where = MetricFilter(where.name, where.phase, where.start_step, where.stop_step, where.after)
    whole: dict[int, Any] = {}
    chosen: set[int] = set()
    for series_pk, count, stepped, low, high, nans in connection.execute(
        sa.select(
            metrics.c.series_pk,
            sa.func.count(),
            sa.func.count(metrics.c.step),
            sa.func.min(metrics.c.step),
            sa.func.max(metrics.c.step),
            sa.func.count(_nan_seq()),
        )
        .where(in_series(names), *in_range(where))
        .group_by(metrics.c.series_pk)
    ):
        if count <= budget:
            whole[series_pk] = names[series_pk]
            continue
        buckets = max(1, budget // (5 if nans else 4))
        if stepped == count:
            position: Any = sa.cast(metrics.c.step, sa.Double)
            start, width = float(low), float(high) - float(low) + 1.0
        else:  # some points have no step: buckets over the logged order
            position = sa.cast(sa.func.row_number().over(order_by=metrics.c.seq) - 1, sa.Double)
            start, width = 0.0, float(count)
        chosen.update(_bucket_points(connection, series_pk, where, position, start, width, buckets))
    rows: list[tuple[Any, ...]] = []
    if whole:
        rows.extend(engines.driver_execute(connection, filtered(POINT_COLUMNS, whole, where)))
    ordinals = sorted(chosen)
    for begin in range(0, len(ordinals), _ORDINALS_PER_QUERY):
        part = ordinals[begin : begin + _ORDINALS_PER_QUERY]
        rows.extend(
            engines.driver_execute(connection, POINT_COLUMNS.where(metrics.c.seq.in_(part)))
        )
    rows.sort(key=lambda row: row[0])
    return [
        Metric(
            names[series_pk][0],
            decode_value(kind, value, extra),
            step,
            names[series_pk][1],
            timestamp,
            seq,
            model_id,
            engines.uuid_from_driver(id_),
            names[series_pk][2],
        )
        for seq, series_pk, step, kind, value, extra, timestamp, id_ in rows
    ]


def _nan_seq() -> sa.ColumnElement[Any]:
    """A point's ordinal if its value is NaN (stored as a NULL float, see ``values``)."""
    return sa.case(
        (sa.and_(metrics.c.kind == FLOAT, metrics.c.value.is_(None)), metrics.c.seq),
        else_=sa.null(),
    )


def _bucket_points(
    connection: Connection,
    series_pk: int,
    where: MetricFilter,
    position: Any,
    start: float,
    width: float,
    buckets: int,
) -> set[int]:
    """The ordinals a long series keeps: per bucket its first, last, first NaN, and the
    first points of its lowest and highest values."""
    bucket = engines.bucket_index(connection, position, start, width, buckets)
    points = (
        sa.select(
            metrics.c.seq.label("seq"),
            metrics.c.value.label("value"),
            metrics.c.kind.label("kind"),
            bucket.label("bucket"),
        )
        .where(metrics.c.series_pk == series_pk, *in_range(where))
        .cte("points")
    )
    nan = sa.case(
        (sa.and_(points.c.kind == FLOAT, points.c.value.is_(None)), points.c.seq), else_=sa.null()
    )
    summary = (
        sa.select(
            points.c.bucket.label("bucket"),
            sa.func.min(points.c.seq).label("first"),
            sa.func.max(points.c.seq).label("last"),
            sa.func.min(nan).label("nan"),
            sa.func.min(points.c.value).label("low"),
            sa.func.max(points.c.value).label("high"),
        )
        .group_by(points.c.bucket)
        .cte("summary")
    )
    extremes = (
        sa.select(sa.func.min(points.c.seq))
        .select_from(
            points.join(
                summary,
                sa.and_(
                    points.c.bucket == summary.c.bucket,
                    sa.or_(points.c.value == summary.c.low, points.c.value == summary.c.high),
                ),
            )
        )
        .group_by(points.c.bucket, points.c.value)
    )
    kept = sa.union(
        sa.select(summary.c.first),
        sa.select(summary.c.last),
        sa.select(summary.c.nan).where(summary.c.nan.is_not(None)),
        extremes,
    )
    return set(connection.execute(kept).scalars())
