"""Writes a training loop makes besides metric points can be repeated (a retry after a lost
answer, a replay): a module or an iteration of an id chosen by the caller, and a step
increment of an operation id, apply once; a repeat stores nothing and returns what the first
call returned. ``get_or_create`` of an experiment or a model is safe to repeat too."""

from __future__ import annotations

import threading
import uuid

import pytest

import mltracker
from mltracker import AlreadyExistsError, Model, NotFoundError
from mltracker.ports.store import ModuleOwner


@pytest.fixture
def model(connection: mltracker.Connection) -> Model:
    return connection.experiments.create(f"repeat-{uuid.uuid4()}").models.create("h")


def _module_fields(module: mltracker.Module) -> tuple[object, ...]:
    return (module.id, module.name, module.attributes, module.created_at)


@pytest.mark.parametrize("kind", [pytest.param("model"), pytest.param("iteration")])
def test_module_logged_twice_with_one_id_is_stored_once(
    connection: mltracker.Connection, model: Model, kind: str
) -> None:
    owner_id = model.id if kind == "model" else model.iterations.create(1).id
    owner = ModuleOwner("model" if kind == "model" else "iteration", owner_id)
    module_id = uuid.uuid4()
    store = connection.store

    first = store.log_module(owner, "layer", '{"units": 8}', id=module_id)
    second = store.log_module(owner, "layer", '{"units": 8}', id=module_id)

    assert first.id == module_id
    assert _module_fields(second) == _module_fields(first)
    assert [_module_fields(m) for m in store.list_modules(owner)] == [_module_fields(first)]


def test_repeated_module_keeps_its_place_among_the_others(
    connection: mltracker.Connection, model: Model
) -> None:
    owner = ModuleOwner("model", model.id)
    store = connection.store
    repeated = uuid.uuid4()
    store.log_module(owner, "a", "{}", id=repeated)
    store.log_module(owner, "b", "{}", id=uuid.uuid4())

    store.log_module(owner, "a", "{}", id=repeated)

    assert [m.name for m in model.modules.list()] == ["a", "b"]


def test_modules_of_other_ids_or_without_id_are_all_stored(
    connection: mltracker.Connection, model: Model
) -> None:
    owner = ModuleOwner("model", model.id)
    store = connection.store
    store.log_module(owner, "layer", "{}", id=uuid.uuid4())
    store.log_module(owner, "layer", "{}", id=uuid.uuid4())
    store.log_module(owner, "layer", "{}")
    store.log_module(owner, "layer", "{}")
    model.modules.log("layer")
    model.modules.log("layer")

    assert len(model.modules.list()) == 6
    assert len({m.id for m in model.modules.list()}) == 6


@pytest.mark.parametrize(
    ("name", "attributes", "other_owner"),
    [
        pytest.param("other", '{"units": 8}', False, id="name"),
        pytest.param("layer", '{"units": 9}', False, id="attributes"),
        pytest.param("layer", '{"units": 8}', True, id="owner"),
    ],
)
def test_module_id_of_another_module_is_refused_and_changes_nothing(
    connection: mltracker.Connection,
    model: Model,
    name: str,
    attributes: str,
    other_owner: bool,
) -> None:
    owner = ModuleOwner("model", model.id)
    store = connection.store
    module_id = uuid.uuid4()
    first = store.log_module(owner, "layer", '{"units": 8}', id=module_id)
    target = ModuleOwner("iteration", model.iterations.create(1).id) if other_owner else owner

    with pytest.raises(AlreadyExistsError, match=str(module_id)):
        store.log_module(target, name, attributes, id=module_id)

    assert [_module_fields(m) for m in store.list_modules(owner)] == [_module_fields(first)]
    assert store.list_modules(target) == ([] if other_owner else [first])


def test_module_of_a_missing_owner_with_an_id_raises_not_found(
    connection: mltracker.Connection,
) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        connection.store.log_module(ModuleOwner("model", uuid.uuid4()), "x", "{}", id=uuid.uuid4())


