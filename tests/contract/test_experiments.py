"""The Experiments collection: create, read, update, delete, list (SPEC §1)."""

from __future__ import annotations

import uuid

import pytest

import mltracker
from mltracker import AlreadyExistsError, NotFoundError


def test_create_returns_experiment_with_uuid_and_name(tracker: mltracker.Connection) -> None:
    experiment = tracker.experiments.create("mnist")

    assert isinstance(experiment.id, uuid.UUID)
    assert experiment.name == "mnist"


def test_create_gives_each_experiment_its_own_id(tracker: mltracker.Connection) -> None:
    first = tracker.experiments.create("a")
    second = tracker.experiments.create("b")

    assert first.id != second.id


def test_create_duplicate_name_raises_already_exists(tracker: mltracker.Connection) -> None:
    tracker.experiments.create("mnist")

    with pytest.raises(AlreadyExistsError, match="mnist"):
        tracker.experiments.create("mnist")
    assert [e.name for e in tracker.experiments.list()] == ["mnist"]


def test_create_names_differing_only_in_case_are_distinct(tracker: mltracker.Connection) -> None:
    tracker.experiments.create("MNIST")
    tracker.experiments.create("mnist")

    assert [e.name for e in tracker.experiments.list()] == ["MNIST", "mnist"]


def test_read_returns_created_experiment(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("mnist")

    found = tracker.experiments.read("mnist")

    assert found is not None
    assert (found.id, found.name) == (created.id, "mnist")


def test_read_missing_returns_none(tracker: mltracker.Connection) -> None:
    tracker.experiments.create("mnist")

    assert tracker.experiments.read("cifar") is None


def test_update_renames_experiment_keeping_its_id(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("old")

    tracker.experiments.update(created.id, "new")

    assert tracker.experiments.read("old") is None
    renamed = tracker.experiments.read("new")
    assert renamed is not None
    assert renamed.id == created.id


def test_update_keeps_models_of_renamed_experiment(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("old")
    created.models.create("h1")

    tracker.experiments.update(created.id, "new")

    renamed = tracker.experiments.read("new")
    assert renamed is not None
    assert [m.hash for m in renamed.models.list()] == ["h1"]


def test_update_to_its_own_name_is_allowed(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("same")

    tracker.experiments.update(created.id, "same")

    assert [e.name for e in tracker.experiments.list()] == ["same"]


def test_update_to_name_of_another_raises_already_exists(tracker: mltracker.Connection) -> None:
    tracker.experiments.create("a")
    second = tracker.experiments.create("b")

    with pytest.raises(AlreadyExistsError, match="'a'"):
        tracker.experiments.update(second.id, "a")
    assert [e.name for e in tracker.experiments.list()] == ["a", "b"]


def test_update_missing_id_raises_not_found(tracker: mltracker.Connection) -> None:
    tracker.experiments.create("a")

    with pytest.raises(NotFoundError, match="not found"):
        tracker.experiments.update(uuid.uuid4(), "b")
    assert [e.name for e in tracker.experiments.list()] == ["a"]


def test_delete_removes_experiment(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("a")

    tracker.experiments.delete(created.id)

    assert tracker.experiments.read("a") is None
    assert tracker.experiments.list() == []


def test_delete_leaves_other_experiments(tracker: mltracker.Connection) -> None:
    first = tracker.experiments.create("a")
    tracker.experiments.create("b")

    tracker.experiments.delete(first.id)

    assert [e.name for e in tracker.experiments.list()] == ["b"]


def test_delete_frees_the_name_for_a_new_experiment(tracker: mltracker.Connection) -> None:
    first = tracker.experiments.create("a")
    tracker.experiments.delete(first.id)

    second = tracker.experiments.create("a")

    assert second.id != first.id
    assert second.models.list() == []


def test_delete_missing_id_raises_not_found(tracker: mltracker.Connection) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        tracker.experiments.delete(uuid.uuid4())


def test_delete_twice_raises_not_found(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("a")
    tracker.experiments.delete(created.id)

    with pytest.raises(NotFoundError, match="not found"):
        tracker.experiments.delete(created.id)


def test_list_empty_store_is_empty(tracker: mltracker.Connection) -> None:
    assert tracker.experiments.list() == []


def test_list_returns_experiments_in_creation_order(tracker: mltracker.Connection) -> None:
    names = ["zeta", "alpha", "mid", "Beta", "0"]
    for name in names:
        tracker.experiments.create(name)

    assert [e.name for e in tracker.experiments.list()] == names


def test_list_keeps_creation_order_after_rename(tracker: mltracker.Connection) -> None:
    first = tracker.experiments.create("a")
    tracker.experiments.create("b")

    tracker.experiments.update(first.id, "z")

    assert [e.name for e in tracker.experiments.list()] == ["z", "b"]


def test_list_entities_match_created_ones(tracker: mltracker.Connection) -> None:
    created = [tracker.experiments.create(name) for name in ("a", "b")]

    listed = tracker.experiments.list()

    assert [(e.id, e.name) for e in listed] == [(e.id, e.name) for e in created]


def test_read_returns_snapshot_whose_models_are_live(tracker: mltracker.Connection) -> None:
    created = tracker.experiments.create("a")
    snapshot = tracker.experiments.read("a")
    assert snapshot is not None

    created.models.create("h1")
    tracker.experiments.update(created.id, "renamed")

    assert snapshot.name == "a"
    assert [m.hash for m in snapshot.models.list()] == ["h1"]
