"""The store seam: ``connect(store=...)`` and :func:`mltracker.connect.register_scheme`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mltracker
from mltracker import InvalidArgumentError, InvalidTypeError
from mltracker.backends.sql.store import SqlStore
from mltracker.connect import SCHEMES, register_scheme, resolve_uri, sqlite_path
from mltracker.ports.store import Store


@pytest.fixture
def scheme() -> Iterator[str]:
    yield "mirror"
    SCHEMES.pop("mirror", None)


def test_a_store_built_by_hand_serves_the_whole_api(tmp_path: Path) -> None:
    store = SqlStore(resolve_uri(tmp_path / "hand.db"))
    with mltracker.connect(store=store) as connection:
        model = connection.experiments.create("e").models.create("h")
        model.metrics.log("loss", 0.5, step=1)
        model.step += 2
        assert connection.store is store
    with mltracker.connect(store=store) as again:
        model = again.experiments.read("e").models.read("h")
        assert [point.value for point in model.metrics.list()] == [0.5]
        assert model.step == 2
    # What the hand-built store wrote is in the file, for anyone who opens it by path.
    with mltracker.connect(tmp_path / "hand.db") as by_path:
        assert by_path.experiments.read("e") is not None


def test_handles_of_one_store_object_share_its_writer(tmp_path: Path) -> None:
    store = SqlStore(resolve_uri(tmp_path / "hand.db"))
    first = mltracker.connect(store=store)
    second = mltracker.connect(store=store)
    assert first.writer is second.writer
    first.close()
    second.close()


def test_a_registered_scheme_opens_through_its_factory(tmp_path: Path, scheme: str) -> None:
    opened: list[tuple[str, dict[str, str]]] = []

    def factory(uri: str, **options: str) -> Store:
        opened.append((uri, options))
        return SqlStore(resolve_uri(tmp_path / "mirrored.db"))

    register_scheme("MIRROR", factory)
    with mltracker.connect("Mirror://somewhere/x", token="t") as connection:
        connection.experiments.create("e")
    assert opened == [("mirror://somewhere/x", {"token": "t"})]
    assert sqlite_path(resolve_uri(tmp_path / "mirrored.db")) == str(tmp_path / "mirrored.db")
    assert [e.name for e in mltracker.get_all_experiments("mirror://somewhere/x").list()] == ["e"]


def test_misuse_of_the_seam_is_refused_with_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="built in"):
        register_scheme("sqlite", lambda uri: SqlStore(uri))
    with pytest.raises(InvalidArgumentError, match="scheme"):
        register_scheme("no good", lambda uri: SqlStore(uri))
    with pytest.raises(InvalidTypeError):
        register_scheme("fine", "not callable")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        mltracker.connect(store="store.db")  # type: ignore[arg-type]
    store = SqlStore(resolve_uri(tmp_path / "hand.db"))
    with pytest.raises(InvalidArgumentError, match="either"):
        mltracker.connect(tmp_path / "other.db", store=store)
    with pytest.raises(InvalidArgumentError, match="token"):
        mltracker.connect(tmp_path / "other.db", token="secret")
    assert "fine" not in SCHEMES
