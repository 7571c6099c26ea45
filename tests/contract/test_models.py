"""The Models collection of an experiment and ``model.step`` (SPEC §1)."""

from __future__ import annotations

import uuid

import pytest

import mltracker
from mltracker import AlreadyExistsError, Experiment, NotFoundError


@pytest.fixture
def other_experiment(connection: mltracker.Connection) -> Experiment:
    return connection.experiments.create(f"other-{uuid.uuid4()}")


@pytest.mark.parametrize(
    ("kwargs", "name", "description"),
    [
        pytest.param({}, None, None, id="hash-only"),
        pytest.param({"name": "mlp"}, "mlp", None, id="name"),
        pytest.param({"description": "two layers"}, None, "two layers", id="description"),
        pytest.param({"name": "mlp", "description": "d"}, "mlp", "d", id="both"),
    ],
)
def test_create_returns_model_with_given_fields(
    experiment: Experiment, kwargs: dict[str, str], name: str | None, description: str | None
) -> None:
    model = experiment.models.create("a1b2", **kwargs)

    assert isinstance(model.id, uuid.UUID)
    assert (model.hash, model.name, model.description) == ("a1b2", name, description)


def test_create_accepts_positional_name_and_description(experiment: Experiment) -> None:
    model = experiment.models.create("a1b2", "mlp", "two layers")

    assert (model.name, model.description) == ("mlp", "two layers")


def test_create_duplicate_hash_raises_already_exists(experiment: Experiment) -> None:
    experiment.models.create("a1b2", name="first")

    with pytest.raises(AlreadyExistsError, match="a1b2"):
        experiment.models.create("a1b2", name="second")
    assert [(m.hash, m.name) for m in experiment.models.list()] == [("a1b2", "first")]


def test_create_same_hash_in_two_experiments_is_fine(
    experiment: Experiment, other_experiment: Experiment
) -> None:
    one = experiment.models.create("a1b2", name="one")
    two = other_experiment.models.create("a1b2", name="two")

    assert one.id != two.id
    assert [m.name for m in experiment.models.list()] == ["one"]
    assert [m.name for m in other_experiment.models.list()] == ["two"]


def test_read_returns_created_model(experiment: Experiment) -> None:
    created = experiment.models.create("a1b2", name="mlp", description="d")

    found = experiment.models.read("a1b2")

    assert found is not None
    assert (found.id, found.hash, found.name, found.description) == (
        created.id,
        "a1b2",
        "mlp",
        "d",
    )


def test_read_missing_returns_none(experiment: Experiment) -> None:
    experiment.models.create("a1b2")

    assert experiment.models.read("other") is None


def test_read_does_not_see_models_of_other_experiments(
    experiment: Experiment, other_experiment: Experiment
) -> None:
    experiment.models.create("a1b2")

    assert other_experiment.models.read("a1b2") is None


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        pytest.param({"name": "new"}, ("new", "old description"), id="name-only"),
        pytest.param({"description": "new"}, ("old name", "new"), id="description-only"),
        pytest.param({"name": "n", "description": "d"}, ("n", "d"), id="both"),
        pytest.param({}, ("old name", "old description"), id="nothing"),
        pytest.param(
            {"name": None, "description": None}, ("old name", "old description"), id="nones"
        ),
    ],
)
def test_update_changes_only_given_fields(
    experiment: Experiment, update: dict[str, str | None], expected: tuple[str, str]
) -> None:
    created = experiment.models.create("a1b2", name="old name", description="old description")

    experiment.models.update("a1b2", **update)

    found = experiment.models.read("a1b2")
    assert found is not None
    assert (found.id, found.name, found.description) == (created.id, *expected)


def test_update_sets_fields_of_model_created_without_them(experiment: Experiment) -> None:
    experiment.models.create("a1b2")

    experiment.models.update("a1b2", name="mlp", description="d")

    found = experiment.models.read("a1b2")
    assert found is not None
    assert (found.name, found.description) == ("mlp", "d")


def test_update_leaves_other_models_alone(experiment: Experiment) -> None:
    experiment.models.create("h1", name="one")
    experiment.models.create("h2", name="two")

    experiment.models.update("h1", name="changed")

    assert [m.name for m in experiment.models.list()] == ["changed", "two"]


def test_update_missing_hash_raises_not_found(experiment: Experiment) -> None:
    experiment.models.create("a1b2", name="mlp")

    with pytest.raises(NotFoundError, match="other"):
        experiment.models.update("other", name="x")
    assert [m.name for m in experiment.models.list()] == ["mlp"]


def test_update_missing_hash_without_changes_raises_not_found(experiment: Experiment) -> None:
    with pytest.raises(NotFoundError, match="other"):
        experiment.models.update("other")


def test_update_model_of_other_experiment_raises_not_found(
    experiment: Experiment, other_experiment: Experiment
) -> None:
    experiment.models.create("a1b2", name="mlp")

    with pytest.raises(NotFoundError, match="a1b2"):
        other_experiment.models.update("a1b2", name="x")
    assert [m.name for m in experiment.models.list()] == ["mlp"]


def test_delete_removes_model(experiment: Experiment) -> None:
    created = experiment.models.create("a1b2")

    experiment.models.delete(created.id)

    assert experiment.models.read("a1b2") is None
    assert experiment.models.list() == []


