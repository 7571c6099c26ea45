"""The run of each training call of an integration: where its steps start, how it begins.

Each ``track(...)``, Lightning ``fit`` and Hugging Face ``train`` is a run of its model
(``model.runs``). The model's ``step`` stays the seed's persisted counter, written by the
integrations as training goes on and when a run ends; a run starts from it, unless a run that
did not finish (it crashed, was killed or failed before it wrote the step) logged points
further on: then it starts after the last of them, so that steps never repeat by accident.
"The last of them" is the largest step among the last points of the series of the runs that
did not finish, started since the model's last finished run (the runs are read once at the
start of a run, and the last points of each unfinished one: ``run.metrics.latest()``); while
the store is away it is not known and the model's step as this process knows it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from mltracker.errors import InvalidTypeError, NotFoundError
from mltracker.ports import Model
from mltracker.run_views import Run, RunsView, last_logged_step, resume_run, start_run

__all__ = ["begin", "resume", "start_step"]


def start_step(model: Model, *, first: int, step: int | None = None) -> int:
    """The step a new run of ``model`` starts from: the model's ``step``, or later if a run
    that did not finish logged points beyond it (see the module docstring).

    Args:
        model: The model.
        first: Where the run's first point comes relative to its start: ``0`` when a
            point's step is the index of its batch (Lightning), ``1`` when it counts the
            optimizer steps done (Hugging Face, the plain loop of ``track``). The run then
            starts at ``last + 1 - first`` at least, so its first point follows the last.
        step: The model's ``step`` if the caller read it already.
    """
    if step is None:
        step = int(model.step)
    logged = last_logged_step(_runs(model))
    if logged is None:
        return step
    return max(step, logged + 1 - first)


def begin(
    model: Model,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    run_id: UUID | None = None,
) -> Run:
    """Start a run of ``model`` (its id ``run_id``, or a new one) and make it the current
    run of the model in this process."""
    return start_run(_runs(model), name, params, uuid4() if run_id is None else run_id)


def resume(
    model: Model, run_id: UUID, rewind: int | None = None, since: float | None = None
) -> Run | None:
    """Resume the run ``run_id`` of ``model`` (named by a checkpoint); ``None`` when the
    store has no such run (a checkpoint of another store). ``rewind``: the run's step at the
    checkpoint, from which its points are superseded (with ``since``, those logged after
    the checkpoint was saved): the steps it goes on from are logged again."""
    try:
        return resume_run(_runs(model), run_id, rewind, since)
    except NotFoundError:
        return None


def _runs(model: Model) -> RunsView:
    runs = getattr(model, "runs", None)
    if not isinstance(runs, RunsView):
        raise InvalidTypeError(f"a model of an MLTracker store is needed, not {model!r:.80}")
    return runs
