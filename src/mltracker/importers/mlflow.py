"""Import the runs of an MLflow tracking store: ``mltracker import --from mlflow URI``.

The store is read through the ``mlflow`` package (``pip install 'mltracker[mlflow]'``), at
any tracking URI it reads: ``sqlite:///mlflow.db``, ``postgresql://...``, an ``mlruns``
folder, or a running MLflow server (``http://host:5000``).

=================================  ===================================================
in MLflow                          in MLTracker
=================================  ===================================================
an experiment                      the experiment of that name (made if absent)
a run                              a run (name, status, start, end), of a model of its
                                   own: hash the run's id, name the run's name; with
                                   ``group_by_params``, the model of those parameters'
                                   values (hash :func:`~.streaming.params_hash`, name
                                   ``a=1,b=2``)
its params                         its params (MLflow keeps them as text)
its tags                           params ``tags.<key>``
a metric key ``k``                 the series ``k``, no phase; ``system/k`` (MLflow's
                                   system metrics, and MLTracker's exported) is ``k`` in
                                   phase ``system``
a point (step, timestamp in ms)    a point (step, timestamp in seconds)
=================================  ===================================================

MLflow keeps a metric's history ordered by (timestamp, step, value) in its SQL stores, by
the order logged in its file store: an import takes the points in that order. Importing
again adds what is new (see :mod:`mltracker.importers.streaming`): runs by their MLflow
id, points after those of each series imported before. Deleted experiments and runs are
left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mltracker.errors import MLTrackerError, NotFoundError
from mltracker.importers._mlflow import (
    check_sql_store,
    load_mlflow,
    shown,
    source_error,
    tracking_uri,
)
from mltracker.importers.streaming import (
    ImportCounts,
    Progress,
    RunHandle,
    RunImport,
    RunWriter,
    SeriesKey,
    params_hash,
    params_name,
)
from mltracker.ports.store import RunStatus

if TYPE_CHECKING:
    from mltracker.connect import Connection

SOURCE = "mlflow"

#: Points read from MLflow per query (a page of a long history).
PAGE_POINTS = 100_000

_STATUSES: dict[str, RunStatus | None] = {
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
    "RUNNING": None,
    "SCHEDULED": None,
}

#: The prefix of MLflow metric keys that become series of phase ``system``.
SYSTEM_PREFIX = "system/"


def series_key(metric_key: str) -> SeriesKey:
    """The MLTracker series of an MLflow metric key."""
    if metric_key.startswith(SYSTEM_PREFIX) and len(metric_key) > len(SYSTEM_PREFIX):
        return SeriesKey(metric_key[len(SYSTEM_PREFIX) :], "system")
    return SeriesKey(metric_key, None)


@dataclass
class MLflowImport:
    """What :func:`import_mlflow` did."""

    uri: str
    counts: ImportCounts


def import_mlflow(
    connection: Connection,
    uri: str,
    *,
    experiments: Sequence[str] = (),
    group_by_params: Sequence[str] = (),
    progress: Progress | None = None,
) -> MLflowImport:
    """Import the runs of the MLflow tracking store at ``uri`` into the store of
    ``connection``, streamed (see the module's docstring).

    Args:
        uri: A tracking URI or a path (an ``mlruns`` folder, a SQLite file).
        experiments: The names of the MLflow experiments to import (default: all).
        group_by_params: Params whose values identify a model: the runs that share them
            are runs of one model. Default: a model per run.
        progress: Called as runs begin and points are written.

    Raises:
        InvalidArgumentError: A path that does not exist, or a database that holds no
            MLflow store (``MLflowFormatError``: MLflow is not let to create or migrate
            one there).
        NotFoundError: An experiment named in ``experiments`` is not in the store.
        MLflowSourceError: The store cannot be reached or read (it names it). What was
            imported before stays; importing again continues.
        MLTrackerError: ``mlflow`` is not installed (the message names the extra).
    """
    mlflow = load_mlflow()
    resolved = tracking_uri(uri)
    check_sql_store(resolved)
    reader = _Reader(mlflow, resolved)
    writer = RunWriter(connection.store, progress)
    for experiment_id, experiment_name in reader.experiments(experiments):
        for run in reader.runs(experiment_id):
            imported = _run_import(run, experiment_name, group_by_params)
            handle = writer.begin(imported)
            if reader.metric_table is not None:
                reader.sql_histories(handle, run.info.run_id)
            else:
                for key in sorted(run.data.metrics):
                    reader.history(handle, run.info.run_id, key)
            handle.end()
    return MLflowImport(shown(resolved), writer.counts)


def _run_import(run: Any, experiment: str, group_by: Sequence[str]) -> RunImport:
    info, data = run.info, run.data
    params: dict[str, Any] = dict(data.params)
    params.update(
        {f"tags.{key}": value for key, value in data.tags.items() if key != "mlflow.runName"}
    )
    if group_by:
        chosen = {name: data.params.get(name) for name in group_by}
        model_hash, model_name = params_hash(chosen), params_name(chosen)
    else:
        model_hash, model_name = info.run_id, info.run_name
    status = _STATUSES.get(str(info.status), None)
    started = (info.start_time or 0) / 1000
    ended = info.end_time / 1000 if info.end_time else None
    return RunImport(
        experiment=experiment,
        model_hash=model_hash,
        model_name=model_name or None,
        source=SOURCE,
        source_id=info.run_id,
        name=info.run_name or None,
        status=status,
        started_at=started,
        ended_at=ended,
        params=params,
        context={"mlflow": {"experiment_id": info.experiment_id, "user": info.user_id}},
    )


class _Reader:
    """Reads an MLflow store, turning its failures into :class:`MLflowSourceError`."""

    def __init__(self, mlflow: Any, uri: str) -> None:
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.view = ViewType.ACTIVE_ONLY
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.store = self.client._tracking_client.store
        except Exception as error:  # noqa: BLE001 - any failure of the source is named
            raise source_error(uri, error) from None
        self.metric_table = _sql_metric_table(self.store)

    def experiments(self, names: Sequence[str]) -> list[tuple[str, str]]:
        try:
            found = self.client.search_experiments(view_type=self.view)
            while found.token:
                more = self.client.search_experiments(view_type=self.view, page_token=found.token)
                found.extend(more)
                found.token = more.token
        except Exception as error:  # noqa: BLE001
            raise source_error(self.uri, error) from None
        by_name = {experiment.name: experiment.experiment_id for experiment in found}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise NotFoundError(
                f"no experiment {', '.join(map(repr, missing))} in the MLflow store at "
                f"{shown(self.uri)} (it has {', '.join(map(repr, by_name)) or 'none'})"
            )
        chosen = names or list(by_name)
        return [(by_name[name], name) for name in chosen]

    def runs(self, experiment_id: str) -> Iterator[Any]:
        token = None
        while True:
            try:
                page = self.client.search_runs(
                    [experiment_id],
                    run_view_type=self.view,
                    max_results=1000,
                    order_by=["attributes.start_time ASC"],
                    page_token=token,
                )
            except Exception as error:  # noqa: BLE001
                raise source_error(self.uri, error) from None
            yield from page
            token = page.token
            if not token:
                return

    def history(self, handle: RunHandle, run_id: str, metric_key: str) -> None:
        """Import a metric's history, skipping what the store holds already."""
        key = series_key(metric_key)
        try:
            for metric in self._paged_history(run_id, metric_key):
                handle.point(key, metric.step, metric.value, metric.timestamp / 1000)
        except MLTrackerError:
            raise
        except Exception as error:  # noqa: BLE001
            raise source_error(self.uri, error) from None

    def sql_histories(self, handle: RunHandle, run_id: str) -> None:
        """Import every metric history of a run from an MLflow SQL store, in one query on
        the store's own table, streamed: ordered as ``get_metric_history`` orders a history
        (timestamp, step, value), without an object per point. (One query per run, not per
        key: the table's primary key begins with the key, and a query by run and key would
        walk it through the points of every run.)"""
        import sqlalchemy as sa

        table = self.metric_table
        assert table is not None
        query = (
            sa.select(table.c.key, table.c.step, table.c.value, table.c.is_nan, table.c.timestamp)
            .where(table.c.run_uuid == run_id)
            .order_by(table.c.key, table.c.timestamp, table.c.step, table.c.value)
        )
        point = handle.point
        nan = float("nan")
        last_key: str | None = None
        key = series_key("")
        try:
            with self.store.engine.connect() as connection:
                streamed = connection.execution_options(stream_results=True, yield_per=PAGE_POINTS)
                for metric_key, step, value, is_nan, timestamp in streamed.execute(query):
                    if metric_key != last_key:
                        key, last_key = series_key(metric_key), metric_key
                    point(key, step, nan if is_nan else value, timestamp / 1000)
        except MLTrackerError:
            raise
        except Exception as error:  # noqa: BLE001
            raise source_error(self.uri, error) from None

    def _paged_history(self, run_id: str, key: str) -> Iterator[Any]:
        token = None
        while True:
            try:
                page = self.store.get_metric_history(
                    run_id, key, max_results=PAGE_POINTS, page_token=token
                )
            except TypeError:  # a store that does not page
                yield from self.client.get_metric_history(run_id, key)
                return
            yield from page
            token = getattr(page, "token", None)
            if not token:
                return


def _sql_metric_table(store: Any) -> Any:
    """The ``metrics`` table of an MLflow SQL store, else ``None``."""
    try:
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return None
    if not isinstance(store, SqlAlchemyStore):
        return None
    return SqlMetric.__table__
