"""Stores with known contents for the dashboard tests, written through the library."""

from __future__ import annotations

import math
from dataclasses import dataclass

import mltracker

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
