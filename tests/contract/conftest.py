"""Fixtures of the contract suite: ``shared_uri``, a store of each backend shared by a module,
with ``connection`` (a handle on it) and ``experiment`` (a fresh experiment in it), which a
module may override.

``shared_uri`` is the root conftest's ``module_uri`` under the name the contract modules use:
the many small cases that each work in an experiment of their own share it (they then cost a
few queries each instead of a new schema). Tests that look at a whole store (experiments, row
counts) use the ``uri`` and ``tracker`` fixtures instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import mltracker
from mltracker import Experiment


@pytest.fixture(scope="module")
def shared_uri(module_uri: str) -> str:
    """A store of each backend that the tests of one module share."""
    return module_uri


@pytest.fixture
def connection(shared_uri: str) -> Iterator[mltracker.Connection]:
    """A handle on the store the module shares."""
    with mltracker.connect(shared_uri) as connection:
        yield connection


@pytest.fixture
def experiment(connection: mltracker.Connection) -> Experiment:
    """A fresh experiment of its own in the shared store."""
    return connection.experiments.create(f"e-{uuid.uuid4()}")
