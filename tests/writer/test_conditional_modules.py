"""``modules.log_if_empty`` and ``modules.log_if_changed`` (the ``modules.log_if`` operation):
the store decides when it applies the write, in its place among the writes of the process, so
a call queued while the store is away is decided by what the store holds once the writes
before it are written; and an application that is repeated (a retry after a lost answer, a
replay of a spool, one cut short) logs no module twice."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.operations import IF_CHANGED, IF_EMPTY, IdMap, LogModulesIf
from mltracker.ports.store import ModuleOwner, Store


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "RETRY_SECONDS", 0.2)
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 50)


@pytest.fixture
def tracker(sqlite_uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(sqlite_uri) as tracker:
        tracker.writer.interval = 3600.0  # only the calls below write
        yield tracker


def _names(modules: mltracker.Modules) -> list[tuple[str, object]]:
    return [(m.name, m.attributes) for m in modules.list()]


def test_calls_queued_while_the_store_is_away_are_decided_in_their_place(
    impatient: None, sqlite_uri: str, tracker: mltracker.Connection
) -> None:
    experiment = tracker.experiments.create("e")
    rerun, new = experiment.models.create("rerun"), experiment.models.create("new")
    rerun.modules.log("0", {"in": 4})
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert new.modules.log_if_empty([("0", {"in": 4}), ("1", {})]) is None
        assert rerun.modules.log_if_empty([("0", {"in": 4}), ("1", {})]) is None
        # Queued after a module of that name and these settings: decided after it is written.
        new.modules.log("config", {"lr": 0.1})
        assert new.modules.log_if_changed("config", {"lr": 0.1}) is None
        assert new.modules.log_if_changed("config", {"lr": 0.2}) is None
        assert tracker.writer.pending == 6  # with the start of the run of "new"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    tracker.flush()
    assert tracker.writer.pending == 0
    assert _names(rerun.modules) == [("0", {"in": 4})]
    assert _names(new.modules) == [
        ("0", {"in": 4}),
        ("1", {}),
        ("config", {"lr": 0.1}),
        ("config", {"lr": 0.2}),
    ]


def _owner(tracker: mltracker.Connection) -> tuple[Store, ModuleOwner]:
    model = tracker.experiments.create("e").models.create("m")
    return tracker.store, ModuleOwner("model", model.id)


@pytest.mark.parametrize("condition", [IF_EMPTY, IF_CHANGED])
def test_an_operation_applied_again_logs_nothing_twice(
    tracker: mltracker.Connection, condition: str
) -> None:
    store, owner = _owner(tracker)
    operation = LogModulesIf(uuid.uuid4(), owner, condition, [("a", '{"x": 1}'), ("b", "{}")])

    first = operation.apply(store, IdMap())
    again = operation.apply(store, IdMap())

    assert [m.id for m in first] == operation.module_ids() == [m.id for m in again]
    assert [(m.name, m.attributes) for m in store.list_modules(owner)] == [
        ("a", {"x": 1}),
        ("b", {}),
    ]


def test_an_application_cut_short_logs_the_rest_in_order(tracker: mltracker.Connection) -> None:
    store, owner = _owner(tracker)
    operation = LogModulesIf(uuid.uuid4(), owner, IF_EMPTY, [("a", "{}"), ("b", "{}"), ("c", "{}")])
    store.log_module(owner, "a", "{}", id=operation.module_ids()[0])  # then the answer was lost

    operation.apply(store, IdMap())

    modules = store.list_modules(owner)
    assert [m.name for m in modules] == ["a", "b", "c"]
    assert [m.id for m in modules] == operation.module_ids()


def test_if_changed_compares_modules_of_one_call_with_each_other(
    tracker: mltracker.Connection,
) -> None:
    store, owner = _owner(tracker)
    store.log_module(owner, "a", '{"x": 1}')
    modules = [("a", '{"x": 1}'), ("a", '{"x": 2}'), ("a", '{"x": 2}'), ("a", '{"x": 1}')]
    operation = LogModulesIf(uuid.uuid4(), owner, IF_CHANGED, modules)

    logged = operation.apply(store, IdMap())
    assert [m.attributes for m in logged] == [{"x": 2}, {"x": 1}]
    assert operation.apply(store, IdMap()) == logged
    assert [m.attributes for m in store.list_modules(owner)] == [{"x": 1}, {"x": 2}, {"x": 1}]


def test_an_unknown_condition_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown condition"):
        LogModulesIf(uuid.uuid4(), ModuleOwner("model", uuid.uuid4()), "sometimes", [])
