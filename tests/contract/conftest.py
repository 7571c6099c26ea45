"""Fixtures of the contract suite: ``shared_uri``, a store of each backend shared by a module.

It is the root conftest's ``module_uri`` under the name the contract modules use: the many
small cases that each work in an experiment of their own share it (they then cost a few
queries each instead of a new schema). Tests that look at a whole store (experiments, row
counts) use the ``uri`` and ``tracker`` fixtures instead.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def shared_uri(module_uri: str) -> str:
    """A store of each backend that the tests of one module share."""
    return module_uri
