"""The Iterations collection of a model: create, get, list, remove, clear (SPEC §1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import mltracker
from mltracker import Experiment, Model, NotFoundError


@pytest.fixture
def experiment(shared_uri: str) -> Iterator[Experiment]:
    """A fresh experiment in the store this module shares."""
    with mltracker.connect(shared_uri) as tracker:
        yield tracker.experiments.create(f"experiment-{uuid.uuid4()}")


@pytest.fixture
def model(experiment: Experiment) -> Model:
    return experiment.models.create("a1b2")


def test_create_returns_iteration_with_uuid_and_step(model: Model) -> None:
    iteration = model.iterations.create(3)

    assert isinstance(iteration.id, uuid.UUID)
    assert iteration.step == 3
    assert type(iteration.step) is int


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(2**63 - 1, id="int64-max"),
        pytest.param(-(2**63), id="int64-min"),
    ],
)
def test_create_round_trips_int64_steps(model: Model, step: int) -> None:
    model.iterations.create(step)

    found = model.iterations.get(step)
    assert found is not None
    assert found.step == step
    assert [i.step for i in model.iterations.list()] == [step]


def test_create_accepts_keyword_step(model: Model) -> None:
    iteration = model.iterations.create(step=5)

    assert iteration.step == 5


def test_get_returns_created_iteration(model: Model) -> None:
    created = model.iterations.create(3)

    found = model.iterations.get(3)

    assert found is not None
    assert (found.id, found.step) == (created.id, 3)


def test_get_missing_step_returns_none(model: Model) -> None:
    model.iterations.create(3)

    assert model.iterations.get(4) is None


def test_get_repeated_step_returns_first_created(model: Model) -> None:
    first = model.iterations.create(3)
    model.iterations.create(3)

    found = model.iterations.get(3)

    assert found is not None
    assert found.id == first.id


def test_get_after_removing_first_returns_next_at_that_step(model: Model) -> None:
    first = model.iterations.create(3)
    second = model.iterations.create(3)
    model.iterations.remove(first)

    found = model.iterations.get(3)

    assert found is not None
    assert found.id == second.id


def test_get_does_not_see_iterations_of_other_models(experiment: Experiment) -> None:
    experiment.models.create("h1").iterations.create(3)

    assert experiment.models.create("h2").iterations.get(3) is None


def test_get_returns_iteration_whose_modules_are_live(model: Model) -> None:
    created = model.iterations.create(3)
    created.modules.log("adam", {"lr": 0.001})

    found = model.iterations.get(3)

    assert found is not None
    assert [(m.name, m.attributes) for m in found.modules.list()] == [("adam", {"lr": 0.001})]


def test_list_empty_model_is_empty(model: Model) -> None:
    assert model.iterations.list() == []


def test_list_returns_iterations_in_creation_order(model: Model) -> None:
    steps = [5, 1, 3, 1, -2, 0]
    created = [model.iterations.create(step) for step in steps]

    listed = model.iterations.list()

    assert [(i.id, i.step) for i in listed] == [(i.id, i.step) for i in created]


def test_list_only_shows_iterations_of_its_model(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    first.iterations.create(1)
    second.iterations.create(2)
    first.iterations.create(3)

    assert [i.step for i in first.iterations.list()] == [1, 3]
    assert [i.step for i in second.iterations.list()] == [2]


def test_remove_deletes_only_that_iteration(model: Model) -> None:
    model.iterations.create(1)
    middle = model.iterations.create(2)
    model.iterations.create(3)

    model.iterations.remove(middle)

    assert [i.step for i in model.iterations.list()] == [1, 3]
    assert model.iterations.get(2) is None


def test_remove_one_of_repeated_steps_keeps_the_other(model: Model) -> None:
    first = model.iterations.create(1)
    second = model.iterations.create(1)

    model.iterations.remove(second)

    assert [i.id for i in model.iterations.list()] == [first.id]


def test_remove_iteration_taken_from_list(model: Model) -> None:
    model.iterations.create(1)
    model.iterations.create(2)

    model.iterations.remove(model.iterations.list()[0])

    assert [i.step for i in model.iterations.list()] == [2]


def test_remove_deletes_its_modules(model: Model) -> None:
    removed = model.iterations.create(1)
    kept = model.iterations.create(2)
    removed.modules.log("adam")
    kept.modules.log("sgd")

    model.iterations.remove(removed)

    assert [m.name for m in kept.modules.list()] == ["sgd"]
    assert removed.modules.list() == []


def test_remove_twice_raises_not_found(model: Model) -> None:
    iteration = model.iterations.create(1)
    model.iterations.remove(iteration)

    with pytest.raises(NotFoundError, match="not found"):
        model.iterations.remove(iteration)


def test_remove_iteration_of_another_model_raises_not_found(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    foreign = first.iterations.create(1)

    with pytest.raises(NotFoundError, match="not found"):
        second.iterations.remove(foreign)

    assert [i.id for i in first.iterations.list()] == [foreign.id]


def test_clear_removes_every_iteration(model: Model) -> None:
    for step in (1, 2, 2, 3):
        model.iterations.create(step).modules.log("adam")

    model.iterations.clear()

    assert model.iterations.list() == []
    assert model.iterations.get(2) is None


def test_clear_empty_model_is_fine(model: Model) -> None:
    model.iterations.clear()

    assert model.iterations.list() == []


def test_clear_leaves_model_modules_and_metrics(model: Model) -> None:
    model.iterations.create(1).modules.log("adam")
    model.modules.log("linear")
    model.metrics.log("loss", 1.0, step=1)

    model.iterations.clear()

    assert [m.name for m in model.modules.list()] == ["linear"]
    assert [m.value for m in model.metrics.list()] == [1.0]


def test_clear_leaves_iterations_of_other_models(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    first.iterations.create(1)
    second.iterations.create(1)

    first.iterations.clear()

    assert [i.step for i in second.iterations.list()] == [1]


def test_create_on_deleted_model_raises_not_found(experiment: Experiment) -> None:
    model = experiment.models.create("h")
    experiment.models.delete(model.id)

    with pytest.raises(NotFoundError, match="not found"):
        model.iterations.create(1)
