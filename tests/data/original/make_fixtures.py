"""Write the db.json fixtures of the importer tests with the original mltracker 0.4.0.

Run with a Python 3.12 that has ``mltracker==0.4.0`` and ``tinydb`` installed:

    python3.12 -m venv /tmp/original && /tmp/original/bin/pip install mltracker==0.4.0 tinydb
    /tmp/original/bin/python tests/data/original/make_fixtures.py tests/data/original
"""

import math
import sys
from pathlib import Path

from mltracker import getExperiment


def small(path: str) -> None:
    experiment = getExperiment("mnist", path=path)
    model = experiment.models.create("hash-a", name="mlp", description="two layers")
    model.modules.log("linear", {"in_features": 784, "out_features": 10, "bias": True})
    model.modules.log("dropout")  # no attributes: stored as null
    model.modules.log("nested", {"config": {"sizes": [1, 2, 3], "name": "é ✓"}, "none": None})
    for epoch in range(1, 4):
        iteration = model.iterations.create(epoch)
        iteration.modules.log("optimizer", {"type": "SGD", "lr": 0.1 / epoch})
        model.metrics.log("loss", 1.0 / epoch, epoch, "train")
        model.metrics.log("accuracy", 0.5 + epoch / 10, epoch, "validation")
        model.step = epoch
    model.metrics.log("special", math.nan, 4, "train")
    model.metrics.log("special", math.inf, 5, "train")
    model.metrics.log("special", -math.inf, 6, "train")
    model.metrics.log("count", 7, 7)
    model.metrics.log("no-step", 0.25, None)

    other = experiment.models.create("hash-b")
    other.metrics.log("loss", 2.5, 1, "train")

    second = getExperiment("cifar", path=path)
    second.models.create("hash-a", name="same hash, other experiment")


def medium(path: str) -> None:
    experiment = getExperiment("long-run", path=path)
    model = experiment.models.create("long", name="resnet")
    for step in range(500):
        model.metrics.log("loss", 1.0 / (step + 1), step, "train")
        model.metrics.log("lr", 0.1 * 0.99**step, step)
    model.step = 500


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    for name, build in (("small.json", small), ("medium.json", medium)):
        target = folder / name
        target.unlink(missing_ok=True)
        build(str(target))
        print("wrote", target)