def test_delete_leaves_sibling_models(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    experiment.models.create("h2")

    experiment.models.delete(first.id)

    assert [m.hash for m in experiment.models.list()] == ["h2"]


def test_delete_frees_the_hash(experiment: Experiment) -> None:
    first = experiment.models.create("a1b2")
    first.metrics.log("loss", 1.0)
    experiment.models.delete(first.id)

    second = experiment.models.create("a1b2")

    assert second.id != first.id
    assert second.metrics.list() == []
    assert second.step == 0


def test_delete_missing_id_raises_not_found(experiment: Experiment) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        experiment.models.delete(uuid.uuid4())


def test_delete_twice_raises_not_found(experiment: Experiment) -> None:
    created = experiment.models.create("a1b2")
    experiment.models.delete(created.id)

    with pytest.raises(NotFoundError, match="not found"):
        experiment.models.delete(created.id)


def test_delete_model_of_other_experiment_raises_not_found(
    experiment: Experiment, other_experiment: Experiment
) -> None:
    model = experiment.models.create("a1b2")

    with pytest.raises(NotFoundError, match="not found"):
        other_experiment.models.delete(model.id)
    assert [m.id for m in experiment.models.list()] == [model.id]


def test_list_empty_experiment_is_empty(experiment: Experiment) -> None:
    assert experiment.models.list() == []


def test_list_returns_models_in_creation_order(experiment: Experiment) -> None:
    hashes = ["ff", "00", "a1", "0a", "zz"]
    for model_hash in hashes:
        experiment.models.create(model_hash)

    assert [m.hash for m in experiment.models.list()] == hashes


def test_list_entities_match_created_ones(experiment: Experiment) -> None:
    created = [experiment.models.create(h, name=f"n{h}", description=f"d{h}") for h in "abc"]

    listed = experiment.models.list()

    assert [(m.id, m.hash, m.name, m.description) for m in listed] == [
        (m.id, m.hash, m.name, m.description) for m in created
    ]


def test_list_only_shows_models_of_its_experiment(
    experiment: Experiment, other_experiment: Experiment
) -> None:
    experiment.models.create("h1")
    other_experiment.models.create("h2")
    experiment.models.create("h3")

    assert [m.hash for m in experiment.models.list()] == ["h1", "h3"]
    assert [m.hash for m in other_experiment.models.list()] == ["h2"]


def test_clear_removes_every_model(experiment: Experiment) -> None:
    for model_hash in ("h1", "h2", "h3"):
        experiment.models.create(model_hash)

    experiment.models.clear()

    assert experiment.models.list() == []
    assert experiment.models.read("h1") is None


def test_clear_empty_experiment_is_fine(experiment: Experiment) -> None:
    experiment.models.clear()

    assert experiment.models.list() == []


def test_clear_leaves_models_of_other_experiments(
    experiment: Experiment, other_experiment: Experiment
) -> None:
    experiment.models.create("h1")
    other_experiment.models.create("h1")

    experiment.models.clear()

    assert experiment.models.list() == []
    assert [m.hash for m in other_experiment.models.list()] == ["h1"]


def test_read_returns_snapshot_whose_collections_are_live(experiment: Experiment) -> None:
    experiment.models.create("a1b2", name="old")
    snapshot = experiment.models.read("a1b2")
    assert snapshot is not None
    writer = experiment.models.read("a1b2")
    assert writer is not None

    experiment.models.update("a1b2", name="new")
    writer.metrics.log("loss", 0.5)
    writer.modules.log("linear")
    writer.iterations.create(1)

    assert snapshot.name == "old"
    assert [m.value for m in snapshot.metrics.list()] == [0.5]
    assert [m.name for m in snapshot.modules.list()] == ["linear"]
    assert [i.step for i in snapshot.iterations.list()] == [1]


# model.step ---------------------------------------------------------------------------


def test_step_starts_at_zero(experiment: Experiment) -> None:
    model = experiment.models.create("a1b2")

    assert model.step == 0
    assert isinstance(model.step, int)  # an int subclass: see test_step.py


def test_step_increment_is_persisted(experiment: Experiment) -> None:
    model = experiment.models.create("a1b2")

    model.step += 1
    model.step += 1

    found = experiment.models.read("a1b2")
    assert found is not None
    assert found.step == 2


def test_step_assignment_is_visible_from_another_handle(
    shared_uri: str, experiment: Experiment
) -> None:
    model = experiment.models.create("a1b2")
    with mltracker.connect(shared_uri) as reader:
        other = reader.experiments.read(experiment.name)
        assert other is not None
        other_model = other.models.read("a1b2")
        assert other_model is not None

        model.step = 41

        assert other_model.step == 41
        other_model.step += 1
        assert model.step == 42


def test_step_survives_reopening_the_store(uri: str) -> None:
    with mltracker.connect(uri) as first:
        first.experiments.create("e").models.create("a1b2").step = 7

    with mltracker.connect(uri) as second:
        experiment = second.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("a1b2")
        assert model is not None
        assert model.step == 7


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(-5, id="negative"),
        pytest.param(2**63 - 1, id="int64-max"),
        pytest.param(-(2**63), id="int64-min"),
    ],
)
def test_step_round_trips_int64(experiment: Experiment, step: int) -> None:
    model = experiment.models.create("a1b2")

    model.step = step

    found = experiment.models.read("a1b2")
    assert found is not None
    assert found.step == step


def test_step_of_one_model_does_not_move_another(experiment: Experiment) -> None:
    first = experiment.models.create("h1")
    second = experiment.models.create("h2")

    first.step = 10

    assert second.step == 0


def test_step_of_deleted_model_raises_not_found(experiment: Experiment) -> None:
    model = experiment.models.create("a1b2")
    experiment.models.delete(model.id)

    with pytest.raises(NotFoundError, match="not found"):
        model.step = 3
    with pytest.raises(NotFoundError, match="not found"):
        _ = model.step
