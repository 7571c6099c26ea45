"""Lightning: a logger that records a ``Trainer``'s run as an MLTracker model.

>>> from mltracker.integrations.lightning import MLTrackerLogger      # doctest: +SKIP
>>> trainer = Trainer(logger=MLTrackerLogger("mnist"), max_epochs=5)   # doctest: +SKIP

What is recorded, on rank zero only (the other ranks do nothing and open no store):

- **The model**, when a ``fit``, ``validate`` or ``test`` begins: found by the
  :func:`~mltracker.integrations.torch.model_hash` of the ``LightningModule`` (or ``hash=``),
  else created with a module per descendant (:func:`~mltracker.integrations.torch.track`).
- **Hyper-parameters** (``self.save_hyperparameters()``) as the model's module
  ``hyperparameters``, logged again only when they differ from the last one logged.
- **Metrics**: each key's phase is read from its prefix (``train_loss`` is ``loss`` in phase
  ``train``, ``val/acc`` is ``acc`` in ``validation``, ``test_acc`` is ``acc`` in ``test``;
  see :mod:`mltracker.integrations.phases`); keys without one, like Lightning's ``epoch``,
  have no phase. Values are the floats Lightning hands over (it reads the tensors once).
- **Steps**: a point's step is the trainer's global step plus the model's ``step`` when the
  run began, so running the script again continues the model's steps; when ``fit`` resumes
  from a checkpoint (``ckpt_path``) the trainer's step already counts the earlier training
  and nothing is added.
- **The model's step** is written (one round trip to the store, which also writes the queued
  points) when an epoch ends, at the end of the run, and during a long epoch at most every
  ``step_interval`` seconds; never per batch (Lightning calls :meth:`save` after every
  logging call: it does no I/O otherwise).
- **Iterations**: one when ``fit`` begins and one after each epoch, holding the
  optimizers' and learning-rate schedulers' settings in force from that step on
  (:func:`~mltracker.integrations.torch.log_optimizer`). A logger has no hook for the end of
  an epoch, so the logger adds a small callback to the trainer when ``fit`` begins.
- :meth:`finalize` writes the step and flushes every queued point.

While the store is away (a tracking server that is down), training starts, runs and ends
as usual: nothing here reads the store, and every write is queued with the points.
:meth:`finalize` waits for the store within the bound of the flush at exit (within
``$MLTRACKER_WRITE_WAIT_SECONDS`` for a store known to be away), then leaves what is queued
in a spool file, written when the store is back (or by ``mltracker sync``).

The logger holds only the experiment's name and the store's URI until it is used, so a
``Trainer`` that is pickled (``ddp_spawn``) takes it along. Requires
``pip install 'mltracker[lightning]'``.
"""

from __future__ import annotations

import os
import time
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

import mltracker
from mltracker.errors import MLTrackerError
from mltracker.integrations._extras import missing_extra
from mltracker.integrations.attributes import to_attributes
from mltracker.integrations.phases import DEFAULT_PHASES, split_phase
from mltracker.ports import Experiment, Model

try:
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch import Callback, LightningModule, Trainer
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities import rank_zero_only
    from torch import nn
except ModuleNotFoundError as error:
    raise missing_extra(error, "lightning") from None

from mltracker.integrations.torch import log_optimizer, track  # noqa: E402 - needs torch

__all__ = ["MLTrackerLogger"]

HYPERPARAMETERS_MODULE = "hyperparameters"


