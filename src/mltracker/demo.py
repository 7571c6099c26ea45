"""A small real training run, logged to a store: the project's demo.

Several NumPy multilayer perceptrons with different hyper-parameters learn a synthetic
two-spirals classification task. Each model's layers are logged as modules, the optimizer's
settings of every epoch as an iteration's modules, train and validation loss and accuracy
per epoch as metrics, and ``model.step`` counts the epochs. Each model's training is a run
named after it, with the settings as its params.

Run it with ``python -m mltracker.demo [URI]`` (NumPy needed: ``pip install 'mltracker[numpy]'``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mltracker.ports.experiments import Experiment
from mltracker.ports.models import Model

try:
    import numpy as np
except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "the demo needs NumPy: pip install 'mltracker[numpy]'", name=error.name
    ) from error

EXPERIMENT = "spirals"


@dataclass(frozen=True)
class Settings:
    """The hyper-parameters of one demo model."""

    hidden: tuple[int, ...]
    learning_rate: float
    momentum: float = 0.9
    epochs: int = 30
    batch_size: int = 64
    lr_decay: float = 0.97
    seed: int = 0

    def hash(self) -> str:
        """A stable hash of the settings: the model's hash in its experiment."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def name(self) -> str:
        return "mlp-" + "x".join(str(size) for size in self.hidden)

    def params(self) -> dict[str, Any]:
        """The settings as a run's params (``hidden`` as text, ``"32x32"``)."""
        return {**asdict(self), "hidden": "x".join(str(size) for size in self.hidden)}


DEFAULT_SETTINGS = (
    Settings(hidden=(16,), learning_rate=0.05),
    Settings(hidden=(32, 32), learning_rate=0.05),
    Settings(hidden=(64, 64), learning_rate=0.02),
)


def spirals(points: int, rng: np.random.Generator, noise: float = 0.15) -> tuple[Any, Any]:
    """Two interleaved spirals in the plane, labelled 0 and 1."""
    half = points // 2
    turn = np.sqrt(rng.uniform(0.05, 1.0, half)) * 3 * np.pi
    arm = np.stack([turn * np.cos(turn), turn * np.sin(turn)], axis=1) / (3 * np.pi)
    features = np.concatenate([arm, -arm]) + rng.normal(0.0, noise / 3, (2 * half, 2))
    labels = np.concatenate([np.zeros(half, dtype=np.int64), np.ones(half, dtype=np.int64)])
    order = rng.permutation(2 * half)
    return features[order], labels[order]


