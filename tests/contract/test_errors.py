"""Errors (SPEC §2, §8): a typed error at the call that was given the bad input, nothing
stored changed, and no SQLAlchemy or driver exception ever reaching the user."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy

import mltracker
from mltracker import (
    AlreadyExistsError,
    BackendError,
    BackendUnavailableError,
    Experiment,
    InvalidArgumentError,
    InvalidTypeError,
    Iteration,
    MLTrackerError,
    Model,
    NotFoundError,
    SchemaVersionError,
)
from mltracker.connect import close_all

from .rowcounts import dump, execute

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


# The tree ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        pytest.param(NotFoundError, (MLTrackerError,), id="NotFoundError"),
        pytest.param(AlreadyExistsError, (MLTrackerError, ValueError), id="AlreadyExistsError"),
        pytest.param(InvalidArgumentError, (MLTrackerError, ValueError), id="InvalidArgumentError"),
        pytest.param(InvalidTypeError, (InvalidArgumentError, TypeError), id="InvalidTypeError"),
        pytest.param(BackendError, (MLTrackerError,), id="BackendError"),
        pytest.param(SchemaVersionError, (BackendError,), id="SchemaVersionError"),
        pytest.param(BackendUnavailableError, (BackendError,), id="BackendUnavailableError"),
        pytest.param(mltracker.RemoteError, (BackendError,), id="RemoteError"),
        pytest.param(mltracker.AccessDeniedError, (BackendError,), id="AccessDeniedError"),
        pytest.param(mltracker.CertificateError, (BackendError,), id="CertificateError"),
    ],
)
def test_error_tree_has_documented_bases(error: type, bases: tuple[type, ...]) -> None:
    assert all(issubclass(error, base) for base in bases)
    assert getattr(mltracker, error.__name__) is error


# A populated store, shared by the module, and all it holds -------------------------


@pytest.fixture(scope="module")
def populated_uri(shared_uri: str) -> str:
    """The shared store of a backend, populated once: a refused call changes nothing, so the
    many refusals of this module can all look at the same store."""
    with mltracker.connect(shared_uri) as tracker:
        _populate(tracker)
    return shared_uri


def _populate(tracker: mltracker.Connection) -> None:
    experiment = tracker.experiments.create("mnist")
    model = experiment.models.create("h1", name="mlp", description="two layers")
    model.step = 3
    for step in range(3):
        model.metrics.log("loss", 1.0 / (step + 1), step=step, phase="train")
    model.metrics.log("acc", 0.9, step=2, phase="validation")
    model.modules.log("linear", {"in": 784, "out": 10})
    model.iterations.create(1).modules.log("adam", {"lr": 0.001})
    sibling = experiment.models.create("h2")
    sibling.metrics.log("loss", 2.0)
    sibling.modules.log("conv")
    sibling.iterations.create(1).modules.log("sgd")
    other_model = tracker.experiments.create("cifar").models.create("h1")
    other_model.metrics.log("loss", 3.0)
    other_model.modules.log("linear")
    other_model.iterations.create(1)


@dataclass
class World:
    uri: str
    tracker: mltracker.Connection
    experiment: Experiment
    model: Model
    sibling: Model
    iteration: Iteration
    other_experiment: Experiment
    other_model: Model

    def stored(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row the store holds, once every queued metric point is written."""
        self.tracker.flush()
        return dump(self.uri)


@pytest.fixture
def world(populated_uri: str) -> Iterator[World]:
    with mltracker.connect(populated_uri) as tracker:
        experiment = tracker.experiments.read("mnist")
        other_experiment = tracker.experiments.read("cifar")
        assert experiment is not None and other_experiment is not None
        model = experiment.models.read("h1")
        sibling = experiment.models.read("h2")
        other_model = other_experiment.models.read("h1")
        assert model is not None and sibling is not None and other_model is not None
        iteration = model.iterations.get(1)
        assert iteration is not None
        yield World(
            populated_uri,
            tracker,
            experiment,
            model,
            sibling,
            iteration,
            other_experiment,
            other_model,
        )


# NotFoundError and AlreadyExistsError -----------------------------------------------


