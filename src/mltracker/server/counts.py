"""How many metric points a store holds, per experiment or per series, and how many of a
series are NaN, for the dashboard.

The store's port reads points but does not count them; counting by reading would cost a
read of every point. For a SQL store the count is one aggregate query over the index of
``(series_pk, seq)``; for any other store the counts are unknown (``None``) and the
dashboard leaves them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from mltracker.ports.store import Store

#: How many model ids one query binds.
_IDS_PER_QUERY = 5000


def points_per_experiment(store: Store) -> dict[UUID, int] | None:
    """The number of points of each experiment that has any, or ``None`` when the store
    cannot count them."""
    sql = _sql(store)
    if sql is None:
        return None
    import sqlalchemy as sa

    from mltracker.backends.sql import engine as engines
    from mltracker.backends.sql.schema import experiments, metrics, models, series

    # A count per series from the index on (series_pk, seq), summed per experiment: a join
    # of every point with its series would cost several times more.
    points = sa.select(sa.func.count()).where(metrics.c.series_pk == series.c.pk).scalar_subquery()
    query = (
        sa.select(experiments.c.id, sa.func.sum(points))
        .select_from(
            series.join(models, models.c.pk == series.c.model_pk).join(
                experiments, experiments.c.pk == models.c.experiment_pk
            )
        )
        .group_by(experiments.c.id)
    )

    def count(connection: Any) -> dict[UUID, int]:
        return {row[0]: int(row[1] or 0) for row in connection.execute(query)}

    return engines.run(sql, count, write=False)


def points_per_series(
    store: Store, model_ids: Sequence[UUID]
) -> dict[tuple[UUID, str, str | None], int] | None:
    """The number of points of each series (model id, name, phase: of every run) of some
    models, or ``None`` when the store cannot count them."""
    sql = _sql(store)
    if sql is None:
        return None
    import sqlalchemy as sa

    from mltracker.backends.sql import engine as engines
    from mltracker.backends.sql.metrics import phase_out
    from mltracker.backends.sql.schema import metrics, models, series

    wanted = list(dict.fromkeys(model_ids))

    def count(connection: Any) -> dict[tuple[UUID, str, str | None], int]:
        found: dict[tuple[UUID, str, str | None], int] = {}
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            points = (
                sa.select(sa.func.count())
                .where(metrics.c.series_pk == series.c.pk)
                .scalar_subquery()
            )
            query = (
                sa.select(models.c.id, series.c.name, series.c.phase, points)
                .select_from(series.join(models, models.c.pk == series.c.model_pk))
                .where(models.c.id.in_(wanted[start : start + _IDS_PER_QUERY]))
            )
            for model_id, name, phase, number in connection.execute(query):
                key = (model_id, name, phase_out(phase))  # a series of each run, summed
                found[key] = found.get(key, 0) + number
        return found

    return engines.run(sql, count, write=False)


def nans_per_series(
    store: Store, model_id: UUID
) -> dict[tuple[str, str | None, UUID | None], int] | None:
    """The number of NaN points of each series of a model that holds any, by name, phase and
    run (``None``: the points of no run), or ``None`` when the store cannot count them. Read
    from the series' summaries (a row per series); a store older than them (read only, not
    upgraded) is counted by reading every point of the model (a NaN is a float point without
    a value: no index holds it)."""
    sql = _sql(store)
    if sql is None:
        return None
    import sqlalchemy as sa

    from mltracker.backends.sql import engine as engines
    from mltracker.backends.sql.metrics import phase_out
    from mltracker.backends.sql.schema import metrics, models, runs, series, summaries
    from mltracker.values import FLOAT

    def query(summarised: bool) -> Any:
        of_model = series.join(models, models.c.pk == series.c.model_pk).outerjoin(
            runs, runs.c.pk == series.c.run_pk
        )
        if summarised:
            return (
                sa.select(series.c.name, series.c.phase, runs.c.id, summaries.c.nan_count)
                .select_from(of_model.join(summaries, summaries.c.series_pk == series.c.pk))
                .where(models.c.id == model_id, summaries.c.nan_count > 0)
            )
        return (
            sa.select(series.c.name, series.c.phase, runs.c.id, sa.func.count())
            .select_from(of_model.join(metrics, metrics.c.series_pk == series.c.pk))
            .where(models.c.id == model_id, metrics.c.kind == FLOAT, metrics.c.value.is_(None))
            .group_by(series.c.pk, series.c.name, series.c.phase, runs.c.id)
        )

    def count(connection: Any) -> dict[tuple[str, str | None, UUID | None], int]:
        summarised = sa.inspect(connection).has_table(summaries.name)
        return {
            (name, phase_out(phase), run_id): int(number)
            for name, phase, run_id, number in connection.execute(query(summarised))
        }

    return engines.run(sql, count, write=False)


def _sql(store: Store) -> Any:
    """The engine of a SQL store whose tables exist, else ``None``."""
    try:
        from mltracker.backends.sql.store import SqlStore
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if not isinstance(store, SqlStore) or not store.list_experiments():
        return None
    return store.engine
