"""Lightning: a logger that records each ``Trainer`` call as a run of an MLTracker model.

>>> from mltracker.integrations.lightning import MLTrackerLogger      # doctest: +SKIP
>>> trainer = Trainer(logger=MLTrackerLogger("mnist"), max_epochs=5)   # doctest: +SKIP

What is recorded, on rank zero only (the other ranks do nothing and open no store):

- **The model**, when a ``fit``, ``validate`` or ``test`` begins: found by the
  :func:`~mltracker.integrations.torch.model_hash` of the ``LightningModule`` and ``extra=``
  (or ``hash=``), else created with a module per descendant.
- **A run per fit** (``logger.run``): each ``fit`` starts one, named ``run_name=``, with the
  hyper-parameters (``self.save_hyperparameters()``) as its params and as its module
  ``hyperparameters``. ``logger.version`` is the run's id, known before the run starts (so
  that each run's checkpoints go to a folder of its own, ``<root>/<experiment>/<run id>/
  checkpoints``), and each checkpoint names its run. A ``fit(ckpt_path=...)`` resumes the run
  that wrote the checkpoint (its checkpoints then go to that run's folder) and rewinds it to
  the checkpoint's step: the points the run logged after the checkpoint was saved, from that
  step on, are superseded (``model.runs.start(..., rewind=)``), so that a fit resumed from
  an earlier checkpoint than its last leaves one value per step. A ``validate`` or
  ``test`` continues the run of the checkpoint it is given, else the logger's last run, else
  starts one (which a ``fit`` that follows on the same logger takes over).
- **The run's end**: ``finished`` when the call returns, ``failed`` when it raises,
  ``killed`` (``SIGINT``) when Ctrl-C stops it (Lightning catches the ``KeyboardInterrupt``,
  calls ``on_exception`` and ``finalize("failed")``; the exception tells which).
- **Metrics**: each key's phase is read from its prefix (``train_loss`` is ``loss`` in phase
  ``train``, ``val/acc`` is ``acc`` in ``validation``, ``test_acc`` is ``acc`` in ``test``;
  see :mod:`mltracker.integrations.phases`); keys without one, like Lightning's ``epoch``,
  have no phase. A value logged with ``on_step=True, on_epoch=True`` comes as two keys
  (``train_loss_step``, ``train_loss_epoch``): the first is ``loss`` in ``train``, the
  second ``loss`` in ``train_epoch``, on the chart of ``loss`` with the validation line.
  Values are the floats Lightning hands over (it reads the tensors once).
- **Steps**: a point's step is the trainer's step plus the run's offset. A new run starts at
  the model's ``step``, or after the last step the model's runs logged when a run got
  further without writing it (a crash: see :mod:`mltracker.integrations.runs`); a second
  ``fit`` on the same logger goes on from the first. A run resumed from a checkpoint keeps
  its offset (the trainer's step, restored from the checkpoint, counts the earlier
  training), and ``validate``/``test`` log at the step of the weights they evaluate: the
  checkpoint's, or where the last fit got to.
- **The model's step** is written (one round trip to the store, which also writes the queued
  points) when an epoch ends, at the end of the fit, and during a long epoch at most every
  ``step_interval`` seconds; never per batch (Lightning calls :meth:`save` after every
  logging call: it does no I/O otherwise).
- **Iterations**: one when ``fit`` begins and one after each epoch, holding the
  optimizers' and learning-rate schedulers' settings in force from that step on
  (:func:`~mltracker.integrations.torch.log_optimizer`). A logger has no hook for the start
  of an epoch, nor for exceptions and checkpoints, so the logger adds a small callback to the
  trainer when a call begins.
- :meth:`finalize` writes the step, ends the run and flushes every queued point.

While the store is away (a tracking server that is down), training starts, runs and ends
as usual: nothing here waits for the store, and every write is queued with the points.
:meth:`finalize` waits for the store within the bound of the flush at exit (within
``$MLTRACKER_WRITE_WAIT_SECONDS`` for a store known to be away), then leaves what is queued
in a spool file, written when the store is back (or by ``mltracker sync``).

The logger holds only settings until it is used, so a ``Trainer`` that is pickled
(``ddp_spawn``) takes it along. When a call resumes a run from a checkpoint (or a second
``fit`` runs on the same ``Trainer``), the logger points the ``ModelCheckpoint`` callbacks
whose folder it named at the run's folder, on rank zero (with checkpoints that every rank
writes, as sharded ones, give ``ModelCheckpoint(dirpath=...)``). ``ckpt_path="last"`` looks
in the folder of the run about to start, which is new: give the checkpoint's path.
Requires ``pip install 'mltracker[lightning]'``.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from argparse import Namespace
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID, uuid4

import mltracker
from mltracker.errors import MLTrackerError
from mltracker.integrations import runs
from mltracker.integrations._extras import missing_extra
from mltracker.integrations.attributes import to_attributes
from mltracker.integrations.phases import DEFAULT_PHASES, split_phase
from mltracker.ports import Experiment, Model
from mltracker.ports.store import RunStatus
from mltracker.run_views import Run
from mltracker.runs.lifecycle import outcome_of

try:
    import torch
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch import Callback, LightningModule, Trainer
    from lightning.pytorch.callbacks import Checkpoint
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities import rank_zero_only
    from torch import nn
except ModuleNotFoundError as error:
    raise missing_extra(error, "lightning") from None

from mltracker.integrations.torch import (  # noqa: E402 - needs torch
    log_optimizer,
    model_hash,
    model_of,
)

__all__ = ["MLTrackerLogger"]

HYPERPARAMETERS_MODULE: Final = "hyperparameters"
#: The key of a checkpoint under which the logger names its run (by experiment).
CHECKPOINT_KEY: Final = "mltracker"
_FIT: Final = "fit"
_EVALUATING: Final = frozenset({"validate", "test"})
#: Lightning's suffix of the dataloader of a metric (``val_loss/dataloader_idx_1``).
_DATALOADER: Final = "/dataloader_idx_"


@dataclass(frozen=True)
class _Checkpoint:
    """What a checkpoint says of the run that wrote it (``run`` is ``None`` for one
    written without this logger, or of another model)."""

    run: UUID | None
    offset: int
    step: int  # the run's step when it was written
    global_step: int  # the trainer's
    saved_at: float | None = None  # when (None: by a version that did not note it)


class MLTrackerLogger(Logger):
    """A Lightning logger that writes to an MLTracker store (see the module docstring).

    Args:
        experiment: The experiment's name (created if absent).
        uri: The store: a path or URL as for :func:`mltracker.connect`; by default
            ``$MLTRACKER_URI``, else ``./mltracker.db``.
        hash: The model's hash; by default the ``model_hash`` of the ``LightningModule``
            and ``extra``.
        extra: Settings hashed with the architecture (``model_hash(module, extra)``), to
            keep the runs of a sweep in models of their own; without it a sweep over one
            architecture is one model with a run per fit.
        name: The model's name if it is created; by default the module's class name.
        description: The model's description if it is created.
        run_name: The name of the runs the logger starts.
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
        extra: Mapping[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
        run_name: str | None = None,
        phases: Mapping[str, str] = DEFAULT_PHASES,
        step_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self._experiment_name = experiment
        self._uri = None if uri is None else os.fspath(uri)
        self._hash = hash
        self._extra = None if extra is None else dict(extra)
        self._model_name = name
        self._description = description
        self._run_name = run_name
        self._phases = dict(phases)
        self._step_interval = step_interval
        #: The id the next new run takes (``version`` outside a call), and every id that
        #: ``version`` gave out (checkpoint folders named after it).
        self._pending: UUID | None = None
        self._given: set[str] = set()
        self._reset()

    def _reset(self) -> None:
        """Forget the live handles (they are opened again on rank zero when needed)."""
        self._connection: mltracker.Connection | None = None
        self._tracked: Model | None = None
        self._run: Run | None = None
        self._run_hash: str | None = None  # of the run's model
        self._log: Any = None  # the run's metrics.log while a call (or by-hand logging) is on
        self._stage: str | None = None  # the Trainer call in progress
        self._adoptable = False  # the last run was started by validate/test: a fit takes it
        self._exception: BaseException | None = None
        self._trainer: Trainer | None = None
        self._hyperparameters: dict[str, Any] | None = None
        self._offset = 0
        self._position: int | None = None  # the run's step when its last call ended
        self._written_step: int | None = None
        self._written_at = 0.0
        self._iteration_epoch: int | None = None
        self._last_step: int | None = None
        self._keys: dict[str, tuple[str, str | None]] = {}

    def __getstate__(self) -> dict[str, Any]:
        self._next_id()  # a copy (``ddp_spawn``) names the next run's folder as this one
        state = self.__dict__.copy()
        for key in ("_connection", "_tracked", "_run", "_log", "_trainer"):
            state[key] = None
        state["_stage"] = None
        return state

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self._experiment_name

    @property
    def version(self) -> str:
        """The id of the run: of the ``fit``/``validate``/``test`` in progress; before one
        begins, of the run it will write, made now if it is a new one (``ModelCheckpoint``
        asks for it to name its folder before the run starts). A call that resumes a run
        from a checkpoint learns which when Lightning loads the checkpoint: the logger then
        points ``ModelCheckpoint`` at that run's folder, before it reads its own state."""
        if self._stage is not None and self._run is not None:
            return str(self._run.id)
        trainer = _asking_trainer(self)
        if trainer is not None and getattr(rank_zero_only, "rank", 0) == 0:
            self._watch(trainer, first=False)  # in time to see the checkpoint loaded
            version = str(self._planned_run(trainer))
        else:
            version = str(self._next_id())
        self._given.add(version)
        return version

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

    @property
    def run(self) -> Run | None:
        """The run of the call in progress, else of the last one (on rank zero)."""
        return self._run

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Keep the hyper-parameters: the params of the next run, and its module
        ``hyperparameters`` (written at once while a run is on)."""
        self._hyperparameters = to_attributes(params)
        if self._log is not None:
            self._write_hyperparameters()

    @rank_zero_only
    def log_graph(self, model: nn.Module, input_array: Any = None) -> None:
        """Lightning calls this when a ``fit``, ``validate``, ``test`` or ``predict``
        begins: find or create the model, and start or resume the call's run."""
        self._begin(model)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log each value under its name and phase at the trainer's step plus the run's
        offset (see the module docstring)."""
        log = self._log
        if log is None:
            log = self._run_by_hand()
        if step is not None:
            self._last_step = step
            step += self._offset
        keys = self._keys
        for key, value in metrics.items():
            try:
                name, phase = keys[key]
            except KeyError:
                name, phase = keys[key] = self._split(key)
            log(name, value, step, phase)

    @rank_zero_only
    def save(self) -> None:
        """Write the model's step if ``step_interval`` has passed since it was last written;
        nothing otherwise (Lightning calls this after every logging call)."""
        if self._stage == _FIT and time.monotonic() - self._written_at >= self._step_interval:
            self._write_step()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """At the end of each call: write the model's step and the optimizers' settings if
        an epoch ended since they were logged (after a fit), end the run (``finished``;
        ``failed`` or ``killed`` after an exception) and write every queued point, bounded:
        what a store that is away does not take goes to the spool (see
        ``MetricWriter.flush_at_end``)."""
        run = self._run
        if run is None or self._log is None:
            self._stage = None
            return
        if self._stage == _FIT:
            self._epoch_boundary()
            self._write_step()
        self._position = self._current_step()
        ended: RunStatus = "finished"
        exit: str | None = None
        if status == "failed":
            ended = "failed"
            if self._exception is not None:  # Ctrl-C: killed; else the exception
                ended, exit = outcome_of(self._exception)
        self._log = None
        self._stage = None
        self._exception = None
        try:
            run.finish(ended, exit)
        finally:
            if self._connection is not None:
                self._connection.writer.flush_at_end()

    # -- the run of each call -----------------------------------------------------------

    def _next_id(self) -> UUID:
        if self._pending is None:
            self._pending = uuid4()
        return self._pending

    def _begin(self, module: nn.Module) -> None:
        trainer = getattr(module, "_trainer", None)
        self._trainer = trainer if isinstance(trainer, Trainer) else None
        function = None if self._trainer is None else self._trainer.state.fn
        stage = None if function is None else str(function.value)
        if stage not in _EVALUATING and stage != _FIT:
            return  # predict logs nothing; a module without a trainer has no call
        if self._log is not None:  # a run still on (logged by hand): it ends here
            self.finalize("success")
        assert self._trainer is not None
        trainer = self._trainer
        tracked = self._model_for(module)
        checkpoint = self._checkpoint(trainer, tracked.hash)
        # The trainer's step when the call logs its first point: a fit's is restored from
        # its checkpoint after this hook; an evaluation's is the trainer's as it is.
        trainer_step = int(trainer.global_step)
        if stage == _FIT and checkpoint is not None:
            trainer_step = checkpoint.global_step
        run: Run | None = None
        if checkpoint is not None and checkpoint.run is not None:
            if stage == _FIT:  # it goes on from the checkpoint: what it logged after, again
                run = runs.resume(tracked, checkpoint.run, checkpoint.step, checkpoint.saved_at)
            else:
                run = runs.resume(tracked, checkpoint.run)
            if run is not None and stage == _FIT:  # it goes on from the checkpoint
                self._offset = checkpoint.offset
            elif run is not None:  # an evaluation logs at the checkpoint's step
                self._offset = checkpoint.step - trainer_step
        last = self._continued_run(stage, checkpoint, tracked.hash)
        if run is None and last is not None:
            run = runs.resume(tracked, last)
            if run is not None:  # where its last call left it
                position = self._offset if self._position is None else self._position
                self._offset = position - trainer_step
        step = int(tracked.step)
        # A run that a validate or test starts is taken over by a fit that follows.
        self._adoptable = run is None and stage in _EVALUATING
        if run is None:
            start = runs.start_step(tracked, first=0, step=step)
            if checkpoint is not None:  # of no run of this model: after both
                start = max(start, checkpoint.global_step)
            self._offset = start - trainer_step
            run = runs.begin(tracked, self._run_name, self._hyperparameters, self._next_id())
            self._pending = None
        self._run = run
        self._run_hash = tracked.hash
        self._stage = stage
        self._log = run.metrics.log
        self._written_step = step
        self._written_at = time.monotonic()
        self._iteration_epoch = None
        self._write_hyperparameters()
        self._point_checkpoints_at(trainer, str(run.id))
        self._watch(trainer)

    def _model_for(self, module: nn.Module) -> Model:
        """The model of ``module``: the one of the last call if the hash is the same."""
        hash = self._hash_of(module)
        tracked = self._tracked
        if tracked is None or tracked.hash != hash:
            tracked = model_of(
                self.experiment,
                module,
                name=self._model_name,
                description=self._description,
                hash=hash,
            )
            self._tracked = tracked
            self._keys.clear()
        return tracked

    def _checkpoint(self, trainer: Trainer, hash: str) -> _Checkpoint | None:
        """What the checkpoint the call loads says of its run (a run of the model of
        ``hash``); ``None`` without a checkpoint."""
        path = trainer.ckpt_path
        if path is None:
            return None
        return _checkpoint_of(_loaded_checkpoint(trainer, path), self._experiment_name, hash)

    def _continued_run(self, stage: str, checkpoint: _Checkpoint | None, hash: str) -> UUID | None:
        """The logger's last run, if the call that begins goes on with it: a ``validate`` or
        ``test`` without a checkpoint, or a ``fit`` after a ``validate`` or ``test`` that
        started it (with the model of ``hash``)."""
        last = self._run
        if last is None or self._run_hash != hash or checkpoint is not None:
            return None
        if stage in _EVALUATING or (stage == _FIT and self._adoptable):
            return last.id
        return None

    def _planned_run(self, trainer: Trainer) -> UUID:
        """The id of the run that the call of ``trainer`` about to begin will write, as far
        as it is known before a checkpoint is loaded: the logger's last run if the call goes
        on with it, else a new run's."""
        function = trainer.state.fn
        module = trainer.lightning_module
        if function is None or not isinstance(module, nn.Module):
            return self._next_id()
        stage = str(function.value)
        return self._continued_run(stage, None, self._hash_of(module)) or self._next_id()

    def _restoring(
        self, trainer: Trainer, module: nn.Module, checkpoint: Mapping[str, Any]
    ) -> None:
        """When a fit loads a checkpoint, before the callbacks read their state from it:
        point the checkpoint callbacks at the folder of the run that wrote it."""
        run = _checkpoint_of(checkpoint, self._experiment_name, self._hash_of(module)).run
        if run is not None:
            self._point_checkpoints_at(trainer, str(run))

    def _hash_of(self, module: nn.Module) -> str:
        return self._hash if self._hash is not None else model_hash(module, self._extra)

    def _point_checkpoints_at(self, trainer: Trainer, version: str) -> None:
        """Point the ``ModelCheckpoint`` callbacks whose folder is that of another version
        this logger gave out (a resumed run's, a second fit's on one trainer) at this run's
        folder."""
        root = self.save_dir if self.save_dir is not None else trainer.default_root_dir
        folder = os.path.join(root, str(self.name), version, "checkpoints")
        others = {
            os.path.normpath(os.path.join(root, str(self.name), given, "checkpoints"))
            for given in self._given
            if given != version
        }
        self._given.add(version)
        for callback in trainer.checkpoint_callbacks:
            dirpath = getattr(callback, "dirpath", None)
            if isinstance(dirpath, str) and os.path.normpath(dirpath) in others:
                callback.dirpath = folder  # type: ignore[attr-defined]

    def _prepare(self, trainer: Trainer) -> None:
        """Before a call of a trainer that the logger's callback watches already begins (and
        before a checkpoint is restored): point its checkpoint callbacks at the folder of
        the run the call will write (they keep the folder of the first call otherwise)."""
        if self._stage is None:
            self._point_checkpoints_at(trainer, str(self._planned_run(trainer)))

    def _watch(self, trainer: Trainer, *, first: bool = True) -> None:
        """Add the logger's callback to the trainer (a logger has no hook for epochs,
        exceptions or checkpoints); once per trainer. ``first``: before the checkpoint
        callbacks, so that its ``setup`` comes before theirs (not while Lightning goes
        through the callbacks: it is added at their end, and moved at the next call)."""
        # Set by Lightning's callback connector, hence unknown to type checkers.
        callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]
        ours = [c for c in callbacks if isinstance(c, _RunCallback) and c.logger is self]
        if not first:
            if not ours:
                callbacks.append(_RunCallback(self))
            return
        callback = ours[0] if ours else _RunCallback(self)
        if ours:
            callbacks.remove(callback)
        checkpoints = [i for i, c in enumerate(callbacks) if isinstance(c, Checkpoint)]
        callbacks.insert(checkpoints[0] if checkpoints else len(callbacks), callback)

    def _run_by_hand(self) -> Any:
        """The run of metrics logged outside a Trainer call: the last run again, else (with
        ``hash=``) a new run of the model of that hash."""
        run = self._run
        if run is not None and self._tracked is not None:
            resumed = runs.resume(self._tracked, run.id)
            if resumed is not None:
                self._run = resumed
                self._log = resumed.metrics.log
                return self._log
        if self._hash is None:
            raise MLTrackerError(
                "MLTrackerLogger does not know the model yet: log through a Trainer's "
                "fit/validate/test, or give hash="
            )
        experiment: Experiment = self.experiment
        tracked = experiment.models.get_or_create(self._hash, name=self._model_name)
        self._tracked = tracked
        self._offset = runs.start_step(tracked, first=0)
        self._written_step = int(tracked.step)
        run = runs.begin(tracked, self._run_name, self._hyperparameters, self._next_id())
        self._pending = None
        self._run = run
        self._run_hash = tracked.hash
        self._log = run.metrics.log
        self._write_hyperparameters()
        return self._log

    def _write_hyperparameters(self) -> None:
        attributes = self._hyperparameters
        if attributes is None or self._run is None:
            return
        # Compared with the last ones of the run, by the store when it applies the write
        # (a read here would need it up).
        self._run.modules.log_if_changed(HYPERPARAMETERS_MODULE, attributes)

    # -- metric names ---------------------------------------------------------------------

    def _split(self, key: str) -> tuple[str, str | None]:
        """The name and phase of a key; ``<key>_step`` and ``<key>_epoch`` of a value
        logged with ``on_step`` and ``on_epoch`` are ``<key>``'s name, the second in the
        phase ``<phase>_epoch``."""
        base, epoch = _forked(self._trainer, key)
        name, phase = split_phase(base, self._phases)
        if epoch:
            phase = "epoch" if phase is None else f"{phase}_epoch"
        return name, phase

    # -- steps and iterations -------------------------------------------------------------

    def _epoch_boundary(self) -> None:
        """At the start of each epoch (after a checkpoint was restored) and at the end of a
        fit: write the step and log the optimizers' settings, once per epoch."""
        trainer = self._trainer
        if trainer is None or self._stage != _FIT or not trainer.optimizers:
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
        assert self._tracked is not None
        self._tracked.step = step
        self._written_step = step

    def _log_optimizers(self) -> None:
        trainer = self._trainer
        step = self._current_step()
        if trainer is None or step is None or self._run is None:
            return
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        log_optimizer(self._run, trainer.optimizers, step, scheduler=schedulers or None)
        self._iteration_epoch = trainer.current_epoch

    def _checkpoint_entry(self) -> dict[str, Any] | None:
        """What a checkpoint saved now keeps of the run (see ``_checkpoint``)."""
        if self._run is None or self._tracked is None or self._stage != _FIT:
            return None
        step = self._current_step()
        return {
            "run": str(self._run.id),
            "hash": self._tracked.hash,
            "offset": self._offset,
            "step": self._offset if step is None else step,
            "saved_at": time.time(),
        }