def test_iteration_created_twice_with_one_id_is_stored_once(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    iteration_id = uuid.uuid4()

    first = store.create_iteration(model.id, 4, id=iteration_id)
    second = store.create_iteration(model.id, 4, id=iteration_id)

    assert first.id == iteration_id
    assert (second.id, second.model_id, second.step, second.created_at) == (
        first.id,
        first.model_id,
        first.step,
        first.created_at,
    )
    assert [(i.id, i.step) for i in model.iterations.list()] == [(iteration_id, 4)]


def test_iterations_of_other_ids_or_without_id_are_all_stored(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    store.create_iteration(model.id, 1, id=uuid.uuid4())
    store.create_iteration(model.id, 1, id=uuid.uuid4())
    store.create_iteration(model.id, 1)
    model.iterations.create(1)
    model.iterations.create(1)

    assert [i.step for i in model.iterations.list()] == [1] * 5


@pytest.mark.parametrize(
    "other_model", [pytest.param(False, id="step"), pytest.param(True, id="model")]
)
def test_iteration_id_of_another_iteration_is_refused_and_changes_nothing(
    connection: mltracker.Connection, model: Model, other_model: bool
) -> None:
    store = connection.store
    iteration_id = uuid.uuid4()
    store.create_iteration(model.id, 1, id=iteration_id)
    other = connection.experiments.create(f"repeat-{uuid.uuid4()}").models.create("o")
    target, step = (other.id, 1) if other_model else (model.id, 2)

    with pytest.raises(AlreadyExistsError, match=str(iteration_id)):
        store.create_iteration(target, step, id=iteration_id)

    assert [(i.id, i.step) for i in model.iterations.list()] == [(iteration_id, 1)]
    assert other.iterations.list() == []


def test_step_increment_repeated_with_one_id_adds_once_and_answers_the_same(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    op_id = uuid.uuid4()

    first = store.add_step(model.id, 3, op_id=op_id)
    store.add_step(model.id, 10, op_id=uuid.uuid4())  # another increment in between
    replayed = store.add_step(model.id, 3, op_id=op_id)

    assert (first, replayed) == (3, 3)
    assert model.step == 13


def test_step_increments_of_other_ids_or_without_id_all_add(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    assert store.add_step(model.id, 1, op_id=uuid.uuid4()) == 1
    assert store.add_step(model.id, 1, op_id=uuid.uuid4()) == 2
    assert store.add_step(model.id, 1) == 3
    assert store.add_step(model.id, 1) == 4
    model.step += 1
    model.step += 1

    assert model.step == 6


def test_step_operation_id_of_another_model_is_refused_and_changes_nothing(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    other = connection.experiments.create(f"repeat-{uuid.uuid4()}").models.create("o")
    op_id = uuid.uuid4()
    store.add_step(model.id, 1, op_id=op_id)

    with pytest.raises(AlreadyExistsError, match=str(op_id)):
        store.add_step(other.id, 1, op_id=op_id)

    assert (model.step, other.step) == (1, 0)


def test_refused_step_increment_notes_no_operation(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    model.step = 2**63 - 1
    op_id = uuid.uuid4()
    with pytest.raises(mltracker.InvalidArgumentError, match="int64"):
        store.add_step(model.id, 1, op_id=op_id)
    model.step = 0

    assert store.add_step(model.id, 1, op_id=op_id) == 1


def test_step_increment_replayed_after_its_model_was_deleted_raises_not_found(
    connection: mltracker.Connection,
) -> None:
    experiment = connection.experiments.create(f"repeat-{uuid.uuid4()}")
    model = experiment.models.create("h")
    op_id = uuid.uuid4()
    connection.store.add_step(model.id, 1, op_id=op_id)
    experiment.models.delete(model.id)

    with pytest.raises(NotFoundError, match="not found"):
        connection.store.add_step(model.id, 1, op_id=op_id)


def test_concurrent_repeats_of_one_call_apply_once(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    owner = ModuleOwner("model", model.id)
    module_id, iteration_id, op_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    callers = 4
    barrier = threading.Barrier(callers, timeout=30)
    answers: list[tuple[object, ...]] = []
    failures: list[BaseException] = []

    def repeat() -> None:
        try:
            barrier.wait()
            module = store.log_module(owner, "layer", "{}", id=module_id)
            iteration = store.create_iteration(model.id, 7, id=iteration_id)
            step = store.add_step(model.id, 1, op_id=op_id)
            answers.append((module.id, module.created_at, iteration.id, step))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=repeat) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert failures == []
    assert len(set(answers)) == 1
    assert [m.id for m in model.modules.list()] == [module_id]
    assert [i.id for i in model.iterations.list()] == [iteration_id]
    assert model.step == 1


def test_get_or_create_repeated_returns_the_same_experiment_and_model(
    connection: mltracker.Connection,
) -> None:
    store = connection.store
    name = f"repeat-{uuid.uuid4()}"

    experiments = [store.get_or_create_experiment(name) for _ in range(2)]
    models = [store.get_or_create_model(experiments[0].id, "h", "n", "d") for _ in range(2)]

    assert experiments[0] == experiments[1]
    assert models[0] == models[1]
    assert [e.id for e in store.list_experiments() if e.name == name] == [experiments[0].id]
    assert [m.id for m in store.list_models(experiments[0].id)] == [models[0].id]


def test_experiment_and_model_are_created_with_the_ids_the_caller_made(
    connection: mltracker.Connection,
) -> None:
    store = connection.store
    experiment_id, model_id = uuid.uuid4(), uuid.uuid4()

    experiment = store.get_or_create_experiment(f"named-{uuid.uuid4()}", id=experiment_id)
    model = store.get_or_create_model(experiment_id, "h", "n", None, id=model_id)

    assert (experiment.id, model.id, model.experiment_id) == (
        experiment_id,
        model_id,
        experiment_id,
    )
    assert [m.id for m in store.list_models(experiment_id)] == [model_id]
    other_id, other_model_id = uuid.uuid4(), uuid.uuid4()
    assert store.create_experiment(f"named-{uuid.uuid4()}", id=other_id).id == other_id
    assert store.create_model(other_id, "h", None, None, id=other_model_id).id == other_model_id


def test_get_or_create_of_a_stored_one_keeps_its_id_whatever_id_is_given(
    connection: mltracker.Connection,
) -> None:
    store = connection.store
    name = f"stored-{uuid.uuid4()}"
    experiment = store.get_or_create_experiment(name)
    model = store.get_or_create_model(experiment.id, "h", None, None)

    again = store.get_or_create_experiment(name, id=uuid.uuid4())
    model_again = store.get_or_create_model(experiment.id, "h", "other", None, id=uuid.uuid4())

    assert again == experiment
    assert model_again == model
    assert [m.id for m in store.list_models(experiment.id)] == [model.id]


def test_get_or_create_replayed_after_a_rename_returns_the_experiment_of_its_id(
    connection: mltracker.Connection,
) -> None:
    store = connection.store
    experiment_id = uuid.uuid4()
    first = store.get_or_create_experiment(f"before-{experiment_id}", id=experiment_id)
    store.update_experiment(experiment_id, f"after-{experiment_id}")

    replayed = store.get_or_create_experiment(f"before-{experiment_id}", id=experiment_id)

    assert replayed.id == first.id == experiment_id
    assert replayed.name == f"after-{experiment_id}"
    assert store.read_experiment(f"before-{experiment_id}") is None


def test_ids_of_others_are_refused_and_change_nothing(connection: mltracker.Connection) -> None:
    store = connection.store
    experiment = store.create_experiment(f"taken-{uuid.uuid4()}")
    model = store.create_model(experiment.id, "h", None, None)
    experiments_before = store.list_experiments()

    with pytest.raises(AlreadyExistsError, match=str(experiment.id)):
        store.create_experiment(f"other-{uuid.uuid4()}", id=experiment.id)
    with pytest.raises(AlreadyExistsError, match=str(model.id)):
        store.create_model(experiment.id, "other", None, None, id=model.id)
    with pytest.raises(AlreadyExistsError, match=str(model.id)):
        store.get_or_create_model(experiment.id, "other", None, None, id=model.id)

    assert store.list_experiments() == experiments_before
    assert [m.hash for m in store.list_models(experiment.id)] == ["h"]


def test_step_write_replayed_after_later_increments_changes_nothing(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    op_id = uuid.uuid4()
    store.write_step(model.id, 5, op_id=op_id)
    store.add_step(model.id, 1, op_id=uuid.uuid4())

    store.write_step(model.id, 5, op_id=op_id)  # a replay

    assert model.step == 6
    store.write_step(model.id, 5, op_id=uuid.uuid4())  # another write of the same value
    assert model.step == 5


def test_step_write_of_an_operation_id_of_another_model_is_refused(
    connection: mltracker.Connection, model: Model
) -> None:
    store = connection.store
    other = connection.experiments.create(f"repeat-{uuid.uuid4()}").models.create("o")
    op_id = uuid.uuid4()
    store.write_step(model.id, 3, op_id=op_id)

    with pytest.raises(AlreadyExistsError, match=str(op_id)):
        store.write_step(other.id, 3, op_id=op_id)
    with pytest.raises(NotFoundError, match="not found"):
        store.write_step(uuid.uuid4(), 3, op_id=uuid.uuid4())

    assert (model.step, other.step) == (3, 0)
