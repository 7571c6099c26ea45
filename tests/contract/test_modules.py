"""The Modules collection, on a model and on an iteration: log/add, list, remove, clear."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import mltracker
from mltracker import Experiment, Model, Modules, NotFoundError


@pytest.fixture
def experiment(shared_uri: str) -> Iterator[Experiment]:
    """A fresh experiment in the store this module shares."""
    with mltracker.connect(shared_uri) as tracker:
        yield tracker.experiments.create(f"experiment-{uuid.uuid4()}")


@pytest.fixture
def model(experiment: Experiment) -> Model:
    return experiment.models.create("a1b2")


@pytest.fixture(params=["model", "iteration"])
def modules(request: pytest.FixtureRequest, model: Model) -> Modules:
    """The modules of a model, or of one of its iterations."""
    if request.param == "model":
        return model.modules
    return model.iterations.create(1).modules


def test_log_returns_module_with_uuid_name_and_attributes(modules: Modules) -> None:
    module = modules.log("linear", {"in_features": 784, "out_features": 10})

    assert isinstance(module.id, uuid.UUID)
    assert module.name == "linear"
    assert module.attributes == {"in_features": 784, "out_features": 10}


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m: m.log("relu"), id="omitted"),
        pytest.param(lambda m: m.log("relu", None), id="none"),
        pytest.param(lambda m: m.log("relu", {}), id="empty"),
    ],
)
def test_log_without_attributes_stores_empty_dict(modules: Modules, call: Any) -> None:
    module = call(modules)

    assert module.attributes == {}
    assert [m.attributes for m in modules.list()] == [{}]


def test_log_accepts_keyword_arguments(modules: Modules) -> None:
    modules.log(name="adam", attributes={"lr": 0.001})

    assert [(m.name, m.attributes) for m in modules.list()] == [("adam", {"lr": 0.001})]


def test_add_is_an_alias_of_log(modules: Modules) -> None:
    added = modules.add("dropout", {"p": 0.5})

    assert (added.name, added.attributes) == ("dropout", {"p": 0.5})
    assert modules.list() == [added]


def test_log_then_list_returns_equal_module(modules: Modules) -> None:
    logged = modules.log("linear", {"bias": True, "shape": [784, 10]})

    assert modules.list() == [logged]


def test_log_allows_repeated_names(modules: Modules) -> None:
    first = modules.log("linear", {"out": 128})
    second = modules.log("linear", {"out": 10})

    assert first.id != second.id
    assert [m.attributes for m in modules.list()] == [{"out": 128}, {"out": 10}]


def test_log_snapshots_attributes_at_the_call(modules: Modules) -> None:
    attributes: dict[str, Any] = {"layers": [1, 2]}
    modules.log("mlp", attributes)

    attributes["layers"].append(3)
    attributes["extra"] = True

    assert [m.attributes for m in modules.list()] == [{"layers": [1, 2]}]


def test_list_empty_is_empty(modules: Modules) -> None:
    assert modules.list() == []


def test_list_returns_modules_in_logged_order(modules: Modules) -> None:
    names = ["linear", "relu", "dropout", "linear", "softmax", "adam"]
    for index, name in enumerate(names):
        modules.log(name, {"index": index})

    listed = modules.list()

    assert [(m.name, m.attributes["index"]) for m in listed] == list(
        zip(names, range(len(names)), strict=True)
    )


def test_remove_deletes_only_that_module(modules: Modules) -> None:
    modules.log("a")
    middle = modules.log("b")
    modules.log("c")

    modules.remove(middle)

    assert [m.name for m in modules.list()] == ["a", "c"]


def test_remove_module_taken_from_list(modules: Modules) -> None:
    modules.log("a")
    modules.log("b")

    modules.remove(modules.list()[0])

    assert [m.name for m in modules.list()] == ["b"]


def test_remove_twice_raises_not_found(modules: Modules) -> None:
    module = modules.log("a")
    modules.remove(module)

    with pytest.raises(NotFoundError, match="not found"):
        modules.remove(module)


def test_clear_removes_every_module(modules: Modules) -> None:
    for name in ("a", "b", "c"):
        modules.log(name)

    modules.clear()

    assert modules.list() == []


def test_clear_empty_is_fine(modules: Modules) -> None:
    modules.clear()

    assert modules.list() == []


def test_log_after_clear_is_listed(modules: Modules) -> None:
    modules.log("a")
    modules.clear()

    modules.log("b")

    assert [m.name for m in modules.list()] == ["b"]


# Ownership: a model's modules and its iterations' modules are separate collections -------


def test_model_and_iteration_modules_are_separate(model: Model) -> None:
    iteration = model.iterations.create(1)
    model.modules.log("linear")
    iteration.modules.log("adam")

    assert [m.name for m in model.modules.list()] == ["linear"]
    assert [m.name for m in iteration.modules.list()] == ["adam"]


def test_modules_of_two_models_are_separate(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")
    first.modules.log("linear")

    assert second.modules.list() == []


def test_modules_of_two_iterations_are_separate(model: Model) -> None:
    first = model.iterations.create(1)
    second = model.iterations.create(2)
    first.modules.log("adam", {"lr": 0.1})
    second.modules.log("adam", {"lr": 0.01})

    assert [m.attributes for m in first.modules.list()] == [{"lr": 0.1}]
    assert [m.attributes for m in second.modules.list()] == [{"lr": 0.01}]


@pytest.mark.parametrize(
    ("owner", "other"),
    [
        pytest.param("model", "iteration", id="iteration-module-via-model"),
        pytest.param("iteration", "model", id="model-module-via-iteration"),
        pytest.param("model", "other-model", id="other-model-module-via-model"),
        pytest.param("iteration", "other-iteration", id="other-iteration-module"),
    ],
)
def test_remove_module_of_another_owner_raises_not_found(
    experiment: Experiment, model: Model, owner: str, other: str
) -> None:
    owners = {
        "model": model.modules,
        "iteration": model.iterations.create(1).modules,
        "other-model": experiment.models.create("other").modules,
        "other-iteration": model.iterations.create(2).modules,
    }
    kept = owners[owner].log("kept")
    foreign = owners[other].log("foreign")

    with pytest.raises(NotFoundError, match="not found"):
        owners[owner].remove(foreign)

    assert owners[owner].list() == [kept]
    assert owners[other].list() == [foreign]


def test_clear_model_modules_leaves_iteration_modules(model: Model) -> None:
    iteration = model.iterations.create(1)
    model.modules.log("linear")
    iteration.modules.log("adam")

    model.modules.clear()

    assert model.modules.list() == []
    assert [m.name for m in iteration.modules.list()] == ["adam"]


def test_clear_iteration_modules_leaves_model_modules(model: Model) -> None:
    iteration = model.iterations.create(1)
    model.modules.log("linear")
    iteration.modules.log("adam")

    iteration.modules.clear()

    assert iteration.modules.list() == []
    assert [m.name for m in model.modules.list()] == ["linear"]


def test_log_on_deleted_model_raises_not_found(experiment: Experiment) -> None:
    model = experiment.models.create("h")
    experiment.models.delete(model.id)

    with pytest.raises(NotFoundError, match="not found"):
        model.modules.log("linear")


def test_log_on_removed_iteration_raises_not_found(model: Model) -> None:
    iteration = model.iterations.create(1)
    model.iterations.remove(iteration)

    with pytest.raises(NotFoundError, match="not found"):
        iteration.modules.log("adam")


def _names(modules: Modules) -> list[tuple[str, dict[str, Any]]]:
    return [(m.name, m.attributes) for m in modules.list()]


def test_log_if_empty_logs_every_module_in_order_into_an_empty_collection(
    modules: Modules,
) -> None:
    logged = modules.log_if_empty([("0", {"in": 4}), ("1", None), ("0", {"in": 8})])

    assert logged is not None
    assert [(m.name, m.attributes) for m in logged] == [
        ("0", {"in": 4}),
        ("1", {}),
        ("0", {"in": 8}),
    ]
    assert modules.list() == logged


def test_log_if_empty_logs_nothing_where_a_module_is(modules: Modules) -> None:
    modules.log("hyperparameters", {"lr": 0.1})

    assert modules.log_if_empty([("0", {"in": 4})]) == []
    assert _names(modules) == [("hyperparameters", {"lr": 0.1})]


def test_log_if_empty_again_logs_nothing(modules: Modules) -> None:
    modules.log_if_empty([("0", {"in": 4}), ("1", {})])

    assert modules.log_if_empty([("0", {"in": 4}), ("1", {})]) == []
    assert _names(modules) == [("0", {"in": 4}), ("1", {})]


def test_log_if_empty_of_no_modules_logs_nothing(modules: Modules) -> None:
    assert modules.log_if_empty([]) == []
    assert modules.list() == []


def test_log_if_changed_logs_a_name_again_only_when_its_last_attributes_differ(
    modules: Modules,
) -> None:
    first = modules.log_if_changed("config", {"lr": 0.1})
    assert first is not None and [(m.name, m.attributes) for m in first] == [
        ("config", {"lr": 0.1})
    ]
    assert modules.log_if_changed("config", {"lr": 0.1}) == []
    assert modules.log_if_changed("config", {"lr": 0.05}) != []
    assert modules.log_if_changed("config", {"lr": 0.1}) != []  # the last one differs
    assert modules.log_if_changed("config", {"lr": 0.1}) == []

    assert _names(modules) == [
        ("config", {"lr": 0.1}),
        ("config", {"lr": 0.05}),
        ("config", {"lr": 0.1}),
    ]


def test_log_if_changed_looks_at_modules_of_its_name_only(modules: Modules) -> None:
    modules.log("other", {"lr": 0.1})

    assert modules.log_if_changed("config", {"lr": 0.1}) != []
    assert modules.log_if_changed("config", None) != []
    assert modules.log_if_changed("config") == []
    assert _names(modules) == [("other", {"lr": 0.1}), ("config", {"lr": 0.1}), ("config", {})]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m: m.log_if_empty([("ok", {}), ("", {})]), id="empty-name"),
        pytest.param(lambda m: m.log_if_empty([("ok", {}), ("t", {"x": (1,)})]), id="tuple"),
        pytest.param(lambda m: m.log_if_changed("config", {"x": {1, 2}}), id="set"),
        pytest.param(lambda m: m.log_if_changed(3, {}), id="name-type"),
        pytest.param(lambda m: m.log_if_empty([("ok", {}), ("no-attributes",)]), id="single"),
        pytest.param(lambda m: m.log_if_empty(None), id="none"),
        pytest.param(lambda m: m.log_if_empty({"a": {}}), id="dict"),
        pytest.param(lambda m: m.log_if_empty("ab"), id="str"),
    ],
)
def test_bad_modules_of_a_conditional_log_are_refused_before_any_is_logged(
    modules: Modules, call: Any
) -> None:
    with pytest.raises(mltracker.InvalidArgumentError):
        call(modules)
    assert modules.list() == []


def test_conditional_log_on_deleted_model_raises_not_found(experiment: Experiment) -> None:
    model = experiment.models.create("h")
    experiment.models.delete(model.id)

    with pytest.raises(NotFoundError, match="not found"):
        model.modules.log_if_empty([("linear", {})])
    with pytest.raises(NotFoundError, match="not found"):
        model.modules.log_if_changed("linear", {})