NOT_FOUND: list[Any] = [
    pytest.param(lambda w: w.tracker.experiments.update(uuid.uuid4(), "x"), id="update-experiment"),
    pytest.param(lambda w: w.tracker.experiments.delete(uuid.uuid4()), id="delete-experiment"),
    pytest.param(lambda w: w.experiment.models.update("missing", name="x"), id="update-model"),
    pytest.param(lambda w: w.experiment.models.delete(uuid.uuid4()), id="delete-model"),
    pytest.param(
        lambda w: w.experiment.models.delete(w.other_model.id),
        id="delete-model-of-other-experiment",
    ),
    pytest.param(
        lambda w: w.experiment.models.delete(w.experiment.id), id="delete-model-by-experiment-id"
    ),
    pytest.param(
        lambda w: w.sibling.metrics.remove(w.model.metrics.list()[0]),
        id="remove-metric-of-sibling-model",
    ),
    pytest.param(
        lambda w: w.model.metrics.remove(w.other_model.metrics.list()[0]),
        id="remove-metric-of-other-experiment",
    ),
    pytest.param(
        lambda w: w.model.modules.remove(w.sibling.modules.list()[0]),
        id="remove-module-of-sibling-model",
    ),
    pytest.param(
        lambda w: w.model.modules.remove(w.iteration.modules.list()[0]),
        id="remove-iteration-module-from-model",
    ),
    pytest.param(
        lambda w: w.iteration.modules.remove(w.model.modules.list()[0]),
        id="remove-model-module-from-iteration",
    ),
    pytest.param(
        lambda w: w.model.iterations.remove(w.sibling.iterations.list()[0]),
        id="remove-iteration-of-sibling-model",
    ),
    pytest.param(
        lambda w: w.model.iterations.remove(w.other_model.iterations.list()[0]),
        id="remove-iteration-of-other-experiment",
    ),
]


@pytest.mark.parametrize("call", NOT_FOUND)
def test_missing_target_raises_not_found_and_changes_nothing(
    world: World, call: Callable[[World], None]
) -> None:
    before = world.stored()

    with pytest.raises(NotFoundError, match="not found|no model"):
        call(world)

    assert world.stored() == before


def test_remove_metric_twice_raises_not_found_and_changes_nothing(
    tracker: mltracker.Connection, uri: str
) -> None:
    model = tracker.experiments.create("e").models.create("h")
    model.metrics.log("loss", 1.0, step=0)
    (metric,) = model.metrics.list()
    model.metrics.remove(metric)
    model.metrics.log("loss", 5.0, step=0)
    tracker.flush()
    before = dump(uri)

    with pytest.raises(NotFoundError, match="not found"):
        model.metrics.remove(metric)

    tracker.flush()
    assert dump(uri) == before


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda e: e.models.create("new"), id="create-model"),
        pytest.param(lambda e: e.models.update("h1", name="x"), id="update-model"),
        pytest.param(lambda e: e.models.delete(uuid.uuid4()), id="delete-model"),
    ],
)
def test_models_of_deleted_experiment_raise_not_found(
    tracker: mltracker.Connection, call: Callable[[Experiment], Any]
) -> None:
    experiment = tracker.experiments.create("gone")
    experiment.models.create("h1")
    tracker.experiments.delete(experiment.id)

    with pytest.raises(NotFoundError, match="not found|no model"):
        call(experiment)

    assert tracker.experiments.list() == []


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        pytest.param(lambda w: w.tracker.experiments.create("mnist"), "mnist", id="experiment"),
        pytest.param(
            lambda w: w.tracker.experiments.update(w.other_experiment.id, "mnist"),
            "mnist",
            id="rename-experiment",
        ),
        pytest.param(lambda w: w.experiment.models.create("h2"), "h2", id="model"),
    ],
)
def test_duplicate_raises_already_exists_which_is_a_value_error(
    world: World, call: Callable[[World], None], fragment: str
) -> None:
    before = world.stored()

    with pytest.raises(ValueError, match=fragment) as raised:
        call(world)

    assert isinstance(raised.value, AlreadyExistsError)
    assert world.stored() == before


# Bad names --------------------------------------------------------------------------

BAD_NAMES: list[tuple[Any, type[Exception], str]] = [
    ("", InvalidArgumentError, "empty"),
    (1, InvalidTypeError, "must be a str"),
    (b"loss", InvalidTypeError, "must be a str"),
    (["loss"], InvalidTypeError, "must be a str"),
    ("lo\x00ss", InvalidArgumentError, "NUL"),
    ("\ud800", InvalidArgumentError, "Unicode"),
    ("loss\udfff", InvalidArgumentError, "Unicode"),
]

