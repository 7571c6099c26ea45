"""Hugging Face: a ``TrainerCallback`` that records each ``Trainer.train`` as a run of an
MLTracker model.

>>> import mltracker.integrations.transformers  # registers report_to="mltracker" # doctest: +SKIP
>>> args = TrainingArguments("out", report_to="mltracker", run_name="baseline")  # doctest: +SKIP

or, to give settings, ``Trainer(model, args, callbacks=[MLTrackerCallback("sst2")], ...)``.

What is recorded, on the world's process zero only (the others do nothing and open no store):

- **The model**, when training begins (or at the first evaluation, if there is no training):
  found by the :func:`~mltracker.integrations.torch.model_hash` of the model and ``extra=``
  (or ``hash=``), else created with a module per descendant.
- **A run per** ``train()`` (``callback.run``), named ``run_name=`` or ``args.run_name``, with
  the ``TrainingArguments`` as its params (``None`` stays ``None``) and the model's
  ``config`` as its module ``config``. Each checkpoint names its run (in the Trainer's
  state, as a stateful callback's); ``train(resume_from_checkpoint=...)`` resumes that run
  and rewinds it: its points after the checkpoint's step are superseded
  (``model.runs.start(..., rewind=)``), so that training resumed from an earlier checkpoint
  than its last leaves one value per step.
  An evaluation or prediction outside training goes into the last run of the callback (else
  one of its own). A run ends ``finished`` when training ends; when training stops before
  its end (an exception) the run fails: an uncaught exception ends it with the process, one
  that is caught ends it when the callback's next training begins, or at exit.
- **Metrics** from ``on_log`` and ``on_predict``: the prefix gives the phase (``eval_loss`` is
  ``loss`` in phase ``validation``, ``test_acc`` is ``acc`` in ``test``, ``train_x`` is ``x``
  in ``train``; see :mod:`mltracker.integrations.phases`); the values the Trainer logs
  without a prefix while training (``loss``, ``grad_norm``, ``learning_rate``) are in phase
  ``train``; ``epoch`` has no phase. The summary logged when training ends
  (``train_runtime``, ``train_loss``, ``total_flos``, ...) keeps its names, without a phase,
  so that the mean ``train_loss`` is not taken for a point of the ``loss`` series.
- **Steps**: a point's step is the Trainer's ``global_step`` plus the run's offset. A new run
  starts at the model's ``step``, or at the last step the model's runs logged when a run got
  further without writing it (a crash: see :mod:`mltracker.integrations.runs`). A run
  resumed from a checkpoint keeps its offset (the Trainer's step counts the earlier
  training).
- **The model's step** is written at the end of each epoch and of training (one round trip
  each, which also writes the queued points), not per batch.
- **Iterations**: one when training begins, with the ``TrainingArguments`` (module
  ``training_arguments``), the optimizer's and the learning-rate scheduler's settings; one
  after each epoch with the optimizer's and scheduler's settings
  (:func:`~mltracker.integrations.torch.log_optimizer`).

``report_to="mltracker"`` (or ``["mltracker", ...]``) works once this module is imported:
the import adds the callback to ``transformers``' table of reporting integrations. The
callback is then made without arguments: the experiment is ``$MLTRACKER_EXPERIMENT`` (else
``transformers``) and the store ``$MLTRACKER_URI`` (else ``./mltracker.db``).

While the store is away (a tracking server that is down), training starts, runs and ends
as usual: nothing here waits for the store, and every write is queued with the points.
``on_train_end`` waits for the store within the bound of the flush at exit (within
``$MLTRACKER_WRITE_WAIT_SECONDS`` for a store known to be away), then leaves what is queued
in a spool file, written when the store is back (or by ``mltracker sync``).

The values that the Trainer hands to ``on_log`` are Python numbers already (it reads its
tensors once per logging step). Requires ``pip install 'mltracker[transformers]'``.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit
from uuid import UUID

import mltracker
from mltracker.integrations import runs
from mltracker.integrations._extras import missing_extra
from mltracker.integrations.attributes import to_attributes, to_json
from mltracker.integrations.phases import DEFAULT_PHASES, split_phase
from mltracker.ports import Experiment, Iteration, Model
from mltracker.ports.store import RunStatus
from mltracker.run_views import Run

try:
    from torch import nn
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
    from transformers.integrations import integration_utils
    from transformers.trainer_callback import ExportableState
except ModuleNotFoundError as error:
    raise missing_extra(error, "transformers") from None

from mltracker.integrations.torch import log_optimizer, model_hash, model_of  # noqa: E402

__all__ = ["REPORT_TO", "MLTrackerCallback", "register"]

#: The name of the integration in ``TrainingArguments(report_to=...)``.
REPORT_TO: Final = "mltracker"
#: The experiment of a callback made without one (as ``report_to="mltracker"`` makes it).
EXPERIMENT_VARIABLE: Final = "MLTRACKER_EXPERIMENT"
DEFAULT_EXPERIMENT: Final = "transformers"
CONFIG_MODULE: Final = "config"
TRAINING_ARGUMENTS_MODULE: Final = "training_arguments"
#: A key of the summary the Trainer logs once, when training ends.
_SUMMARY_KEY: Final = "train_runtime"
_NO_PHASE_KEYS: Final = frozenset({"epoch"})
_TRAIN: Final = "train"
#: The exit of a run whose training stopped before its end without the process seeing why.
_STOPPED: Final = "training stopped before its end"


@dataclass(frozen=True)
class _Saved:
    """The run a checkpoint names."""

    run: UUID
    offset: int


class MLTrackerCallback(TrainerCallback, ExportableState):
    """A Hugging Face ``TrainerCallback`` that writes to an MLTracker store (see the module
    docstring).

    Args:
        experiment: The experiment's name (created if absent); by default
            ``$MLTRACKER_EXPERIMENT``, else ``transformers``.
        uri: The store: a path or URL as for :func:`mltracker.connect`; by default
            ``$MLTRACKER_URI``, else ``./mltracker.db``.
        hash: The model's hash; by default the ``model_hash`` of the Trainer's model and
            ``extra``.
        extra: Settings hashed with the architecture (``model_hash(model, extra)``), to keep
            the runs of a sweep in models of their own; without it a sweep over one
            architecture is one model with a run per ``train()``.
        name: The model's name if it is created; by default the model's class name.
        description: The model's description if it is created.
        run_name: The name of the runs; by default ``args.run_name``.
        phases: Metric key prefix (lower case) -> phase.
    """

    def __init__(
        self,
        experiment: str | None = None,
        *,
        uri: str | os.PathLike[str] | None = None,
        hash: str | None = None,
        extra: Mapping[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
        run_name: str | None = None,
        phases: Mapping[str, str] = DEFAULT_PHASES,
    ) -> None:
        if experiment is None:
            experiment = os.environ.get(EXPERIMENT_VARIABLE) or DEFAULT_EXPERIMENT
        self._experiment_name = experiment
        self._uri = None if uri is None else os.fspath(uri)
        self._hash = hash
        self._extra = None if extra is None else dict(extra)
        self._model_name = name
        self._description = description
        self._run_name = run_name
        self._phases = dict(phases)
        self._connection: mltracker.Connection | None = None
        self._tracked: Model | None = None
        self._run: Run | None = None
        self._log: Any = None  # the run's metrics.log while it is on
        self._training = False
        self._offset = 0
        self._position: int | None = None  # the run's step when its training ended
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

    @property
    def run(self) -> Run | None:
        """The run of the training in progress, else of the last one (on process zero)."""
        return self._run

    def state(self) -> dict[str, Any]:
        """What the Trainer keeps of the callback in a checkpoint: its settings, and the run
        that the checkpoint resumes (see ``ExportableState``)."""
        saved: dict[str, Any] = {
            "args": {
                "experiment": self._experiment_name,
                "uri": _without_secrets(self._uri),
                "hash": self._hash,
                "extra": to_json(self._extra),
                "name": self._model_name,
                "description": self._description,
                "run_name": self._run_name,
                "phases": self._phases,
            },
            "attributes": {},
        }
        if self._run is not None and self._tracked is not None and self._training:
            saved["run"] = {
                "id": str(self._run.id),
                "hash": self._tracked.hash,
                "offset": self._offset,
            }
        return saved

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Find or create the model; start the run (or resume the checkpoint's); log the
        arguments and the optimizer's settings."""
        if not state.is_world_process_zero:
            return
        tracked = self._track(kwargs.get("model"))
        if tracked is None:
            return
        self._end_training("failed", _STOPPED)  # the last training raised, and was caught
        self._end("finished")  # an evaluation since
        global_step = int(state.global_step)
        run: Run | None = None
        saved = self._saved(state, tracked.hash) if global_step else None
        if saved is not None:
            # The run goes on from the checkpoint: what it logged after it (from the step
            # after the checkpoint's: a step's points are logged before it is saved) again.
            run = runs.resume(tracked, saved.run, saved.offset + global_step + 1)
            self._offset = saved.offset
        step = int(tracked.step)
        arguments = training_arguments(args)
        if run is None:
            start = max(runs.start_step(tracked, first=1, step=step), global_step)
            self._offset = start - global_step
            name = self._run_name if self._run_name is not None else args.run_name
            run = runs.begin(tracked, name, arguments)
        self._use(run, tracked, kwargs.get("model"))
        self._training = True
        _watch(self)
        self._written_step = step
        iteration = self._log_optimizer(state, kwargs)
        if iteration is None:
            iteration = run.iterations.create(self._step(state))
        iteration.modules.log(TRAINING_ARGUMENTS_MODULE, arguments)

    def on_epoch_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Write the model's step; log the optimizer's settings in a new iteration."""
        if not state.is_world_process_zero or not self._training:
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
        """Write the model's step, end the run and write every queued point, bounded: what
        a store that is away does not take goes to the spool (see
        ``MetricWriter.flush_at_end``)."""
        if not state.is_world_process_zero or not self._training:
            return
        self._write_step(state)
        self._position = self._step(state)
        self._end_training("finished", None)
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
        log = self._log if self._log is not None else self._evaluation(state, kwargs)
        if log is None:
            return
        step = self._step(state)
        if _SUMMARY_KEY in logs:
            for key, value in logs.items():
                log(key, value, step)
            return
        for key, value in logs.items():
            name, phase = self._split(key)
            log(name, value, step, phase)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """After an evaluation outside training: end its run (it was logged by ``on_log``)."""
        if state.is_world_process_zero and not self._training:
            self._end("finished")

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
        log = self._log if self._log is not None else self._evaluation(state, kwargs)
        if log is None:
            return
        step = self._step(state)
        for key, value in metrics.items():
            name, phase = self._split(key)
            log(name, value, step, phase)
        if not self._training:
            self._end("finished")

    # -- internals ---------------------------------------------------------------------

    def _track(self, module: object) -> Model | None:
        """The model of ``module`` (the last one if its hash is the same)."""
        if not isinstance(module, nn.Module):
            return self._tracked
        hash = self._hash if self._hash is not None else model_hash(module, self._extra)
        if self._tracked is None or self._tracked.hash != hash:
            self._tracked = model_of(
                self.experiment,
                module,
                name=self._model_name,
                description=self._description,
                hash=hash,
            )
        return self._tracked

    def _use(self, run: Run, tracked: Model, module: object) -> None:
        self._run = run
        self._log = run.metrics.log
        config = getattr(module, "config", None)
        if config is not None:
            # Compared with the last one of the run, by the store when it applies the write
            # (a read here would need it up).
            run.modules.log_if_changed(CONFIG_MODULE, to_attributes(config))

    def _evaluation(self, state: TrainerState, kwargs: Mapping[str, Any]) -> Any:
        """The run of an evaluation (or prediction) outside training: the callback's last
        run again, at the step its training got to, else a new run; ``None`` without a
        model."""
        tracked = self._track(kwargs.get("model"))
        if tracked is None:
            return None
        global_step = int(state.global_step)
        last = self._run
        run = None
        if last is not None and last.model_id == tracked.id:
            run = runs.resume(tracked, last.id)
            if run is not None:
                position = self._offset + global_step if self._position is None else self._position
                self._offset = position - global_step
        if run is None:
            start = runs.start_step(tracked, first=1)
            self._offset = start - global_step
            run = runs.begin(tracked, self._run_name)
        self._use(run, tracked, kwargs.get("model"))
        return self._log

    def _saved(self, state: TrainerState, hash: str) -> _Saved | None:
        """The run the checkpoint that training resumes from names (the Trainer's state
        holds what :meth:`state` returned when it was saved)."""
        stateful: Any = state.stateful_callbacks  # a dict once loaded from a checkpoint
        kept = stateful.get(type(self).__name__) if isinstance(stateful, dict) else None
        for entry in kept if isinstance(kept, list) else [kept]:
            if not isinstance(entry, dict):
                continue
            arguments, run = entry.get("args"), entry.get("run")
            if not isinstance(arguments, dict) or not isinstance(run, dict):
                continue
            if arguments.get("experiment") != self._experiment_name or run.get("hash") != hash:
                continue
            try:
                return _Saved(UUID(str(run["id"])), int(run["offset"]))
            except (KeyError, TypeError, ValueError):
                continue
        return None

    def _end(self, status: RunStatus, exit: str | None = None) -> None:
        """End the run that is on, if one is."""
        run = self._run
        if self._log is None or run is None:
            return
        self._log = None
        if run.status == "running":
            run.finish(status, exit)

    def _end_training(self, status: RunStatus, exit: str | None) -> None:
        if self._training:
            self._training = False
            _trainings.discard(self)
            self._end(status, exit)

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
        if optimizer is None or self._run is None:
            return None
        return log_optimizer(
            self._run, optimizer, self._step(state), scheduler=kwargs.get("lr_scheduler")
        )


def _without_secrets(uri: str | None) -> str | None:
    """``uri`` as a checkpoint may keep it (a checkpoint is shared, pushed to a hub): ``None``
    for one that holds a user or password (the callback made again from the checkpoint then
    uses ``$MLTRACKER_URI``)."""
    if uri is None:
        return None
    parts = urlsplit(uri)
    if "@" in parts.netloc or "password" in parts.query.lower():
        return None
    return uri


def training_arguments(args: TrainingArguments) -> dict[str, Any]:
    """The arguments as JSON values, ``None`` kept (``TrainingArguments.to_dict()``: enums as
    their values, tokens hidden), for the run's params and the module
    ``training_arguments``."""
    as_dict: Any = args.to_dict()  # type: ignore[no-untyped-call]
    return to_attributes(as_dict)


#: The callbacks whose training began and has not ended, in this process.
_trainings: weakref.WeakSet[MLTrackerCallback] = weakref.WeakSet()
_exit_hook: list[int] = []  # the pid that registered the hook below
_exit_hook_lock = threading.Lock()


def _watch(callback: MLTrackerCallback) -> None:
    """Note a training that began; once per process, make the exit end the runs of those
    that never ended (an exception caught around ``Trainer.train``) as failed."""
    _trainings.add(callback)
    with _exit_hook_lock:
        if os.getpid() not in _exit_hook:
            _exit_hook.append(os.getpid())
            # Registered after the writer's exit hook, so called before it (atexit calls the
            # last registered first): the ends are written with the last points.
            atexit.register(_end_stopped_trainings)


def _end_stopped_trainings() -> None:
    for callback in list(_trainings):
        try:
            callback._end_training("failed", _STOPPED)
        except Exception:  # noqa: BLE001 - an exit is no place for an error
            pass


def register() -> None:
    """Make ``TrainingArguments(report_to="mltracker")`` add an :class:`MLTrackerCallback`
    (made without arguments) to a ``Trainer``. Importing this module does it."""
    integration_utils.INTEGRATION_TO_CALLBACK[REPORT_TO] = MLTrackerCallback


register()
