"""System metrics of runs, opt-in: a sampler thread per run (``mltracker.system.sampler``)
writes the machine's CPU, memory, disk and network figures, and those of its NVIDIA GPUs
(``mltracker.system.gpus``), as ordinary series of phase ``system``.

On with ``connect(..., system_metrics=True)``, ``model.runs.start(..., system_metrics=True)``,
the ``system_metrics=True`` of each integration, or ``MLTRACKER_SYSTEM_METRICS=1`` (read
when a run starts); every ``MLTRACKER_SYSTEM_METRICS_INTERVAL`` seconds (default 10).
"""

from __future__ import annotations

import os

#: The phase of every system metric.
PHASE = "system"

#: Seconds between two samples, unless ``$MLTRACKER_SYSTEM_METRICS_INTERVAL`` says otherwise.
DEFAULT_INTERVAL = 10.0

ENVIRONMENT_VARIABLE = "MLTRACKER_SYSTEM_METRICS"
INTERVAL_VARIABLE = "MLTRACKER_SYSTEM_METRICS_INTERVAL"

_TRUE = frozenset({"1", "true", "yes", "on"})


def enabled_by_environment() -> bool:
    """Whether ``$MLTRACKER_SYSTEM_METRICS`` asks for system metrics (``1``, ``true``,
    ``yes``, ``on``)."""
    return os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() in _TRUE


def interval() -> float:
    """Seconds between two samples: ``$MLTRACKER_SYSTEM_METRICS_INTERVAL`` if it is a
    positive number, else :data:`DEFAULT_INTERVAL`."""
    try:
        seconds = float(os.environ.get(INTERVAL_VARIABLE, ""))
    except ValueError:
        return DEFAULT_INTERVAL
    return (
        seconds
        if seconds > 0 and seconds == seconds and seconds != float("inf")
        else (DEFAULT_INTERVAL)
    )