NAME_CALLS = [
    pytest.param(lambda w, n: w.tracker.experiments.create(n), True, id="experiments.create"),
    pytest.param(lambda w, n: w.tracker.experiments.read(n), True, id="experiments.read"),
    pytest.param(
        lambda w, n: w.tracker.experiments.update(w.experiment.id, n),
        True,
        id="experiments.update",
    ),
    pytest.param(lambda w, n: w.experiment.models.create(n), True, id="models.create-hash"),
    pytest.param(
        lambda w, n: w.experiment.models.create("new", name=n), False, id="models.create-name"
    ),
    pytest.param(lambda w, n: w.experiment.models.read(n), True, id="models.read"),
    pytest.param(
        lambda w, n: w.experiment.models.update(n, name="x"), True, id="models.update-hash"
    ),
    pytest.param(
        lambda w, n: w.experiment.models.update("h1", name=n), False, id="models.update-name"
    ),
    pytest.param(lambda w, n: w.model.metrics.log(n, 1.0), True, id="metrics.log-name"),
    pytest.param(lambda w, n: w.model.metrics.add(n, 1.0), True, id="metrics.add-name"),
    pytest.param(
        lambda w, n: w.model.metrics.log("loss", 1.0, phase=n), False, id="metrics.log-phase"
    ),
    pytest.param(lambda w, n: w.model.metrics.list(n), False, id="metrics.list-name"),
    pytest.param(lambda w, n: w.model.metrics.list(phase=n), False, id="metrics.list-phase"),
    pytest.param(lambda w, n: w.model.modules.log(n), True, id="modules.log-name"),
    pytest.param(lambda w, n: w.model.modules.add(n), True, id="modules.add-name"),
    pytest.param(lambda w, n: w.iteration.modules.log(n), True, id="iteration-modules.log-name"),
]


@pytest.mark.parametrize(("call", "required"), NAME_CALLS)
def test_bad_name_raises_typed_error_and_changes_nothing(
    world: World, call: Callable[[World, Any], Any], required: bool
) -> None:
    before = world.stored()
    bad_names = BAD_NAMES + ([(None, InvalidTypeError, "None")] if required else [])

    for name, error, fragment in bad_names:
        with pytest.raises(error, match=fragment):
            call(world, name)
    world.tracker.flush()

    assert world.stored() == before


