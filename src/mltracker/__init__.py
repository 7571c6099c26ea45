"""MLTracker: record machine-learning experiments, their models and how their metrics moved.

>>> from mltracker import get_experiment
>>> experiment = get_experiment("mnist")                        # doctest: +SKIP
>>> model = experiment.models.create("a1b2", name="mlp")        # doctest: +SKIP
>>> model.metrics.log("loss", 0.25, step=1, phase="train")      # doctest: +SKIP
"""

from __future__ import annotations

import os

from mltracker.connect import Connection, connect, open_session
from mltracker.errors import (
    AlreadyExistsError,
    BackendError,
    BackendUnavailableError,
    ForeignStoreError,
    InvalidArgumentError,
    InvalidTypeError,
    MLTrackerError,
    NotFoundError,
    ReadOnlyStoreError,
    RemoteError,
    SchemaVersionError,
)
from mltracker.ports import (
    Experiment,
    Experiments,
    Iteration,
    Iterations,
    Metric,
    Metrics,
    Model,
    Models,
    Module,
    Modules,
)
from mltracker.ports.metrics import NO_PHASE
from mltracker.views import ExperimentsView

__version__ = "0.5.0"

__all__ = [
    "AlreadyExistsError",
    "BackendError",
    "BackendUnavailableError",
    "Connection",
    "Experiment",
    "Experiments",
    "ForeignStoreError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "Iteration",
    "Iterations",
    "MLTrackerError",
    "NO_PHASE",
    "Metric",
    "Metrics",
    "Model",
    "Models",
    "Module",
    "Modules",
    "NotFoundError",
    "ReadOnlyStoreError",
    "RemoteError",
    "SchemaVersionError",
    "__version__",
    "connect",
    "getExperiment",
    "get_all_experiments",
    "get_experiment",
    "getallExperiments",
]


def get_all_experiments(path: str | os.PathLike[str] | None = None) -> Experiments:
    """The experiments of the store at ``path`` (default ``$MLTRACKER_URI``, else
    ``./mltracker.db``): a filesystem path or a URL."""
    return ExperimentsView(open_session(path, pin=True))


def get_experiment(name: str, path: str | os.PathLike[str] | None = None) -> Experiment:
    """The experiment called ``name`` in the store at ``path``, created if absent.

    Safe when many processes call it at once: they all get the same experiment.
    """
    return ExperimentsView(open_session(path, pin=True)).get_or_create(name)


getExperiment = get_experiment
getallExperiments = get_all_experiments
