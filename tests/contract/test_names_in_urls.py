"""Names and hashes with the characters a URL gives meaning to (``/``, ``%``, ``?``, ``#``,
spaces) work on every backend: behind a server they travel in the path, escaped."""

from __future__ import annotations

import pytest

import mltracker

NAMES = ["a/b", "a%2Fb", "q?x=1", "frag#1", " spaced name ", "../up", "%", "ünï/cødé"]


@pytest.mark.parametrize("name", NAMES)
def test_an_experiment_and_a_model_named_with_url_characters_are_found(
    connection: mltracker.Connection, name: str
) -> None:
    import uuid

    experiment_name = f"{name}-{uuid.uuid4().hex[:6]}"
    experiment = connection.experiments.create(experiment_name)
    assert connection.experiments.read(experiment_name) == experiment
    model = experiment.models.create(name, name="first")
    assert experiment.models.read(name) == model
    experiment.models.update(name, name="second")
    found = experiment.models.read(name)
    assert found is not None and found.name == "second"
    assert connection.experiments.read(experiment_name + "/") is None
