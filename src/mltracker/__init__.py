"""MLTracker: record machine-learning experiments, their models and how their metrics moved.

>>> from mltracker import get_experiment
>>> experiment = get_experiment("mnist")                        # doctest: +SKIP
>>> model = experiment.models.create("a1b2", name="mlp")        # doctest: +SKIP
>>> model.metrics.log("loss", 0.25, step=1, phase="train")      # doctest: +SKIP
"""

import os as _os
from importlib.metadata import version as _version

from mltracker.connect import Connection, connect
from mltracker.connect import open_session as _open_session
from mltracker.entities import Summary
from mltracker.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    BackendError,
    BackendUnavailableError,
    CertificateError,
    ForeignStoreError,
    InvalidArgumentError,
    InvalidTypeError,
    MLTrackerError,
    NotFoundError,
    PayloadTooLargeError,
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
from mltracker.run_views import ExperimentRunsView, Run, RunsView
from mltracker.views import ExperimentsView as _ExperimentsView

#: The installed distribution's version (one source: ``version`` in pyproject.toml).
__version__: str = _version("mltracker")

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "BackendError",
    "BackendUnavailableError",
    "CertificateError",
    "Connection",
    "Experiment",
    "ExperimentRunsView",
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
    "PayloadTooLargeError",
    "ReadOnlyStoreError",
    "RemoteError",
    "Run",
    "RunsView",
    "SchemaVersionError",
    "Summary",
    "__version__",
    "connect",
    "getExperiment",
    "get_all_experiments",
    "get_experiment",
    "getallExperiments",
]


def get_all_experiments(path: str | _os.PathLike[str] | None = None) -> Experiments:
    """The experiments of the store at ``path`` (default ``$MLTRACKER_URI``, else
    ``./mltracker.db``): a filesystem path or a URL."""
    return _ExperimentsView(_open_session(path, pin=True))


def get_experiment(name: str, path: str | _os.PathLike[str] | None = None) -> Experiment:
    """The experiment called ``name`` in the store at ``path``, created if absent.

    Safe when many processes call it at once: they all get the same experiment.
    """
    return _ExperimentsView(_open_session(path, pin=True)).get_or_create(name)


getExperiment = get_experiment
getallExperiments = get_all_experiments
