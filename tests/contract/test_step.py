"""``model.step`` (SPEC §1): ``model.step += k`` is an atomic increment, so concurrent
increments of threads and processes all count; an ``int`` assigned is stored as is; what the
getter returns behaves as an ``int`` everywhere."""

from __future__ import annotations

import copy
import json
import pickle
import textwrap
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

import mltracker
from mltracker import InvalidArgumentError, InvalidTypeError, Model, NotFoundError

from .together import run_together

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@pytest.fixture
def model(connection: mltracker.Connection) -> Model:
    return connection.experiments.create(f"step-{uuid.uuid4()}").models.create("h")


def _twin(connection: mltracker.Connection, model: Model) -> Model:
    """Another entity of the same model, as another part of the program would hold it."""
    for experiment in connection.experiments.list():
        found = experiment.models.read(model.hash)
        if found is not None and found.id == model.id:
            return found
    raise AssertionError("model not found")


INCREMENTER = textwrap.dedent(
    """
    import sys
    import mltracker

    uri, experiment, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.read(experiment).models.read("h")
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(count):
            model.step += 1
    print("done", flush=True)
    """
)


def test_increments_of_three_processes_all_count(uri: str, tmp_path: Path) -> None:
    processes, increments = 3, 300
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("h")
    outputs = run_together(INCREMENTER, [uri, "e", str(increments)], processes, tmp_path)
    for out in outputs:
        assert out.strip() == "done"

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        found = experiment.models.read("h")
        assert found is not None
        assert found.id == model.id
        assert found.step == processes * increments


def test_increments_of_threads_all_count(connection: mltracker.Connection, model: Model) -> None:
    def increment() -> None:
        for _ in range(50):
            model.step += 1

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert model.step == 200


def test_increment_adds_to_what_another_entity_stored_meanwhile(
    connection: mltracker.Connection, model: Model
) -> None:
    other = _twin(connection, model)
    read = model.step
    other.step = 10

    model.step = read + 1

    assert (model.step, other.step) == (11, 11)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(lambda m: setattr(m, "step", m.step + 2), 12, id="step-plus"),
        pytest.param(lambda m: setattr(m, "step", 2 + m.step), 12, id="plus-step"),
        pytest.param(lambda m: setattr(m, "step", m.step - 3), 7, id="step-minus"),
        pytest.param(lambda m: setattr(m, "step", m.step + 1 + 1 - 5), 7, id="chained"),
    ],
)
def test_expressions_of_step_plus_or_minus_an_int_are_increments(
    connection: mltracker.Connection, model: Model, change: object, expected: int
) -> None:
    # The entity reads 5, another stores 10 before the assignment: an increment counts both.
    model.step = 5
    other = _twin(connection, model)

    class Racing:
        """Reads ``step`` of ``model``, then lets ``other`` store 10, like another process."""

        @property
        def step(self) -> int:
            value = model.step
            other.step = 10
            return value

        @step.setter
        def step(self, value: int) -> None:
            model.step = value

    assert callable(change)
    change(Racing())

    assert model.step == expected


def test_augmented_assignments_increment(model: Model) -> None:
    model.step += 5
    model.step -= 2
    model.step += 0

    assert model.step == 3


def test_assigned_int_is_stored_as_is(connection: mltracker.Connection, model: Model) -> None:
    other = _twin(connection, model)
    model.step = 4
    other.step = 10

    model.step = 5

    assert other.step == 5


def test_values_derived_from_one_read_increment_once_then_set(model: Model) -> None:
    model.step = 100
    start = model.step

    for epoch in range(1, 4):
        model.step = start + epoch

    assert model.step == 103


def test_read_value_assigned_back_is_stored_as_is(
    connection: mltracker.Connection, model: Model
) -> None:
    other = _twin(connection, model)
    read = model.step
    other.step = 10

    model.step = read

    assert model.step == 0


def test_value_of_another_model_is_stored_as_is(
    connection: mltracker.Connection, model: Model
) -> None:
    experiment = connection.experiments.create(f"step-{uuid.uuid4()}")
    source = experiment.models.create("source")
    source.step = 7
    model.step = 100

    model.step = source.step + 1

    assert (model.step, source.step) == (8, 7)


def test_step_value_behaves_as_an_int(model: Model) -> None:
    model.step = 41
    read = model.step
    moved = read + 1

    for value, number in ((read, 41), (moved, 42)):
        assert isinstance(value, int)
        assert value == number
        assert hash(value) == hash(number)
        assert repr(value) == str(value) == f"{value}" == str(number)
        assert json.dumps({"step": value}) == json.dumps({"step": number})
        assert type(pickle.loads(pickle.dumps(value))) is int
        assert type(copy.copy(value)) is int
        assert type(copy.deepcopy(value)) is int
        assert int(value) == number
        assert type(int(value)) is int
        assert {value: "x"}[number] == "x"
        assert np.array([value]).tolist() == [number]
    assert type(read * 2) is int
    assert read * 2 == 82
    assert read + 0.5 == 41.5
    assert type(read + 0.5) is float
    assert type(read + True) is int
    assert read - moved == -1
    assert 50 - read == 9


def test_step_value_is_accepted_wherever_an_int_is(model: Model) -> None:
    model.step = 3
    step = model.step

    model.metrics.log("loss", step, step=step + 1)
    model.iterations.create(step)

    [point] = model.metrics.list()
    assert (type(point.value), point.value, type(point.step), point.step) == (int, 3, int, 4)
    assert [type(i.step) for i in model.iterations.list()] == [int]


def test_increment_past_int64_is_refused_and_changes_nothing(model: Model) -> None:
    model.step = INT64_MAX - 1

    with pytest.raises(InvalidArgumentError, match="int64"):
        model.step += 2

    assert model.step == INT64_MAX - 1
    model.step += 1
    assert model.step == INT64_MAX


def test_increment_below_int64_is_refused_and_changes_nothing(model: Model) -> None:
    model.step = INT64_MIN + 1

    with pytest.raises(InvalidArgumentError, match="int64"):
        model.step -= 2

    assert model.step == INT64_MIN + 1


def test_increment_that_another_writer_pushed_past_int64_is_refused(
    connection: mltracker.Connection, model: Model
) -> None:
    other = _twin(connection, model)
    read = model.step
    other.step = INT64_MAX

    with pytest.raises(InvalidArgumentError, match="int64"):
        model.step = read + 1

    assert model.step == INT64_MAX


def test_increment_of_a_deleted_model_raises_not_found(
    connection: mltracker.Connection, model: Model
) -> None:
    read = model.step
    for experiment in connection.experiments.list():
        if experiment.models.read(model.hash) == model:
            experiment.models.delete(model.id)

    with pytest.raises(NotFoundError, match="not found"):
        model.step = read + 1


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param(1.5, "must be an int, not float", id="float"),
        pytest.param(None, "must be an int, not None", id="None"),
        pytest.param("1", "must be an int, not str", id="str"),
    ],
)
def test_bad_step_message_names_what_is_accepted(
    model: Model, value: object, fragment: str
) -> None:
    with pytest.raises(InvalidTypeError, match=fragment) as raised:
        model.step = value  # type: ignore[assignment]

    assert "None" not in str(raised.value).replace("not None", "")
    assert model.step == 0
