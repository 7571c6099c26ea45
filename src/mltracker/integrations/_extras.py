"""The error of an integration whose optional dependency is not installed."""

from __future__ import annotations

from mltracker.errors import MLTrackerError


def missing_extra(error: ModuleNotFoundError, extra: str) -> MLTrackerError:
    """An error that names the missing module and the ``pip install`` command of its extra,
    to raise from the ``ModuleNotFoundError`` of an integration's import."""
    module = error.name or "a module"
    return MLTrackerError(
        f"this integration needs {module}, which is not installed: pip install 'mltracker[{extra}]'"
    )
