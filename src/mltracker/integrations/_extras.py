"""Importing an optional dependency of an integration, or saying which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from mltracker.errors import MLTrackerError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise an error that names the ``pip install`` command.

    Raises:
        MLTrackerError: ``module`` is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise MLTrackerError(
            f"mltracker.integrations needs {module} here: pip install 'mltracker[{extra}]'"
        ) from None