class _RunCallback(Callback):
    """The logger's eyes on its trainer (added by the logger): the start of each training
    epoch, the exception that stops a call, the checkpoints it saves."""

    def __init__(self, logger: MLTrackerLogger) -> None:
        self.logger = logger

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Before the checkpoint callbacks' (the logger puts it before them): a call after
        # the first on this trainer names their folder here.
        if trainer.is_global_zero:
            self.logger._prepare(trainer)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            self.logger._epoch_boundary()

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self.logger._exception = exception

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.is_global_zero:
            self.logger._restoring(trainer, pl_module, checkpoint)

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        entry = self.logger._checkpoint_entry()
        if entry is not None:
            entries = checkpoint.setdefault(CHECKPOINT_KEY, {})
            entries[self.logger.name] = entry


#: How many callers up the stack ``_asking_trainer`` looks.
_CALLERS: Final = 3


def _asking_trainer(logger: MLTrackerLogger) -> Trainer | None:
    """The trainer whose callback asks the logger something now, if any: a caller's local
    ``trainer`` (a ``Trainer`` of this logger), at most a few frames up.

    A logger is handed its trainer only once a call has begun, after the checkpoint folder
    is chosen and the checkpoint loaded; but ``ModelCheckpoint`` asks for ``version`` with
    the trainer in hand (``__resolve_ckpt_dir(trainer)``), early enough for the logger to
    add its callback, which then sees the checkpoint being loaded.
    """
    frame = inspect.currentframe()
    for _ in range(_CALLERS + 1):
        frame = None if frame is None else frame.f_back
        if frame is None:
            return None
        candidate = frame.f_locals.get("trainer")
        if isinstance(candidate, Trainer) and any(each is logger for each in candidate.loggers):
            return candidate
    return None


