"""``models list`` and ``experiments show`` cost the same number of queries for 3 models as
for 30: the models come with their steps in one query, and their latest points in a few.
With ``--json`` no table is laid out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql.store import SqlStore
from mltracker.cli import experiments as experiments_command

from .helpers import invoke, parse_json

#: At most this many statements for either command: the experiment, the models, their series
#: and their latest points, each read after a ``BEGIN`` on SQLite.
MOST = 8


class Counter:
    """Counts the statements a store sends from this thread (the command's: the CLI runs in
    it), through SQLAlchemy and on the driver's cursor; the writer's and the heartbeat's
    threads write to the same store meanwhile."""

    def __init__(self, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._store = store
        self._thread = threading.get_ident()
        sa.event.listen(store.engine, "before_cursor_execute", self._count)
        driver_execute = engines.driver_execute

        def counted(connection: Any, statement: Any) -> Any:
            self._count()
            return driver_execute(connection, statement)

        monkeypatch.setattr(engines, "driver_execute", counted)

    def _count(self, *_: Any) -> None:
        if threading.get_ident() == self._thread:
            self.count += 1

    def close(self) -> None:
        sa.event.remove(self._store.engine, "before_cursor_execute", self._count)


@pytest.fixture
def tracker(uri: str) -> Iterator[mltracker.Connection]:
    """A handle held open during the test: the CLI, run in this process, shares its store."""
    with mltracker.connect(uri) as tracker:
        yield tracker


@pytest.fixture
def counter(tracker: mltracker.Connection, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    store = tracker.store
    assert isinstance(store, SqlStore)
    counter = Counter(store, monkeypatch)
    yield counter
    counter.close()


def add_models(experiment: mltracker.Experiment, start: int, stop: int) -> None:
    """Models ``h<start>`` to ``h<stop - 1>``, each with a step and two series (every third
    model with none)."""
    for number in range(start, stop):
        model = experiment.models.create(f"h{number:02d}", name=f"m{number}")
        model.step = number
        if number % 3 == 2:
            continue
        for step in range(3):
            model.metrics.log("loss", 1.0 / (step + 1 + number), step=step, phase="train")
            model.metrics.log("acc", step * number, step=step)


def statements(uri: str, counter: Counter, *args: str) -> tuple[int, str]:
    """How many statements the command ran, and what it printed."""
    counter.count = 0
    result = invoke("--uri", uri, *args)
    assert result.exit_code == 0, result.output
    return counter.count, result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("models", "list", "many"),
        ("--json", "models", "list", "many"),
        ("experiments", "show", "many"),
        ("experiments", "show", "many", "--long"),
        ("--json", "experiments", "show", "many"),
    ],
    ids=["models-list", "models-list-json", "show", "show-long", "show-json"],
)
def test_the_same_number_of_statements_for_3_models_as_for_30(
    uri: str, tracker: mltracker.Connection, counter: Counter, command: tuple[str, ...]
) -> None:
    experiment = tracker.experiments.create("many")
    add_models(experiment, 0, 3)
    tracker.flush()
    statements(uri, counter, *command)  # once before: what a process looks up only once
    few, few_output = statements(uri, counter, *command)
    add_models(experiment, 3, 30)
    tracker.flush()

    many, many_output = statements(uri, counter, *command)

    assert few_output.count("h29") == 0
    assert many_output.count("h29") == 1
    assert many == few
    assert many <= MOST


def test_show_gives_each_model_its_own_step_and_latest_points(
    uri: str, tracker: mltracker.Connection
) -> None:
    experiment = tracker.experiments.create("many")
    add_models(experiment, 0, 30)
    tracker.flush()

    document = parse_json(invoke("--uri", uri, "--json", "experiments", "show", "many").stdout)

    assert [(model["hash"], model["step"]) for model in document["models"]] == [
        (f"h{number:02d}", number) for number in range(30)
    ]
    for number, model in enumerate(document["models"]):
        latest = [(point["name"], point["phase"], point["value"]) for point in model["latest"]]
        if number % 3 == 2:
            assert latest == []
        else:
            assert latest == [("loss", "train", 1.0 / (3 + number)), ("acc", None, 2 * number)]


def test_show_json_lays_out_no_table(
    uri: str, tracker: mltracker.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = tracker.experiments.create("many")
    add_models(experiment, 0, 3)
    tracker.flush()

    def no_table(*_: object, **__: object) -> None:
        raise AssertionError("a table was made for --json output")

    monkeypatch.setattr(experiments_command, "table", no_table)
    result = invoke("--uri", uri, "--json", "experiments", "show", "many")

    assert result.exit_code == 0
    assert [model["hash"] for model in parse_json(result.stdout)["models"]] == ["h00", "h01", "h02"]