class MLTrackerLogger(Logger):
    """A Lightning logger that writes to an MLTracker store (see the module docstring).

    Args:
        experiment: The experiment's name (created if absent).
        uri: The store: a path or URL as for :func:`mltracker.connect`; by default
            ``$MLTRACKER_URI``, else ``./mltracker.db``.
        hash: The model's hash; by default the ``model_hash`` of the ``LightningModule``.
        name: The model's name if it is created; by default the module's class name.
        description: The model's description if it is created.
        phases: Metric key prefix (lower case) -> phase.
        step_interval: During an epoch, the model's step is written at most this often
            (seconds); at each epoch's end and at the end in any case.
    """

    def __init__(
        self,
        experiment: str = "lightning",
        *,
        uri: str | os.PathLike[str] | None = None,
        hash: str | None = None,
        name: str | None = None,
        description: str | None = None,
        phases: Mapping[str, str] = DEFAULT_PHASES,
        step_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self._experiment_name = experiment
        self._uri = None if uri is None else os.fspath(uri)
        self._hash = hash
        self._model_name = name
        self._description = description
        self._phases = dict(phases)
        self._step_interval = step_interval
        self._reset()

    def _reset(self) -> None:
        """Forget the live handles (they are opened again on rank zero when needed)."""
        self._connection: mltracker.Connection | None = None
        self._tracked: Model | None = None
        self._metrics: Any = None
        self._trainer: Trainer | None = None
        self._hyperparameters: dict[str, Any] | None = None
        self._offset = 0
        self._written_step: int | None = None
        self._written_at = 0.0
        self._iteration_epoch: int | None = None
        self._last_step: int | None = None
        self._keys: dict[str, tuple[str, str | None]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_connection", "_tracked", "_metrics", "_trainer"):
            state[key] = None
        return state

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self._experiment_name

    @property
    def version(self) -> str:
        """The model's hash once known (``hash=``, or once a run began), else ``""`` (so
        that checkpoints made before go to ``<root>/<experiment>/checkpoints``)."""
        return self._hash or ""

    @property
    @rank_zero_experiment
    def experiment(self) -> Experiment:
        """The MLTracker experiment (on rank zero; a stand-in that does nothing elsewhere)."""
        if self._connection is None:
            self._connection = mltracker.connect(self._uri)
        return self._connection.experiments.get_or_create(self._experiment_name)

    @property
    def model(self) -> Model | None:
        """The MLTracker model of the run, once it began (on rank zero)."""
        return self._tracked

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Keep the hyper-parameters; they are written as the model's module
        ``hyperparameters`` once the model is known."""
        self._hyperparameters = to_attributes(params)
        if self._tracked is not None:
            self._write_hyperparameters(self._tracked)

    @rank_zero_only
    def log_graph(self, model: nn.Module, input_array: Any = None) -> None:
        """Lightning calls this when a ``fit``, ``validate`` or ``test`` begins: find or
        create the model, and record the optimizers' settings when fitting."""
        self._begin(model)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log each value under its name and phase at the trainer's step (plus the offset
        described in the module docstring)."""
        if self._tracked is None:
            self._model_without_module()
        log = self._metrics
        if step is not None:
            self._last_step = step
            step += self._offset
        keys = self._keys
        for key, value in metrics.items():
            try:
                name, phase = keys[key]
            except KeyError:
                name, phase = keys[key] = split_phase(key, self._phases)
            log(name, value, step, phase)

    @rank_zero_only
    def save(self) -> None:
        """Write the model's step if ``step_interval`` has passed since it was last written;
        nothing otherwise (Lightning calls this after every logging call)."""
        if self._tracked is not None and time.monotonic() - self._written_at >= self._step_interval:
            self._write_step()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Write the model's step, the optimizers' settings if an epoch ended since they
        were logged, and every queued point (also when the run failed), bounded: what a
        store that is away does not take goes to the spool (see
        ``MetricWriter.flush_at_end``)."""
        if self._tracked is None:
            return
        self._epoch_boundary()
        self._write_step()
        if self._connection is not None:
            self._connection.writer.flush_at_end()

    # -- internals ---------------------------------------------------------------------

    def _begin(self, module: nn.Module) -> None:
        trainer = getattr(module, "_trainer", None)
        self._trainer = trainer if isinstance(trainer, Trainer) else None
        if self._tracked is None:
            tracked = track(
                self.experiment,
                module,
                name=self._model_name,
                description=self._description,
                hash=self._hash,
            )
            self._use(tracked)
            start = int(tracked.step)
            resumed = self._trainer is not None and self._trainer.ckpt_path is not None
            self._offset = 0 if resumed else start
            self._written_step = start
            self._written_at = time.monotonic()
        if self._hyperparameters is not None:
            self._write_hyperparameters(self._tracked_model())
        if self._fitting():
            self._watch_epochs()  # the first epoch's start logs the optimizers' settings

    def _use(self, tracked: Model) -> None:
        self._tracked = tracked
        self._hash = tracked.hash
        self._metrics = tracked.metrics.log

    def _model_without_module(self) -> Model:
        """The model when metrics come before any run began (logged by hand): only
        possible with ``hash=``."""
        if self._hash is None:
            raise MLTrackerError(
                "MLTrackerLogger does not know the model yet: log through a Trainer's "
                "fit/validate/test, or give hash="
            )
        experiment: Experiment = self.experiment
        tracked = experiment.models.get_or_create(self._hash, name=self._model_name)
        self._use(tracked)
        self._written_step = int(tracked.step)
        self._offset = self._written_step
        return tracked

    def _tracked_model(self) -> Model:
        assert self._tracked is not None
        return self._tracked

    def _write_hyperparameters(self, tracked: Model) -> None:
        attributes = self._hyperparameters
        self._hyperparameters = None
        if attributes is None:
            return
        # Compared with the last ones logged by the store, when it applies the write (a
        # read here would need it up): see ``track``.
        tracked.modules.log_if_changed(HYPERPARAMETERS_MODULE, attributes)

    def _fitting(self) -> bool:
        trainer = self._trainer
        return trainer is not None and trainer.state.fn == "fit" and bool(trainer.optimizers)

    def _watch_epochs(self) -> None:
        """Add a callback to the trainer that tells when an epoch begins (a logger has no
        hook of its own for it); once per trainer."""
        trainer = self._trainer
        if trainer is None:
            return
        # Set by Lightning's callback connector, hence unknown to type checkers.
        callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]
        if not any(isinstance(c, _EpochBoundaries) and c.logger is self for c in callbacks):
            callbacks.append(_EpochBoundaries(self))

    def _epoch_boundary(self) -> None:
        """At the start of each epoch (after a checkpoint was restored) and at the end of a
        fit: write the step and log the optimizers' settings, once per epoch."""
        trainer = self._trainer
        if trainer is None or not self._fitting():
            return
        if trainer.current_epoch != self._iteration_epoch:
            self._write_step()
            self._log_optimizers()

    def _current_step(self) -> int | None:
        trainer = self._trainer
        if trainer is not None:
            return self._offset + int(trainer.global_step)
        return None if self._last_step is None else self._offset + self._last_step

    def _write_step(self) -> None:
        step = self._current_step()
        self._written_at = time.monotonic()
        if step is None or self._written_step is not None and step <= self._written_step:
            return
        self._tracked_model().step = step
        self._written_step = step

    def _log_optimizers(self) -> None:
        trainer = self._trainer
        step = self._current_step()
        if trainer is None or step is None:
            return
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        log_optimizer(self._tracked_model(), trainer.optimizers, step, scheduler=schedulers or None)
        self._iteration_epoch = trainer.current_epoch


class _EpochBoundaries(Callback):
    """Tells its logger when a training epoch begins (added to the trainer by the logger)."""

    def __init__(self, logger: MLTrackerLogger) -> None:
        self.logger = logger

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.logger._epoch_boundary()
