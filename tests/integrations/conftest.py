"""Shared by the integration tests: the frameworks' own warnings, which the suite's
``filterwarnings = error`` would otherwise turn into failures."""

from __future__ import annotations

import pytest

#: Warnings that the frameworks raise on their own at this size (tiny data, CPU, no
#: workers): they say nothing about MLTracker.
FRAMEWORK_WARNINGS = (
    r"ignore:.*isinstance\(treespec, LeafSpec\).*",  # Lightning's pytree helper, torch 2.13
    "ignore:.*does not have many workers.*",
    "ignore:.*smaller than the logging interval.*",
    "ignore:.*GPU available but not used.*",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integrations/" in item.nodeid.replace("\\", "/"):
            for warning in FRAMEWORK_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(warning))
