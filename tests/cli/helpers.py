"""Helpers of the CLI tests: running the CLI in process, a store with known contents, checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from click.testing import CliRunner, Result

import mltracker
from mltracker.cli import cli

FIRST_HASH = "a1b2c3d4"
SECOND_HASH = "a1ffee00"
THIRD_HASH = "b9"


class Run(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


def invoke(*args: str, input: str | None = None) -> Result:
    """Run the CLI in this process; unexpected exceptions propagate to the test.

    Tables are as wide as ``$COLUMNS`` when stdout is not a terminal: fixed here.
    """
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False)


@dataclass
class Contents:
    """What :func:`fill` put into a store."""

    uri: str
    experiment_id: str
    first_id: str


def fill(uri: str) -> Contents:
    """Experiment "mnist" with three models (two hashes start with "a1") and "empty"."""
    with mltracker.connect(uri) as tracker:
        mnist = tracker.experiments.create("mnist")
        tracker.experiments.create("empty")
        first = mnist.models.create(FIRST_HASH, name="mlp", description="two layers")
        first.modules.log("layers.0", {"type": "Linear", "in_features": 784, "out_features": 128})
        first.modules.log("loss", {"type": "CrossEntropyLoss"})
        for epoch in (1, 2, 3):
            iteration = first.iterations.create(epoch)
            iteration.modules.log("optimizer", {"type": "SGD", "lr": 0.1 / epoch})
            first.metrics.log("loss", 1.0 / epoch, step=epoch, phase="train")
            first.metrics.log("accuracy", 0.8 + epoch / 100, step=epoch, phase="validation")
            first.step += 1
        first.metrics.log("grad_norm", float("nan"), step=4)
        first.metrics.log("peak", float("inf"), step=4)
        first.metrics.log("trough", float("-inf"), step=4)
        first.metrics.log("count", 7, step=4, phase="train")
        first.metrics.log("config", {"depth": 2, "tags": ["a", "b"]})
        second = mnist.models.create(SECOND_HASH, name="cnn")
        second.metrics.log("loss", 0.5, step=1, phase="train")
        mnist.models.create(THIRD_HASH)
        return Contents(uri, str(mnist.id), str(first.id))


def _refuse_constant(token: str) -> Any:
    raise AssertionError(f"bare {token} in JSON output")


def parse_json(text: str) -> Any:
    """Strict JSON: NaN and Infinity tokens are refused."""
    return json.loads(text, parse_constant=_refuse_constant)


def assert_error(result: Result, fragment: str) -> None:
    """Exit code 1, one ``Error:`` line on stderr containing ``fragment``, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0] == result.stderr.strip().splitlines()[-1]
    assert fragment in errors[0], errors[0]


def assert_usage_error(result: Result, fragment: str) -> None:
    """Exit code 2 (click's usage error), with ``fragment`` in its message."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert fragment in result.stderr, result.stderr


def table_rows(text: str) -> list[list[str]]:
    """The cells of each body row of the rich tables in ``text``."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def table_header(text: str) -> list[str]:
    """The column titles of the first rich table in ``text``."""
    line = next(line for line in text.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip()[1:-1].split("┃")]
