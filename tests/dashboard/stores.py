"""Stores with known contents for the dashboard tests, written through the library."""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import mltracker
from mltracker.ports.store import RunStart, Series, Store
from mltracker.values import FLOAT

#: The models of :func:`fill`: hash -> (name, description, hidden units, learning rate).
MODELS = {
    "a1": ("mlp-16", "one hidden layer", 16, 0.1),
    "b2": ("mlp-64", "wider", 64, 0.1),
    "c3": ("mlp-64", None, 64, 0.05),
}
EPOCHS = 12


@dataclass(frozen=True)
class Filled:
    """What :func:`fill` stored."""

    uri: str
    experiment: str
    hashes: tuple[str, ...]


def loss(hash: str, epoch: int) -> float:
    return 1.0 / (epoch + 1) + 0.01 * list(MODELS).index(hash)


def fill(uri: str) -> Filled:
    """Experiment "spirals": three models, each with "loss" and "accuracy" in the phases
    train and validation (12 epochs), "lr" without a phase, modules and an iteration per
    epoch; a second experiment "empty" with no model."""
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.create("spirals")
        tracker.experiments.create("empty")
        for hash, (name, description, units, lr) in MODELS.items():
            model = experiment.models.create(hash, name=name, description=description)
            layer = {"type": "Linear", "in_features": 2, "out_features": units}
            model.modules.log("layers.0", layer)
            model.modules.log("loss", {"type": "CrossEntropyLoss"})
            for epoch in range(EPOCHS):
                model.metrics.log("loss", loss(hash, epoch), step=epoch, phase="train")
                model.metrics.log("loss", loss(hash, epoch) + 0.02, step=epoch, phase="validation")
                model.metrics.log("accuracy", 1 - loss(hash, epoch), step=epoch, phase="train")
                model.metrics.log("lr", lr * 0.9**epoch, step=epoch)
                iteration = model.iterations.create(epoch)
                iteration.modules.log("optimizer", {"type": "SGD", "lr": lr * 0.9**epoch})
                model.step += 1
    return Filled(uri, "spirals", tuple(MODELS))


def fill_special(uri: str) -> None:
    """Experiment "odd", model "nan": a series "loss" (phase train) of 40 points where step
    10 is NaN, step 20 +inf and step 30 -inf; "grad" ends with a NaN."""
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("odd").models.create("nan", name="unstable")
        specials = {10: math.nan, 20: math.inf, 30: -math.inf}
        for step in range(40):
            model.metrics.log("loss", specials.get(step, 1.0 + step / 40), step=step, phase="train")
            model.metrics.log("grad", math.nan if step == 39 else 0.5, step=step)


def fill_long(uri: str, count: int, spike_at: int, *, experiment: str = "long") -> None:
    """Experiment ``experiment``, model "big": one series "loss" (phase train) of ``count``
    points at steps 0..count-1, a slow sine wave in [0, 1], with one spike of 100.0 at
    ``spike_at``."""
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create(experiment).models.create("big", name="long run")
        log = model.metrics.log
        for step in range(count):
            value = 100.0 if step == spike_at else 0.5 + 0.5 * math.sin(step / (count / 20))
            log("loss", value, step=step, phase="train")


@dataclass(frozen=True)
class Sweep:
    """What :func:`fill_sweep` stored: the runs of model "mlp", oldest first."""

    uri: str
    runs: tuple[uuid.UUID, ...]
    running: uuid.UUID
    other: uuid.UUID


#: The runs of :func:`fill_sweep`'s model "mlp": name -> params (the last stays running).
SWEEP = {
    "lr=0.1": {"lr": 0.1, "batch": 32},
    "lr=0.05": {"lr": 0.05, "batch": 64, "optimizer": {"momentum": 0.9}},
    "lr=0.01": {"lr": 0.01, "batch": 32},
}


def sweep_loss(index: int, step: int) -> float:
    return 1.0 / (step + 1) + 0.1 * index


def fill_sweep(uri: str) -> Sweep:
    """Experiment "sweep": model "mlp" with three runs of "loss" (no phase, 10 steps each):
    "lr=0.1" finished, "lr=0.05" failed (a ValueError), "lr=0.01" running (started through
    the store, without a heartbeat timeout, so that it stays running); model "cnn" with one
    finished run "baseline"."""
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.create("sweep")
        model = experiment.models.create("mlp", name="mlp-64")
        ids = []
        names = list(SWEEP)
        with model.runs.start(name=names[0], params=SWEEP[names[0]]) as run:
            for step in range(10):
                run.metrics.log("loss", sweep_loss(0, step), step=step)
        ids.append(run.id)
        try:
            with model.runs.start(name=names[1], params=SWEEP[names[1]]) as run:
                for step in range(10):
                    run.metrics.log("loss", sweep_loss(1, step), step=step)
                raise ValueError("diverged")
        except ValueError:
            pass
        ids.append(run.id)
        tracker.flush()
        store: Store = tracker.store
        running = uuid.uuid4()
        params = json.dumps(SWEEP[names[2]])
        context = json.dumps({"host": "gpu-7"})
        store.start_run(RunStart(running, model.id, names[2], params, context, time.time(), None))
        series = Series(model.id, "loss", None, running)
        store.write_points(
            [(series, step, FLOAT, sweep_loss(2, step), None, time.time()) for step in range(10)]
        )
        ids.append(running)
        with experiment.models.create("cnn").runs.start(name="baseline") as baseline:
            baseline.metrics.log("loss", 0.5, step=0)
    return Sweep(uri, tuple(ids), running, baseline.id)


#: The grid of fill_grid: lr x width x seed, each run a model "mlp"'s.
GRID = [
    {"optimizer": "adam", "lr": lr, "width": width, "seed": seed}
    for lr in (0.001, 0.01, 0.1)
    for width in (64, 128)
    for seed in (0, 1)
]


def grid_loss(params: dict[str, Any], step: int) -> float:
    return 1.0 / (step + 1) + params["lr"] * 10 + params["width"] / 1000 + params["seed"] / 100


def grid_name(params: dict[str, Any]) -> str:
    return f"lr={params['lr']},w={params['width']},s={params['seed']}"


def fill_grid(uri: str) -> list[uuid.UUID]:
    """Experiment "grid": model "mlp" with a run per GRID entry (oldest first, all finished),
    named by grid_name, params as GRID (optimizer the same in every run), "loss" in phase
    "validation" over 5 steps (grid_loss). Their ids, in GRID's order."""
    ids = []
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("grid").models.create("mlp")
        for params in GRID:
            with model.runs.start(name=grid_name(params), params=params) as run:
                for step in range(5):
                    run.metrics.log("loss", grid_loss(params, step), step=step, phase="validation")
            ids.append(run.id)
    return ids
