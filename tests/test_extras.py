"""The extras a user installs ask for a range of torch, never one version: ``pip install
'mltracker[torch]'`` keeps the torch that is there (a CUDA build, say). Only the project's
own test environment (the ``test`` extra) pins it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
#: The extra of the project's own test environment, which may pin what it tests with.
TEST_EXTRA = "test"


def _extras() -> dict[str, list[str]]:
    with PYPROJECT.open("rb") as file:
        extras: dict[str, list[str]] = tomllib.load(file)["project"]["optional-dependencies"]
    return extras


def _torch_requirements(requirements: list[str]) -> list[str]:
    return [r for r in requirements if re.match(r"torch\b(?![-_.\w])", r.strip(), re.I)]


def test_no_user_facing_extra_pins_torch() -> None:
    pinned = {
        extra: requirement
        for extra, requirements in _extras().items()
        if extra != TEST_EXTRA
        for requirement in _torch_requirements(requirements)
        if "==" in requirement
    }

    assert pinned == {}


def test_the_integration_extras_ask_for_torch() -> None:
    extras = _extras()

    for extra in ("torch", "lightning", "transformers"):
        assert _torch_requirements(extras[extra]), extra


def test_the_test_environment_pins_torch() -> None:
    assert any("==" in r for r in _torch_requirements(_extras()[TEST_EXTRA]))