def test_bad_name_errors_are_also_builtin_errors(world: World) -> None:
    with pytest.raises(TypeError):
        world.tracker.experiments.create(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        world.tracker.experiments.create("")


@pytest.mark.parametrize(
    "description",
    [
        pytest.param(1, id="int"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_bad_description_raises_and_changes_nothing(world: World, description: Any) -> None:
    before = world.stored()

    with pytest.raises(InvalidArgumentError, match="description"):
        world.experiment.models.create("new", description=description)
    with pytest.raises(InvalidArgumentError, match="description"):
        world.experiment.models.update("h1", description=description)

    assert world.stored() == before


# Bad metric values --------------------------------------------------------------------


class _Unserialisable:
    pass


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        pytest.param(None, InvalidTypeError, "None", id="None"),
        pytest.param(object(), InvalidTypeError, "object", id="object"),
        pytest.param(_Unserialisable(), InvalidTypeError, "_Unserialisable", id="instance"),
        pytest.param({1, 2}, InvalidTypeError, "set", id="set"),
        pytest.param(frozenset({1}), InvalidTypeError, "frozenset", id="frozenset"),
        pytest.param((1, 2), InvalidTypeError, "tuple", id="tuple"),
        pytest.param(b"bytes", InvalidTypeError, "bytes", id="bytes"),
        pytest.param(1 + 2j, InvalidTypeError, "complex", id="complex"),
        pytest.param(Decimal("0.1"), InvalidTypeError, "Decimal", id="decimal"),
        pytest.param(lambda: 1, InvalidTypeError, "function", id="function"),
        pytest.param(2**63, InvalidArgumentError, "int64", id="int64-max-plus-1"),
        pytest.param(-(2**63) - 1, InvalidArgumentError, "int64", id="int64-min-minus-1"),
        pytest.param(10**100, InvalidArgumentError, "int64", id="googol"),
        pytest.param(np.uint64(2**64 - 1), InvalidArgumentError, "int64", id="np.uint64-max"),
        pytest.param(np.array([1.0, 2.0]), InvalidTypeError, "ndarray", id="1-d-array"),
        pytest.param([1, object()], InvalidTypeError, "object", id="object-in-list"),
        pytest.param({"a": {1, 2}}, InvalidTypeError, "set", id="set-in-dict"),
        pytest.param({"a": (1, 2)}, InvalidTypeError, "tuple", id="tuple-in-dict"),
        pytest.param({1: "a"}, InvalidTypeError, "keys must be str", id="int-key"),
        pytest.param("a\x00b", InvalidArgumentError, "NUL", id="nul-string"),
        pytest.param("\ud800", InvalidArgumentError, "Unicode", id="lone-surrogate-string"),
    ],
)
def test_bad_value_raises_at_log_and_changes_nothing(
    world: World, value: Any, error: type[Exception], fragment: str
) -> None:
    before = world.stored()

    with pytest.raises(error, match=fragment):
        world.model.metrics.log("loss", value, step=9, phase="train")
    with pytest.raises(error, match=fragment):
        world.model.metrics.add("new-series", value)
    world.tracker.flush()

    assert world.stored() == before


def test_bad_value_among_good_ones_drops_only_the_bad_one(tracker: mltracker.Connection) -> None:
    model = tracker.experiments.create("e").models.create("h")

    model.metrics.log("loss", 1.0)
    with pytest.raises(InvalidTypeError, match="None"):
        model.metrics.log("loss", None)
    model.metrics.log("loss", 2.0)
    tracker.flush()

    assert [m.value for m in model.metrics.list()] == [1.0, 2.0]


# Bad steps ----------------------------------------------------------------------------

BAD_STEPS: list[tuple[Any, type[Exception], str]] = [
    (1.0, InvalidTypeError, "float"),
    (np.float64(1.0), InvalidTypeError, "float"),
    ("1", InvalidTypeError, "str"),
    (True, InvalidTypeError, "bool"),
    (False, InvalidTypeError, "bool"),
    (2**63, InvalidArgumentError, "int64"),
    (-(2**63) - 1, InvalidArgumentError, "int64"),
    (np.uint64(2**64 - 1), InvalidArgumentError, "int64"),
    ([1], InvalidTypeError, "list"),
]


def _set_step(w: World, step: Any) -> None:
    w.model.step = step


STEP_CALLS = [
    pytest.param(lambda w, s: w.model.metrics.log("loss", 1.0, step=s), False, id="metrics.log"),
    pytest.param(lambda w, s: w.model.metrics.add("loss", 1.0, s), False, id="metrics.add"),
    pytest.param(lambda w, s: w.model.metrics.list(start_step=s), False, id="metrics.list-start"),
    pytest.param(lambda w, s: w.model.metrics.list(stop_step=s), False, id="metrics.list-stop"),
    pytest.param(lambda w, s: w.model.iterations.create(s), True, id="iterations.create"),
    pytest.param(lambda w, s: w.model.iterations.get(s), True, id="iterations.get"),
    pytest.param(_set_step, True, id="model.step"),
]


@pytest.mark.parametrize(("call", "required"), STEP_CALLS)
def test_bad_step_raises_typed_error_and_changes_nothing(
    world: World, call: Callable[[World, Any], Any], required: bool
) -> None:
    before = world.stored()
    bad_steps = BAD_STEPS + ([(None, InvalidTypeError, "None")] if required else [])

    for step, error, fragment in bad_steps:
        with pytest.raises(error, match=fragment):
            call(world, step)
    world.tracker.flush()

    assert world.stored() == before


# Bad attributes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "error", "fragment"),
    [
        pytest.param([("lr", 0.1)], InvalidTypeError, "must be a dict", id="list-of-pairs"),
        pytest.param((("lr", 0.1),), InvalidTypeError, "must be a dict", id="tuple-of-pairs"),
        pytest.param("lr=0.1", InvalidTypeError, "must be a dict", id="str"),
        pytest.param(1, InvalidTypeError, "must be a dict", id="int"),
        pytest.param({1: "a"}, InvalidTypeError, "keys must be str", id="int-key"),
        pytest.param({("a", "b"): 1}, InvalidTypeError, "keys must be str", id="tuple-key"),
        pytest.param({"a\x00": 1}, InvalidArgumentError, "NUL", id="nul-key"),
        pytest.param({"\ud800": 1}, InvalidArgumentError, "Unicode", id="lone-surrogate-key"),
        pytest.param({"betas": (0.9, 0.999)}, InvalidTypeError, "tuple", id="tuple-value"),
        pytest.param({"a": [{"b": (1,)}]}, InvalidTypeError, "tuple", id="nested-tuple"),
        pytest.param({"ids": {1, 2}}, InvalidTypeError, "set", id="set-value"),
        pytest.param({"f": object()}, InvalidTypeError, "object", id="object-value"),
        pytest.param({"a": {2: "b"}}, InvalidTypeError, "keys must be str", id="nested-int-key"),
        pytest.param({"s": "a\x00b"}, InvalidArgumentError, "NUL", id="nul-in-value"),
        pytest.param({"b": b"raw"}, InvalidTypeError, "bytes", id="bytes-value"),
    ],
)
def test_bad_attributes_raise_typed_error_and_change_nothing(
    world: World, attributes: Any, error: type[Exception], fragment: str
) -> None:
    before = world.stored()

    for modules in (world.model.modules, world.iteration.modules):
        with pytest.raises(error, match=fragment):
            modules.log("linear", attributes)
        with pytest.raises(error, match=fragment):
            modules.add("linear", attributes)

    assert world.stored() == before


# Bad ids and entities -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda w: w.tracker.experiments.update("not-a-uuid", "x"),
            InvalidArgumentError,
            id="experiments.update-str",
        ),
        pytest.param(
            lambda w: w.tracker.experiments.delete(123),
            InvalidTypeError,
            id="experiments.delete-int",
        ),
        pytest.param(
            lambda w: w.tracker.experiments.delete(None),
            InvalidTypeError,
            id="experiments.delete-none",
        ),
        pytest.param(
            lambda w: w.experiment.models.delete("h1"),
            InvalidArgumentError,
            id="models.delete-hash-instead-of-id",
        ),
        pytest.param(
            lambda w: w.model.metrics.remove(object()), InvalidTypeError, id="metrics.remove-object"
        ),
        pytest.param(
            lambda w: w.model.metrics.remove(None), InvalidTypeError, id="metrics.remove-none"
        ),
        pytest.param(
            lambda w: w.model.modules.remove("linear"), InvalidTypeError, id="modules.remove-name"
        ),
        pytest.param(
            lambda w: w.model.iterations.remove(1), InvalidTypeError, id="iterations.remove-step"
        ),
    ],
)
def test_bad_id_raises_typed_error_and_changes_nothing(
    world: World, call: Callable[[World], Any], error: type[Exception]
) -> None:
    before = world.stored()

    with pytest.raises(error):
        call(world)

    assert world.stored() == before


