"""Export runs to an MLflow tracking store: ``mltracker export EXP [HASH] --to mlflow URI``.

Each run of the models becomes an MLflow run of the experiment of the same name (made if
absent): its name, start, end and status (``crashed`` is ``FAILED``; a run still running
stays ``RUNNING``), its params (as text, as MLflow keeps them), tags ``mltracker.run_id``,
``mltracker.model_hash``, ``mltracker.model_name`` and ``mltracker.host``, and every point
of its numeric series (a series of a phase is the key ``phase/name``, so that
``cpu_percent`` of phase ``system`` is MLflow's ``system/cpu_percent``; a point without a
step gets step 0; text and JSON values, which MLflow cannot hold, are left out and counted).
Characters MLflow does not take in a key become ``_``. A run exported before (its
``mltracker.run_id`` tag is there) is skipped: exporting again adds only the new runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mltracker.errors import InvalidTypeError, MLTrackerError
from mltracker.importers._mlflow import (
    check_sql_store,
    load_mlflow,
    shown,
    source_error,
    tracking_uri,
)
from mltracker.ports import Experiment, Model
from mltracker.run_views import RunsView

#: Metrics per ``log_batch`` (MLflow's limit).
BATCH = 1000
#: The longest param value MLflow keeps.
PARAM_LENGTH = 6000

_STATUSES = {"finished": "FINISHED", "failed": "FAILED", "killed": "KILLED", "crashed": "FAILED"}
_BAD_KEY = re.compile(r"[^\w\-. /]")


@dataclass
class ExportCounts:
    """What an export did."""

    runs: int = 0
    runs_skipped: int = 0
    points: int = 0
    points_left_out: int = 0
    uri: str = ""
    left_out_series: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "runs_skipped": self.runs_skipped,
            "points": self.points,
            "points_left_out": self.points_left_out,
        }


def metric_key(name: str, phase: str | None) -> str:
    """The MLflow key of a series."""
    key = name if phase is None else f"{phase}/{name}"
    return _BAD_KEY.sub("_", key)


def export_mlflow(
    experiment: Experiment,
    models: Sequence[Model],
    uri: str,
    progress: Callable[[int], None] | None = None,
) -> ExportCounts:
    """Export the runs of ``models`` (of ``experiment``) to the MLflow tracking store at
    ``uri`` (a URI, or a path: an existing folder is an ``mlruns`` store, anything else a
    SQLite file, made if absent). ``progress(points)`` is called after each batch.

    Raises:
        MLflowSourceError: The MLflow store cannot be reached or written (it names it).
        MLflowFormatError: The database holds tables of another application.
        MLTrackerError: ``mlflow`` is not installed (the message names the extra).
    """
    load_mlflow()
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    resolved = tracking_uri(uri, must_exist=False)
    check_sql_store(resolved, empty_ok=True)
    counts = ExportCounts(uri=shown(resolved))
    try:
        client = MlflowClient(tracking_uri=resolved)
        found = client.get_experiment_by_name(experiment.name)
        experiment_id = (
            found.experiment_id if found is not None else client.create_experiment(experiment.name)
        )
    except Exception as error:  # noqa: BLE001 - any failure of the store is named
        raise source_error(resolved, error) from None
    for model in models:
        for run in _runs(model).list():
            try:
                existing = client.search_runs(
                    [experiment_id],
                    filter_string=f"tags.`mltracker.run_id` = '{run.id}'",
                    max_results=1,
                )
                if existing:
                    counts.runs_skipped += 1
                    continue
                tags = {
                    "mltracker.run_id": str(run.id),
                    "mltracker.model_hash": model.hash,
                    "mltracker.model_name": model.name or "",
                    "mltracker.host": run.host or "",
                }
                created = client.create_run(
                    experiment_id,
                    start_time=int(run.started_at * 1000),
                    tags=tags,
                    run_name=run.name,
                )
                run_id = created.info.run_id
                params = [Param(str(key), _param(value)) for key, value in run.params.items()]
                for first in range(0, len(params), 100):
                    client.log_batch(run_id, params=params[first : first + 100])
                batch: list[Any] = []
                for point in run.metrics.iterate():
                    value = point.value
                    if isinstance(value, bool | int | float):
                        number = float(value)
                    else:
                        counts.points_left_out += 1
                        counts.left_out_series.add(metric_key(point.name, point.phase))
                        continue
                    batch.append(
                        Metric(
                            metric_key(point.name, point.phase),
                            number,
                            int(point.timestamp * 1000),
                            point.step if point.step is not None else 0,
                        )
                    )
                    if len(batch) >= BATCH:
                        _write(client, run_id, batch, counts, progress)
                        batch = []
                _write(client, run_id, batch, counts, progress)
                status = _STATUSES.get(str(run.status))
                if status is not None:
                    ended = run.ended_at if run.ended_at is not None else run.heartbeat_at
                    end_time = int((ended or run.started_at) * 1000)
                    client.set_terminated(run_id, status, end_time=end_time)
            except MLTrackerError:
                raise
            except Exception as error:  # noqa: BLE001 - a failure of the MLflow store
                raise source_error(resolved, error) from None
            counts.runs += 1
    return counts


def _runs(model: Model) -> RunsView:
    runs = getattr(model, "runs", None)
    if not isinstance(runs, RunsView):
        raise InvalidTypeError(f"a model of an MLTracker store is needed, not {model!r:.80}")
    return runs


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else _json(value)
    return text[:PARAM_LENGTH]


def _json(value: Any) -> str:
    import json

    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _write(
    client: Any,
    run_id: str,
    batch: list[Any],
    counts: ExportCounts,
    progress: Callable[[int], None] | None,
) -> None:
    if not batch:
        return
    client.log_batch(run_id, metrics=batch)
    counts.points += len(batch)
    if progress is not None:
        progress(len(batch))
