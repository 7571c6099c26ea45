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
from pathlib import Path

import pytest
from conftest import BACKENDS, HTTP_BACKENDS, backend_store

import mltracker
from mltracker import Experiment

#: The contract holds on every backend, and over HTTP in front of each.
CONTRACT_BACKENDS = BACKENDS + HTTP_BACKENDS


def _skip_server_for_sql_tests(request: pytest.FixtureRequest) -> None:
    """Tests marked ``sql_store`` look at the database or the SQL store itself: they run on
    the direct backends only."""
    if request.param in HTTP_BACKENDS and request.node.get_closest_marker("sql_store"):
        pytest.skip("looks at the SQL store itself")


@pytest.fixture(autouse=True)
def _sql_store_tests_run_directly(request: pytest.FixtureRequest) -> None:
    """What :func:`_skip_server_for_sql_tests` does, for a test marked alone in a module
    whose store is shared."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and request.node.get_closest_marker("sql_store"):
        if any(value in HTTP_BACKENDS for value in callspec.params.values()):
            pytest.skip("looks at the SQL store itself")


@pytest.fixture(params=CONTRACT_BACKENDS)
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each backend, directly and behind a server."""
    _skip_server_for_sql_tests(request)
    with backend_store(request, request.param, tmp_path) as uri:
        yield uri


@pytest.fixture(scope="module", params=CONTRACT_BACKENDS)
def module_uri(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh store of each backend (directly and behind a server), shared by a module."""
    _skip_server_for_sql_tests(request)
    with backend_store(request, request.param, tmp_path_factory.mktemp("module-store")) as uri:
        yield uri


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