# No SQLAlchemy or driver exception escapes ----------------------------------------------


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up on an unreachable store at once instead of after the retry budget."""
    monkeypatch.setattr("mltracker.backends.sql.engine.RETRY_SECONDS", 0.0)


def _open_and_use(uri: str) -> None:
    with mltracker.connect(uri) as connection:
        connection.experiments.create("x")


def _assert_ours(error: BaseException) -> None:
    assert isinstance(error, MLTrackerError)
    assert not isinstance(error, sqlalchemy.exc.SQLAlchemyError)
    assert not isinstance(error, sqlite3.Error)


@pytest.fixture
def corrupt_file(tmp_path: Path) -> str:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a SQLite database, whatever its name says\n" * 100)
    return str(path)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(_open_and_use, id="connect"),
        pytest.param(lambda uri: mltracker.get_experiment("x", uri), id="get_experiment"),
        pytest.param(lambda uri: mltracker.getallExperiments(uri).list(), id="getallExperiments"),
    ],
)
def test_corrupt_sqlite_file_raises_backend_error(
    corrupt_file: str, entry: Callable[[str], Any]
) -> None:
    with pytest.raises(BackendError, match="corrupt|not a database") as raised:
        entry(corrupt_file)

    _assert_ours(raised.value)


def test_corrupt_sqlite_file_is_left_as_it_was(corrupt_file: str) -> None:
    content = Path(corrupt_file).read_bytes()

    with pytest.raises(BackendError):
        _open_and_use(corrupt_file)

    assert Path(corrupt_file).read_bytes() == content


def test_sqlite_path_that_is_a_directory_raises_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as raised:
        _open_and_use(str(tmp_path))

    _assert_ours(raised.value)


def test_sqlite_path_under_a_file_raises_mltracker_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")

    with pytest.raises(MLTrackerError) as raised:
        _open_and_use(str(tmp_path / "a-file" / "store.db"))

    _assert_ours(raised.value)


@pytest.mark.parametrize(
    ("url", "error", "fragment"),
    [
        pytest.param(
            "postgresql://postgres@127.0.0.1:1/test",
            BackendUnavailableError,
            "refused|port 1",
            id="closed-port",
        ),
        pytest.param(
            "postgresql://postgres@127.0.0.1:99999/test",
            BackendError,
            "port",
            id="port-out-of-range",
        ),
        pytest.param(
            "postgresql://postgres@127.0.0.1:5432/mltracker_no_such_database",
            BackendError,
            "mltracker_no_such_database",
            id="missing-database",
        ),
        pytest.param(
            "postgresql://mltracker_no_such_role@127.0.0.1:5432/test",
            BackendError,
            "mltracker_no_such_role",
            id="missing-role",
        ),
        pytest.param(
            "postgresql+nosuchdriver://postgres@127.0.0.1:5432/test",
            InvalidArgumentError,
            "nosuchdriver",
            id="unknown-driver",
        ),
        pytest.param(
            "postgresql://postgres@127.0.0.1:notaport/test",
            MLTrackerError,
            "notaport",
            id="non-numeric-port",
        ),
    ],
)
@pytest.mark.usefixtures("no_retries")
def test_bad_postgresql_url_raises_mltracker_error(
    postgres_available: bool, url: str, error: type[Exception], fragment: str
) -> None:
    if not postgres_available:
        pytest.skip("PostgreSQL not reachable")

    for entry in (_open_and_use, lambda uri: mltracker.get_experiment("x", uri)):
        with pytest.raises(error, match=fragment) as raised:
            entry(url)
        _assert_ours(raised.value)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        pytest.param("mysql://root@localhost/db", "unknown URI scheme", id="unknown-scheme"),
        pytest.param("sqlite://:memory:", "in-memory", id="sqlite-memory"),
        pytest.param("", "empty", id="empty"),
    ],
)
def test_bad_uri_raises_invalid_argument(uri: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        mltracker.connect(uri)
    with pytest.raises(InvalidArgumentError, match=fragment):
        mltracker.get_experiment("x", uri)


def test_uri_of_wrong_type_raises_invalid_type() -> None:
    with pytest.raises(InvalidTypeError, match="uri"):
        mltracker.connect(42)  # type: ignore[arg-type]


@pytest.fixture
def dropped_modules_table(uri: str) -> Iterator[tuple[mltracker.Connection, Model]]:
    """A store whose ``modules`` table was dropped behind the library's back."""
    connection = mltracker.connect(uri)
    model = connection.experiments.create("e").models.create("h")
    connection.flush()
    execute(uri, "DROP TABLE modules")
    yield connection, model
    connection.close()


