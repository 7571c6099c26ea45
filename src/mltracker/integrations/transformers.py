"""Hugging Face: a ``TrainerCallback`` that records a ``Trainer``'s run as an MLTracker model.

>>> from mltracker.integrations.transformers import MLTrackerCallback          # doctest: +SKIP
>>> trainer = Trainer(model, args, callbacks=[MLTrackerCallback("sst2")], ...)  # doctest: +SKIP

What is recorded, on the world's process zero only (the others do nothing and open no store):

- **The model**, when training begins (or at the first evaluation, if there is no training):
  found by the :func:`~mltracker.integrations.torch.model_hash` of the model (or ``hash=``),
  else created with a module per descendant (:func:`~mltracker.integrations.torch.track`);
  its ``config`` as the model's module ``config``, logged again only when it changed.
- **Metrics** from ``on_log`` and ``on_predict``: the prefix gives the phase (``eval_loss`` is
  ``loss`` in phase ``validation``, ``test_acc`` is ``acc`` in ``test``, ``train_x`` is ``x``
  in ``train``; see :mod:`mltracker.integrations.phases`); the values the Trainer logs
  without a prefix while training (``loss``, ``grad_norm``, ``learning_rate``) are in phase
  ``train``; ``epoch`` has no phase. The summary logged when training ends
  (``train_runtime``, ``train_loss``, ``total_flos``, ...) keeps its names, without a phase,
  so that the mean ``train_loss`` is not taken for a point of the ``loss`` series.
- **Steps**: a point's step is the Trainer's ``global_step`` plus the model's ``step`` when
  training began, so running the script again continues the model; when training resumes
  from a checkpoint the Trainer's step already counts the earlier training and nothing is
  added.
- **The model's step** is written at the end of each epoch and of training (one round trip
  each, which also writes the queued points), not per batch.
- **Iterations**: one when training begins, with the ``TrainingArguments`` (module
  ``training_arguments``), the optimizer's and the learning-rate scheduler's settings; one
  after each epoch with the optimizer's and scheduler's settings
  (:func:`~mltracker.integrations.torch.log_optimizer`).

While the store is away (a tracking server that is down), training starts, runs and ends
as usual: nothing here reads the store, and every write is queued with the points. ``on_train_end``
waits for the store within the bound of the flush at exit (within
``$MLTRACKER_WRITE_WAIT_SECONDS`` for a store known to be away), then leaves what is queued
in a spool file, written when the store is back (or by ``mltracker sync``).

The values that the Trainer hands to ``on_log`` are Python numbers already (it reads its
tensors once per logging step). Requires ``pip install 'mltracker[transformers]'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import mltracker
from mltracker.integrations._extras import missing_extra
from mltracker.integrations.attributes import to_attributes
from mltracker.integrations.phases import DEFAULT_PHASES, split_phase
from mltracker.ports import Experiment, Iteration, Model

try:
    from torch import nn
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
except ModuleNotFoundError as error:
    raise missing_extra(error, "transformers") from None

from mltracker.integrations.torch import log_optimizer, track  # noqa: E402 - needs torch

__all__ = ["MLTrackerCallback"]

CONFIG_MODULE: Final = "config"
TRAINING_ARGUMENTS_MODULE: Final = "training_arguments"
#: A key of the summary the Trainer logs once, when training ends.
_SUMMARY_KEY: Final = "train_runtime"
_NO_PHASE_KEYS: Final = frozenset({"epoch"})
_TRAIN: Final = "train"


class MLTrackerCallback(TrainerCallback):
    """A Hugging Face ``TrainerCallback`` that writes to an MLTracker store (see the module
    docstring).

    Args:
        experiment: The experiment's name (created if absent).
        uri: The store: a path or URL as for :func:`mltracker.connect`; by default
            ``$MLTRACKER_URI``, else ``./mltracker.db``.
        hash: The model's hash; by default the ``model_hash`` of the Trainer's model.
        name: The model's name if it is created; by default the model's class name.
        description: The model's description if it is created.
        phases: Metric key prefix (lower case) -> phase.
    """

    def __init__(
        self,
        experiment: str = "transformers",
        *,
        uri: str | os.PathLike[str] | None = None,
        hash: str | None = None,
        name: str | None = None,
        description: str | None = None,
        phases: Mapping[str, str] = DEFAULT_PHASES,
    ) -> None:
        self._experiment_name = experiment
        self._uri = None if uri is None else os.fspath(uri)
        self._hash = hash
        self._model_name = name
        self._description = description
        self._phases = dict(phases)
        self._connection: mltracker.Connection | None = None
        self._tracked: Model | None = None
        self._offset = 0
        self._written_step = 0
        self._keys: dict[str, tuple[str, str | None]] = {}

    @property
    def experiment(self) -> Experiment:
        """The MLTracker experiment (opened on first use)."""
        if self._connection is None:
            self._connection = mltracker.connect(self._uri)
        return self._connection.experiments.get_or_create(self._experiment_name)

    @property
    def model(self) -> Model | None:
        """The MLTracker model of the run, once it began (on process zero)."""
        return self._tracked

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Find or create the model; log the arguments and the optimizer's settings."""
        if not state.is_world_process_zero:
            return
        tracked = self._track(kwargs.get("model"))
        if tracked is None:
            return
        self._offset = int(tracked.step) if state.global_step == 0 else 0
        iteration = self._log_optimizer(state, kwargs)
        arguments = to_attributes(args.to_sanitized_dict())
        if iteration is None:
            iteration = tracked.iterations.create(self._step(state))
        iteration.modules.log(TRAINING_ARGUMENTS_MODULE, arguments)

    def on_epoch_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Write the model's step; log the optimizer's settings in a new iteration."""
        if not state.is_world_process_zero or self._tracked is None:
            return
        self._write_step(state)
        self._log_optimizer(state, kwargs)

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Write the model's step and every queued point, bounded: what a store that is
        away does not take goes to the spool (see ``MetricWriter.flush_at_end``)."""
        if not state.is_world_process_zero or self._tracked is None:
            return
        self._write_step(state)
        if self._connection is not None:
            self._connection.writer.flush_at_end()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log each value under its name and phase at the Trainer's step."""
        if not state.is_world_process_zero or not logs:
            return
        tracked = self._tracked or self._track(kwargs.get("model"))
        if tracked is None:
            return
        step = self._step(state)
        log = tracked.metrics.log
        if _SUMMARY_KEY in logs:
            for key, value in logs.items():
                log(key, value, step)
            return
        for key, value in logs.items():
            name, phase = self._split(key)
            log(name, value, step, phase)

    def on_predict(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, Any],
        **kwargs: Any,
    ) -> None:
        """Log the metrics of ``Trainer.predict`` (``test_`` keys are in phase ``test``)."""
        if not state.is_world_process_zero or not metrics:
            return
        tracked = self._tracked or self._track(kwargs.get("model"))
        if tracked is None:
            return
        step = self._step(state)
        for key, value in metrics.items():
            name, phase = self._split(key)
            tracked.metrics.log(name, value, step, phase)

    # -- internals ---------------------------------------------------------------------

    def _track(self, module: object) -> Model | None:
        if self._tracked is not None:
            return self._tracked
        if not isinstance(module, nn.Module):
            return None
        tracked = track(
            self.experiment,
            module,
            name=self._model_name,
            description=self._description,
            hash=self._hash,
        )
        self._tracked = tracked
        self._hash = tracked.hash
        self._offset = self._written_step = int(tracked.step)
        config = getattr(module, "config", None)
        if config is not None:
            attributes = to_attributes(config)
            # Compared with the last one logged by the store, when it applies the write (a
            # read here would need it up): see ``track``.
            tracked.modules.log_if_changed(CONFIG_MODULE, attributes)
        return tracked

    def _split(self, key: str) -> tuple[str, str | None]:
        try:
            return self._keys[key]
        except KeyError:
            name, phase = split_phase(key, self._phases)
            if phase is None and key not in _NO_PHASE_KEYS:
                phase = _TRAIN
            self._keys[key] = name, phase
            return name, phase

    def _step(self, state: TrainerState) -> int:
        return self._offset + int(state.global_step)

    def _write_step(self, state: TrainerState) -> None:
        assert self._tracked is not None
        step = self._step(state)
        if step > self._written_step:
            self._tracked.step = self._written_step = step

    def _log_optimizer(self, state: TrainerState, kwargs: Mapping[str, Any]) -> Iteration | None:
        optimizer = kwargs.get("optimizer")
        if optimizer is None or self._tracked is None:
            return None
        return log_optimizer(
            self._tracked, optimizer, self._step(state), scheduler=kwargs.get("lr_scheduler")
        )
