"""What one process writes, a fresh Python process reads back exactly (SPEC §1, §2, §4)."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

import mltracker


def dump(tracker: mltracker.Connection) -> str:
    """Everything a store holds, as the API shows it, as one ``ascii()`` string (floats keep
    their sign and NaN, ints and bools their types).

    Run here and, from its source, in the child process: both sides use the same code. So it
    must not use anything defined outside of it.
    """
    experiments = []
    for experiment in tracker.experiments.list():
        models = []
        for model in experiment.models.list():
            metrics = [
                (m.id, m.name, m.value, type(m.value).__name__, m.step, m.phase, m.timestamp)
                for m in model.metrics.list()
            ]
            modules = [(m.id, m.name, m.attributes) for m in model.modules.list()]
            iterations = [
                (i.id, i.step, [(m.id, m.name, m.attributes) for m in i.modules.list()])
                for i in model.iterations.list()
            ]
            models.append(
                (
                    model.id,
                    model.hash,
                    model.name,
                    model.description,
                    model.step,
                    metrics,
                    modules,
                    iterations,
                )
            )
        experiments.append((experiment.id, experiment.name, models))
    return ascii(experiments)


READ_SCRIPT = (
    "from __future__ import annotations\n"
    "import sys\n"
    "import mltracker\n"
    + inspect.getsource(dump)
    + textwrap.dedent(
        """
        with mltracker.connect(sys.argv[1]) as tracker:
            print(dump(tracker))
        """
    )
)


def _python(script: str, *args: str, cwd: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


VALUES: list[Any] = [
    0.25,
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0,
    1,
    True,
    False,
    2**63 - 1,
    -(2**63),
    2**53 + 1,
    5e-324,
    "text ✓",
    [1, 2.5, None, "a"],
    {"nested": {"list": [math.nan, -0.0], "none": None}},
]
NUMPY_VALUES: list[Any] = [np.float32(0.5), np.int64(-7), np.bool_(True)]
ATTRIBUTES = {
    "lr": 0.001,
    "betas": [0.9, 0.999],
    "amsgrad": False,
    "depth": 2**62,
    "nested": {"ключ": ["🚀", None, {"x": -0.0}]},
    "inf": math.inf,
}


def _write(tracker: mltracker.Connection) -> None:
    experiment = tracker.experiments.create("persistence 🚀")
    model = experiment.models.create("a1b2", name="mlp", description='it\'s "quoted"\nline 2')
    for step, value in enumerate(VALUES + NUMPY_VALUES):
        model.metrics.log("value", value, step=step, phase="train")
    model.metrics.log("no step", 1.5)
    model.metrics.add("negative step", 2, step=-(2**63))
    model.modules.log("adam", ATTRIBUTES)
    model.modules.add("relu")
    for step in (3, 1, 3):
        model.iterations.create(step).modules.log("sgd", {"step": step})
    model.step += 5
    experiment.models.create("empty")
    tracker.experiments.create("second").models.create("a1b2")


def test_written_store_reads_back_exactly_in_a_fresh_process(uri: str, tmp_path: Path) -> None:
    with mltracker.connect(uri) as tracker:
        _write(tracker)
        written = dump(tracker)

    read = _python(READ_SCRIPT, uri, cwd=tmp_path)

    assert read == written


def test_values_read_in_a_fresh_process_keep_their_types(uri: str, tmp_path: Path) -> None:
    with mltracker.connect(uri) as tracker:
        _write(tracker)

    script = textwrap.dedent(
        """
        import sys
        import mltracker

        with mltracker.connect(sys.argv[1]) as tracker:
            model = tracker.experiments.read("persistence 🚀").models.read("a1b2")
            print(ascii([(m.value, m.step) for m in model.metrics.list("value")]))
            print(ascii([m.attributes for m in model.modules.list()]))
            print(ascii([i.step for i in model.iterations.list()]), model.step)
        """
    )
    values, attributes, steps = _python(script, uri, cwd=tmp_path).splitlines()

    expected_values = VALUES + [0.5, -7, True]
    assert values == ascii([(value, step) for step, value in enumerate(expected_values)])
    assert attributes == ascii([ATTRIBUTES, {}])
    assert steps == "[3, 1, 3] 5"


def test_points_logged_by_a_process_that_exits_normally_are_all_stored(
    uri: str, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import sys
        from mltracker import getExperiment

        experiment = getExperiment("child", sys.argv[1])
        model = experiment.models.create("hash", name="n")
        for step in range(2000):
            model.metrics.add("loss", 1.0 / (step + 1), step, "train")
        model.modules.add("linear", {"out": 10})
        model.step += 1
        """
    )

    _python(script, uri, cwd=tmp_path)

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("child")
        assert experiment is not None
        model = experiment.models.read("hash")
        assert model is not None
        assert (model.name, model.step) == ("n", 1)
        points = [(m.name, m.value, m.step, m.phase) for m in model.metrics.list()]
        assert points == [("loss", 1.0 / (s + 1), s, "train") for s in range(2000)]
        assert [(m.name, m.attributes) for m in model.modules.list()] == [("linear", {"out": 10})]