@pytest.mark.parametrize(
    "call",
    [
        # A write of a training loop does not raise for a store it cannot write (the
        # backend cannot tell a dropped table from a store that cannot be opened now): it is
        # queued, and the read after it says why the store cannot be read.
        pytest.param(lambda m: (m.modules.log("linear"), m.modules.list()), id="modules.log"),
        pytest.param(lambda m: m.modules.list(), id="modules.list"),
        pytest.param(lambda m: m.modules.clear(), id="modules.clear"),
        pytest.param(lambda m: m.iterations.create(1).modules.list(), id="iteration-modules"),
    ],
)
@pytest.mark.sql_store
def test_database_error_during_an_operation_raises_backend_error(
    dropped_modules_table: tuple[mltracker.Connection, Model], call: Callable[[Model], Any]
) -> None:
    _, model = dropped_modules_table

    with pytest.raises(BackendError) as raised:
        call(model)

    _assert_ours(raised.value)


@pytest.mark.sql_store
def test_store_of_newer_schema_raises_schema_version_error(uri: str) -> None:
    with mltracker.connect(uri) as tracker:  # the first write creates the store
        tracker.experiments.create("e")
    close_all()
    execute(uri, "UPDATE mltracker_schema SET version = 999")

    with pytest.raises(SchemaVersionError, match="999") as raised:
        mltracker.connect(uri)

    _assert_ours(raised.value)
