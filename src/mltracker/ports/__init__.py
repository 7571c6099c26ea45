"""The contract of MLTracker: the entities as Protocols, their collections as ABCs, and the
:class:`Store` that every backend implements."""

from mltracker.ports.experiments import Experiment, Experiments
from mltracker.ports.iterations import Iteration, Iterations
from mltracker.ports.metrics import Metric, Metrics
from mltracker.ports.models import Model, Models
from mltracker.ports.modules import Module, Modules
from mltracker.ports.store import Store

__all__ = [
    "Experiment",
    "Experiments",
    "Iteration",
    "Iterations",
    "Metric",
    "Metrics",
    "Model",
    "Models",
    "Module",
    "Modules",
    "Store",
]
