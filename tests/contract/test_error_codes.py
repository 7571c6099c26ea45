"""Every error class has a stable code, and crosses JSON as itself."""

from __future__ import annotations

import json
import pickle

import pytest

import mltracker
from mltracker import errors
from mltracker.errors import (
    BackendError,
    BackendUnavailableError,
    InvalidArgumentError,
    InvalidTypeError,
    MLTrackerError,
    NotFoundError,
    error_classes,
    error_from_code,
    error_from_dict,
)

#: The codes as released: changing one breaks clients, so this list changes only by additions.
RELEASED_CODES = {
    "MLTrackerError": "error",
    "NotFoundError": "not_found",
    "AlreadyExistsError": "already_exists",
    "InvalidArgumentError": "invalid_argument",
    "InvalidTypeError": "invalid_argument.type",
    "PayloadTooLargeError": "invalid_argument.too_large",
    "BackendError": "backend",
    "SchemaVersionError": "backend.schema_version",
    "ForeignStoreError": "backend.foreign_store",
    "ReadOnlyStoreError": "backend.read_only",
    "BackendUnavailableError": "backend.unavailable",
    "RemoteError": "backend.remote",
    "AccessDeniedError": "backend.access_denied",
    "CertificateError": "backend.certificate",
}

TREE = [
    cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, MLTrackerError)
]


def test_tree_is_every_exported_error() -> None:
    assert {cls.__name__ for cls in TREE} == set(RELEASED_CODES)
    assert set(error_classes().values()) == set(TREE)


@pytest.mark.parametrize("cls", TREE, ids=lambda cls: cls.__name__)
def test_code_is_the_released_one(cls: type[MLTrackerError]) -> None:
    assert cls.code == RELEASED_CODES[cls.__name__]
    assert "code" in cls.__dict__


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in TREE]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    "cls", [cls for cls in TREE if cls is not MLTrackerError], ids=lambda cls: cls.__name__
)
def test_code_extends_parent_code(cls: type[MLTrackerError]) -> None:
    parent = next(base for base in cls.__mro__[1:] if issubclass(base, MLTrackerError))
    prefix, _, word = cls.code.rpartition(".")
    assert word
    assert prefix == ("" if parent is MLTrackerError else parent.code)


@pytest.mark.parametrize("cls", TREE, ids=lambda cls: cls.__name__)
def test_round_trip_through_json_gives_same_class(cls: type[MLTrackerError]) -> None:
    error = cls("experiment 'mnist' — ünïcode \"quoted\"")
    wire = json.loads(json.dumps(error.to_dict()))
    assert wire == {"code": cls.code, "message": str(error)}
    for rebuilt in (error_from_code(wire["code"], wire["message"]), error_from_dict(wire)):
        assert type(rebuilt) is cls
        assert str(rebuilt) == str(error)
        assert rebuilt.to_dict() == error.to_dict()


@pytest.mark.parametrize("cls", TREE, ids=lambda cls: cls.__name__)
def test_rebuilt_error_pickles(cls: type[MLTrackerError]) -> None:
    rebuilt = error_from_code(cls.code, "m")
    again = pickle.loads(pickle.dumps(rebuilt))
    assert type(again) is cls and str(again) == "m"


@pytest.mark.parametrize(
    ("rebuilt", "builtins"),
    [
        pytest.param(error_from_code("already_exists", "x"), (ValueError,), id="already_exists"),
        pytest.param(error_from_code("not_found", "x"), (LookupError,), id="not_found"),
        pytest.param(
            error_from_code("invalid_argument", "x"), (ValueError,), id="invalid_argument"
        ),
        pytest.param(
            error_from_code("invalid_argument.type", "x"),
            (ValueError, TypeError, InvalidArgumentError),
            id="invalid_type",
        ),
        pytest.param(
            error_from_code("backend.unavailable", "x"), (BackendError,), id="unavailable"
        ),
    ],
)
def test_rebuilt_error_keeps_its_bases(
    rebuilt: MLTrackerError, builtins: tuple[type[Exception], ...]
) -> None:
    bases: tuple[type[Exception], ...] = (MLTrackerError, *builtins)
    for base in bases:
        assert isinstance(rebuilt, base)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("backend.something_new", BackendError, id="new-backend-code"),
        pytest.param("backend.unavailable.new", BackendUnavailableError, id="new-sub-code"),
        pytest.param("invalid_argument.type.new", InvalidTypeError, id="deep"),
        pytest.param("not_found.experiment", NotFoundError, id="not-found-detail"),
        pytest.param("no_such_code", MLTrackerError, id="unknown-root"),
        pytest.param("", MLTrackerError, id="empty"),
        pytest.param(".", MLTrackerError, id="dot"),
        pytest.param("backend.", BackendError, id="trailing-dot"),
        pytest.param("BACKEND", MLTrackerError, id="case-matters"),
        pytest.param("error", MLTrackerError, id="root"),
    ],
)
def test_unknown_code_rebuilds_as_nearest_known_class(
    code: str, expected: type[MLTrackerError]
) -> None:
    rebuilt = error_from_code(code, "the message")
    assert type(rebuilt) is expected
    assert str(rebuilt) == "the message"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="empty"),
        pytest.param({"code": 7, "message": "m"}, id="code-not-str"),
        pytest.param({"code": None}, id="code-none"),
        pytest.param({"code": "not_found", "message": ["m"]}, id="message-not-str"),
    ],
)
def test_odd_dict_never_raises(data: dict[str, object]) -> None:
    rebuilt = error_from_dict(data)
    assert isinstance(rebuilt, MLTrackerError)


def test_subclass_without_code_sends_parent_code() -> None:
    class LocalError(InvalidArgumentError):
        pass

    assert LocalError("m").to_dict() == {"code": "invalid_argument", "message": "m"}
    assert type(error_from_code(LocalError.code, "m")) is InvalidArgumentError
    assert error_classes()["invalid_argument"] is InvalidArgumentError


def test_subclass_reusing_a_code_is_refused() -> None:
    with pytest.raises(TypeError, match="already the code of NotFoundError"):

        class Duplicate(MLTrackerError):
            code = "not_found"

    assert error_classes()["not_found"] is NotFoundError


def test_public_names_are_the_error_module_classes() -> None:
    for cls in TREE:
        assert getattr(mltracker, cls.__name__) is cls