class MLP:
    """A ReLU multilayer perceptron with a softmax output, trained by SGD with momentum."""

    def __init__(self, sizes: list[int], rng: np.random.Generator) -> None:
        self.weights = [
            rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.biases = [np.zeros(fan_out) for fan_out in sizes[1:]]
        self.velocity = [np.zeros_like(p) for p in self.weights + self.biases]

    def forward(self, x: Any) -> tuple[list[Any], Any]:
        activations = [x]
        for weight, bias in zip(self.weights[:-1], self.biases[:-1], strict=True):
            activations.append(np.maximum(activations[-1] @ weight + bias, 0.0))
        logits = activations[-1] @ self.weights[-1] + self.biases[-1]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return activations, probabilities

    def loss_and_accuracy(self, x: Any, y: Any) -> tuple[float, float]:
        _, probabilities = self.forward(x)
        loss = -np.log(probabilities[np.arange(len(y)), y] + 1e-12).mean()
        return float(loss), float((probabilities.argmax(axis=1) == y).mean())

    def step(self, x: Any, y: Any, learning_rate: float, momentum: float) -> None:
        activations, probabilities = self.forward(x)
        delta = probabilities
        delta[np.arange(len(y)), y] -= 1.0
        delta /= len(y)
        gradients_w, gradients_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            gradients_w.append(activations[layer].T @ delta)
            gradients_b.append(delta.sum(axis=0))
            if layer:
                delta = (delta @ self.weights[layer].T) * (activations[layer] > 0)
        gradients = gradients_w[::-1] + gradients_b[::-1]
        for parameter, velocity, gradient in zip(
            self.weights + self.biases, self.velocity, gradients, strict=True
        ):
            velocity *= momentum
            velocity -= learning_rate * gradient
            parameter += velocity


Progress = Callable[[Settings, int], None]


def train(
    experiment: Experiment,
    settings: Settings,
    data: tuple[Any, Any, Any, Any],
    progress: Progress | None = None,
) -> Model:
    """Train one model and log everything about it to ``experiment``; return the model.

    A model of the same hash from an earlier run is replaced.
    """
    previous = experiment.models.read(settings.hash())
    if previous is not None:
        experiment.models.delete(previous.id)
    model = experiment.models.create(
        settings.hash(),
        name=settings.name(),
        description=f"MLP {settings.hidden}, SGD lr={settings.learning_rate}",
    )
    with model.runs.start(name=settings.name(), params=settings.params()):
        _fit(model, settings, data, progress)
    return model


def _fit(
    model: Model,
    settings: Settings,
    data: tuple[Any, Any, Any, Any],
    progress: Progress | None,
) -> None:
    """One model's training, logged to its current run: its layers, then every epoch."""
    x_train, y_train, x_valid, y_valid = data
    sizes = [x_train.shape[1], *settings.hidden, 2]
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = index == len(sizes) - 2
        model.modules.log(
            f"layers.{index}",
            {
                "type": "Linear",
                "in_features": fan_in,
                "out_features": fan_out,
                "activation": "softmax" if last else "relu",
            },
        )
    model.modules.log("loss", {"type": "CrossEntropyLoss"})

    rng = np.random.default_rng(settings.seed)
    network = MLP(sizes, rng)
    learning_rate = settings.learning_rate
    for epoch in range(1, settings.epochs + 1):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            network.step(x_train[batch], y_train[batch], learning_rate, settings.momentum)
        iteration = model.iterations.create(epoch)
        iteration.modules.log(
            "optimizer",
            {
                "type": "SGD",
                "lr": learning_rate,
                "momentum": settings.momentum,
                "batch_size": settings.batch_size,
            },
        )
        for phase, (x, y) in (("train", (x_train, y_train)), ("validation", (x_valid, y_valid))):
            loss, accuracy = network.loss_and_accuracy(x, y)
            model.metrics.log("loss", loss, step=epoch, phase=phase)
            model.metrics.log("accuracy", accuracy, step=epoch, phase=phase)
        model.step = epoch
        learning_rate *= settings.lr_decay
        if progress is not None:
            progress(settings, epoch)


def make_data(points: int = 2000, seed: int = 42) -> tuple[Any, Any, Any, Any]:
    """Training and validation splits of the spirals (80/20)."""
    x, y = spirals(points, np.random.default_rng(seed))
    cut = int(0.8 * len(y))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def run(
    experiment: Experiment,
    settings: tuple[Settings, ...] = DEFAULT_SETTINGS,
    progress: Progress | None = None,
) -> list[Model]:
    """Train every model of ``settings`` on one dataset."""
    data = make_data()
    return [train(experiment, each, data, progress) for each in settings]


def main(argv: list[str] | None = None) -> int:
    import mltracker

    args = sys.argv[1:] if argv is None else argv
    uri = args[0] if args else None
    with mltracker.connect(uri) as connection:
        experiment = connection.experiments.read(EXPERIMENT) or connection.experiments.create(
            EXPERIMENT
        )
        models = run(experiment, progress=lambda s, epoch: None)
        print(f"Logged {len(models)} models to experiment {EXPERIMENT!r} in {connection.uri}")
        for model in models:
            best = max(point.value for point in model.metrics.list("accuracy", phase="validation"))
            print(f"  {model.name:<12} {model.hash}  steps={model.step}  best val acc={best:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