def _checkpoint_of(loaded: Mapping[str, Any], experiment: str, hash: str) -> _Checkpoint:
    """What a checkpoint says of the run of the model of ``hash`` in ``experiment`` that
    wrote it (``run`` is ``None`` if it was written by no such run)."""
    global_step = loaded.get("global_step")
    global_step = global_step if type(global_step) is int else 0
    entries = loaded.get(CHECKPOINT_KEY)
    entry = entries.get(experiment) if isinstance(entries, dict) else None
    if not isinstance(entry, dict) or entry.get("hash") != hash:
        return _Checkpoint(None, 0, global_step, global_step)
    try:
        run_id = UUID(str(entry["run"]))
        offset, step = int(entry["offset"]), int(entry["step"])
    except (KeyError, TypeError, ValueError):
        return _Checkpoint(None, 0, global_step, global_step)
    saved_at = entry.get("saved_at")
    if type(saved_at) is not float or not math.isfinite(saved_at):
        saved_at = None
    return _Checkpoint(run_id, offset, step, global_step, saved_at)


def _loaded_checkpoint(trainer: Trainer, path: Any) -> dict[str, Any]:
    """The checkpoint the trainer loads: the dict Lightning read already (it keeps it while
    a call begins), else (a strategy that restores it later) the file, read without its
    tensors' data (``mmap``); ``{}`` if neither can be had."""
    connector = getattr(trainer, "_checkpoint_connector", None)
    loaded = getattr(connector, "_loaded_checkpoint", None)
    if isinstance(loaded, dict) and loaded:
        return loaded
    try:
        if not os.path.isfile(path):  # a URL, a folder of shards, ...: not read here
            return {}
        read = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception:  # noqa: BLE001 - not a checkpoint this logger can read: no run in it
        return {}
    return read if isinstance(read, dict) else {}


def _forked(trainer: Trainer | None, key: str) -> tuple[str, bool]:
    """``key`` without the ``_step``/``_epoch`` that Lightning adds to a value logged with
    ``on_step`` and ``on_epoch``, and whether it was ``_epoch``; as it is otherwise. Lightning
    says which values it forked (``trainer._results``); without that, nothing is taken off."""
    head, separator, index = key.partition(_DATALOADER)
    for suffix, epoch in (("_step", False), ("_epoch", True)):
        if head.endswith(suffix) and _is_forked(trainer, head[: -len(suffix)]):
            return head[: -len(suffix)] + separator + index, epoch
    return key, False


def _is_forked(trainer: Trainer | None, name: str) -> bool:
    try:
        results = trainer._results if trainer is not None else None
        metrics = list(results.values()) if results is not None else []
    except Exception:  # noqa: BLE001 - outside a loop, or another Lightning: not known
        return False
    return any(
        getattr(metric.meta, "forked", False) and metric.meta.name == name for metric in metrics
    )
