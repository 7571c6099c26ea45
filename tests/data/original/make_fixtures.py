"""Write the db.json fixtures of the importer tests with the original mltracker 0.4.0.

Run with a Python 3.12 that has ``mltracker==0.4.0`` and ``tinydb`` installed:

    python3.12 -m venv /tmp/original && /tmp/original/bin/pip install mltracker==0.4.0 tinydb
    /tmp/original/bin/python tests/data/original/make_fixtures.py tests/data/original
"""

import math
import shutil
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


def quirks(path: str) -> None:
    """What the original accepted and MLTracker's data model has no place for, or another."""
    experiment = getExperiment("quirks", path=path)
    model = experiment.models.create("floats", name="", description="")
    model.metrics.log("loss", 0.5, 1.0, "train")  # a float step that is an integer
    model.metrics.log("loss", 0.25, 2.0, "")  # an empty phase
    model.metrics.log("loss", 0.125, 0.5, "train")  # a step that is not an integer
    model.metrics.log("loss", 0.0625, 2**70, "train")  # a step beyond int64
    model.metrics.log("big", 2**70, 3)  # a value beyond int64
    model.metrics.log("big", -(2**64) - 1, 4)
    model.metrics.log("", 1.0, 5)  # an empty metric name
    model.metrics.log("loss", 0.03125, 6, "train")
    model.modules.log("", {"a": 1})  # an empty module name
    model.modules.log("kept", {"a": 2})
    model.iterations.create(2.0)
    model.iterations.create(0.5).modules.log("optimizer", {"lr": 0.5})
    model.step = 3.0

    half = experiment.models.create("half-step", name="half")
    half.metrics.log("loss", 1.0, 1, "train")
    half.step = 0.5

    experiment.models.create("", name="empty hash").metrics.log("loss", 1.0, 1)
    getExperiment("", path=path).models.create("in-unnamed-experiment")
    getExperiment("after", path=path).models.create("last").metrics.log("loss", 2.0, 1)


def growing(first: str, second: str) -> None:
    """A file imported once (``first``), then extended by the original (``second``)."""
    experiment = getExperiment("growing", path=first)
    model = experiment.models.create("run", name="draft")
    for step in range(1, 4):
        model.metrics.log("loss", 1.0 / step, step, "train")
        model.step = step
    model.modules.log("linear", {"out_features": 10})
    model.iterations.create(1).modules.log("optimizer", {"lr": 0.1})
    shutil.copyfile(first, second)
    experiment = getExperiment("growing", path=second)
    model = experiment.models.read("run")
    for step in range(4, 6):
        model.metrics.log("loss", 1.0 / step, step, "train")
        model.step = step
    experiment.models.update("run", name="final", description="trained to step 5")
    model.modules.log("dropout", {"p": 0.5})
    model.iterations.create(4).modules.log("optimizer", {"lr": 0.01})
    experiment.models.create("second-run").metrics.log("loss", 9.0, 1, "train")


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    for name, build in (("small.json", small), ("medium.json", medium), ("quirks.json", quirks)):
        target = folder / name
        target.unlink(missing_ok=True)
        build(str(target))
        print("wrote", target)
    first, second = folder / "growing-1.json", folder / "growing-2.json"
    first.unlink(missing_ok=True)
    second.unlink(missing_ok=True)
    growing(str(first), str(second))
    print("wrote", first, second)
