"""``models.get_or_create`` (safe across processes) and clearing a model's name or
description with ``models.update(hash, clear=[...])``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import mltracker
from mltracker import Experiment, InvalidArgumentError, InvalidTypeError, NotFoundError

from .rowcounts import dump
from .together import run_together

# get_or_create --------------------------------------------------------------------------


def test_get_or_create_creates_an_absent_model(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("h", name="mlp", description="d")

    found = experiment.models.read("h")
    assert found is not None
    assert (found.id, found.name, found.description) == (model.id, "mlp", "d")


def test_get_or_create_returns_an_existing_model_unchanged(experiment: Experiment) -> None:
    created = experiment.models.create("h", name="first", description="one")
    created.step = 4

    got = experiment.models.get_or_create("h", name="second", description="two")

    assert (got.id, got.name, got.description, got.step) == (created.id, "first", "one", 4)
    assert [(m.name, m.description) for m in experiment.models.list()] == [("first", "one")]


def test_get_or_create_of_a_deleted_experiment_raises_not_found(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    connection.experiments.delete(experiment.id)

    with pytest.raises(NotFoundError, match="not found"):
        experiment.models.get_or_create("h")


@pytest.mark.parametrize(
    ("arguments", "error", "fragment"),
    [
        pytest.param(("",), InvalidArgumentError, "hash", id="empty-hash"),
        pytest.param((1,), InvalidTypeError, "hash", id="int-hash"),
        pytest.param(("h", 5), InvalidTypeError, "name", id="int-name"),
        pytest.param(("h", ""), InvalidArgumentError, "name", id="empty-name"),
        pytest.param(("h", None, b"d"), InvalidTypeError, "description", id="bytes-description"),
    ],
)
def test_get_or_create_refuses_bad_arguments_and_changes_nothing(
    shared_uri: str,
    experiment: Experiment,
    arguments: tuple[Any, ...],
    error: type[Exception],
    fragment: str,
) -> None:
    before = dump(shared_uri)

    with pytest.raises(error, match=fragment):
        experiment.models.get_or_create(*arguments)

    assert dump(shared_uri) == before


GET_OR_CREATE = textwrap.dedent(
    """
    import sys
    import mltracker

    uri, name = sys.argv[1], sys.argv[2]
    with mltracker.connect(uri) as tracker:
        models = tracker.experiments.read(name).models
        print("ready", flush=True)
        sys.stdin.readline()
        ids = {str(models.get_or_create(f"h{i}", name="n").id) for i in range(20)}
    print(" ".join(sorted(ids)), flush=True)
    """
)


def test_get_or_create_in_many_processes_at_once_gives_one_model_each(
    uri: str, tmp_path: Path
) -> None:
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("e")
    outputs = run_together(GET_OR_CREATE, [uri, "e"], 4, tmp_path)

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        stored = experiment.models.list()
    assert sorted(m.hash for m in stored) == sorted(f"h{i}" for i in range(20))
    seen = {out.strip() for out in outputs}
    assert seen == {" ".join(sorted(str(m.id) for m in stored))}


# update(clear=...) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clear", "expected"),
    [
        pytest.param(["description"], ("mlp", None), id="description"),
        pytest.param(("name",), ("mlp", "d"), id="name"),
        pytest.param({"name", "description"}, (None, None), id="both"),
        pytest.param("description", ("mlp", None), id="one-as-str"),
        pytest.param((), ("mlp", "d"), id="nothing"),
    ],
)
def test_update_clear_sets_fields_to_none(
    experiment: Experiment, clear: Any, expected: tuple[str | None, str | None]
) -> None:
    experiment.models.create("h", name="mlp", description="d")

    experiment.models.update("h", clear=clear)

    found = experiment.models.read("h")
    assert found is not None
    name, description = expected
    assert (found.name, found.description) == (
        None if "name" in clear else name,
        description,
    )


def test_update_can_set_one_field_and_clear_the_other(experiment: Experiment) -> None:
    experiment.models.create("h", name="mlp", description="d")

    experiment.models.update("h", name="cnn", clear=["description"])

    found = experiment.models.read("h")
    assert found is not None
    assert (found.name, found.description) == ("cnn", None)


def test_update_clear_of_a_missing_model_raises_not_found(experiment: Experiment) -> None:
    with pytest.raises(NotFoundError, match="h"):
        experiment.models.update("h", clear=["name"])


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        pytest.param({"clear": ["hash"]}, InvalidArgumentError, "'hash'", id="unknown"),
        pytest.param({"clear": ["step"]}, InvalidArgumentError, "'step'", id="step"),
        pytest.param({"clear": [None]}, InvalidArgumentError, "None", id="none-in"),
        pytest.param({"clear": [["name"]]}, InvalidArgumentError, "clear", id="nested"),
        pytest.param({"clear": 1}, InvalidTypeError, "clear", id="int"),
        pytest.param(
            {"name": "x", "clear": ["name"]}, InvalidArgumentError, "both", id="given-and-cleared"
        ),
    ],
)
def test_update_clear_refuses_bad_fields_and_changes_nothing(
    shared_uri: str,
    experiment: Experiment,
    kwargs: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    experiment.models.create("h", name="mlp", description="d")
    before = dump(shared_uri)

    with pytest.raises(error, match=fragment):
        experiment.models.update("h", **kwargs)

    assert dump(shared_uri) == before
