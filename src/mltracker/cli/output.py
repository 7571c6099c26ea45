"""Printing for people (rich tables) and for scripts (one JSON document).

JSON cannot encode NaN or the infinities: in ``--json`` output (and in ``export --format
jsonl``) they are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, the
tokens the original mltracker's ``db.json`` files used; a metric value comes with its
``kind`` (:func:`value_kind`), so the float NaN and the string ``"NaN"`` stay apart. Times
are ISO 8601 in UTC.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from mltracker.connect import sqlite_path
from mltracker.ports.metrics import Metric
from mltracker.ports.modules import Module

#: What ``--json`` writes for the floats JSON has no token for.
NAN, INFINITY, NEGATIVE_INFINITY = "NaN", "Infinity", "-Infinity"

JSON_HELP = (
    "Print one JSON document instead of tables. NaN and infinities are written as the "
    'strings "NaN", "Infinity" and "-Infinity", and a metric value comes with its kind '
    "(float, int, bool, str, json); times are ISO 8601 in UTC."
)


def json_safe(value: Any) -> Any:
    """``value`` with every float JSON cannot encode replaced by its string token and every
    UUID or datetime by its text; containers are copied."""
    if isinstance(value, float):
        if math.isnan(value):
            return NAN
        if math.isinf(value):
            return INFINITY if value > 0 else NEGATIVE_INFINITY
        return value
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def dumps(document: Any, *, indent: int | None = 2) -> str:
    """``document`` as strict JSON (see :func:`json_safe`)."""
    return json.dumps(json_safe(document), ensure_ascii=False, indent=indent, allow_nan=False)


def display_uri(uri: str) -> str:
    """A normalised store URI for people: a SQLite file's path, other URLs without password."""
    path = sqlite_path(uri)
    if path is not None:
        return path
    from sqlalchemy.engine import make_url  # here: ``mltracker --help`` needs no SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri


def iso_time(timestamp: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC, e.g. ``2024-05-01T12:00:00.123456+00:00``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def table_time(timestamp: float) -> str:
    """Seconds since the epoch as ``2024-05-01 12:00:00`` (UTC), for tables."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_value(value: Any) -> str:
    """A metric value for a table: floats to 6 significant digits, other values exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return NAN
        if math.isinf(value):
            return INFINITY if value > 0 else NEGATIVE_INFINITY
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def format_json(value: Any) -> str:
    """A JSON value (module attributes) on one line, for a table."""
    return json.dumps(value, ensure_ascii=False)


def series_label(name: str, phase: str | None) -> str:
    """The column title of a metric series: ``loss/train``, or ``loss`` without a phase."""
    return name if phase is None else f"{name}/{phase}"


def value_kind(value: Any) -> str:
    """What a metric value is, as exports and ``--json`` output name it next to the value:
    ``float``, ``int``, ``bool``, ``str`` or ``json`` (a list, an object or null)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def metric_document(metric: Metric) -> dict[str, Any]:
    """A metric point for ``--json`` output."""
    return {
        "name": metric.name,
        "phase": metric.phase,
        "step": metric.step,
        "kind": value_kind(metric.value),
        "value": metric.value,
        "timestamp": iso_time(metric.timestamp),
    }


def module_document(module: Module) -> dict[str, Any]:
    """A module for ``--json`` output."""
    return {"id": module.id, "name": module.name, "attributes": module.attributes}


def table(*columns: str, right: Iterable[str] = ()) -> Table:
    """A table with the given column titles; those in ``right`` are right-aligned."""
    aligned = set(right)
    result = Table()
    for column in columns:
        result.add_column(column, justify="right" if column in aligned else "left")
    return result


def make_console(*, stderr: bool = False) -> Console:
    """A console that prints text as given (no markup, emoji or highlighting).

    Written to a pipe or a file, tables are plain text as wide as ``$COLUMNS``, else 160.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not _is_terminal(stream):
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else 160
    return _Console(
        stderr=stderr, width=width, markup=False, emoji=False, highlight=False, soft_wrap=False
    )


class _Console(Console):
    """A console whose closed pipe raises ``BrokenPipeError`` (rich would exit with 1), so
    that the CLI ends there quietly with exit code 0 (see ``mltracker.cli.pipes``)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def shows_progress(console: Console) -> bool:
    """Whether progress bars go to ``console``: only to a terminal, never into a pipe or log."""
    return console.is_terminal


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
