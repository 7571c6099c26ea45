"""Entities as JSON documents, and the strict JSON they are written in.

JSON cannot encode NaN or the infinities: :func:`json_safe` writes them as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, the tokens the original mltracker's ``db.json``
files used, so that every document is strict JSON (:func:`dumps`). A metric value comes with
its ``kind`` (:func:`value_kind`), so that the float NaN and the string ``"NaN"``, ``True`` and
``1``, an int and a float stay apart; :func:`metric_value` reads a value back by its kind.
UUIDs are written as their text and times as ISO 8601 in UTC (:func:`iso_time`).

The documents (:func:`experiment_document`, :func:`model_document`, ...) are plain dicts whose
keys are in a fixed order; the CLI's ``--json`` output and exports are made of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from mltracker.errors import InvalidArgumentError

if TYPE_CHECKING:
    from mltracker.ports.experiments import Experiment
    from mltracker.ports.iterations import Iteration
    from mltracker.ports.metrics import Metric
    from mltracker.ports.models import Model
    from mltracker.ports.modules import Module
    from mltracker.ports.store import ModelRow, RunRow

__all__ = [
    "INFINITY",
    "KINDS",
    "NAN",
    "NEGATIVE_INFINITY",
    "ValueKind",
    "dumps",
    "experiment_document",
    "iso_time",
    "iteration_document",
    "json_safe",
    "metric_document",
    "metric_value",
    "model_document",
    "module_document",
    "run_document",
    "value_kind",
]

#: The strings that stand for the floats JSON has no token for.
NAN, INFINITY, NEGATIVE_INFINITY = "NaN", "Infinity", "-Infinity"
_NON_FINITE = {NAN: math.nan, INFINITY: math.inf, NEGATIVE_INFINITY: -math.inf}

ValueKind = Literal["float", "int", "bool", "str", "json"]
#: Every kind :func:`value_kind` gives.
KINDS: tuple[ValueKind, ...] = ("float", "int", "bool", "str", "json")


def json_safe(value: Any) -> Any:
    """``value`` with every float JSON cannot encode replaced by its string token and every
    UUID or datetime by its text, at any depth; mappings and sequences are copied (mapping
    keys become strings, tuples lists), anything else is returned as it is.

    Lossy where the tokens meet strings: a NaN nested in a list and the string ``"NaN"`` in
    the same place give the same document. A metric value at the top level stays exact,
    with its :func:`value_kind`.
    """
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
    """``document`` as strict JSON text (no ``NaN`` or ``Infinity`` tokens; see
    :func:`json_safe`), non-ASCII characters as they are; ``indent=None`` gives one line.

    Raises:
        TypeError: Something in ``document`` is not JSON (after :func:`json_safe`).
    """
    return json.dumps(json_safe(document), ensure_ascii=False, indent=indent, allow_nan=False)


def iso_time(timestamp: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC, e.g. ``2024-05-01T12:00:00.123456+00:00``
    (to the microsecond)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def value_kind(value: Any) -> ValueKind:
    """What a metric value is, as documents and exports name it next to the value:
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


def metric_value(kind: str, value: Any) -> Any:
    """The metric value that a document's ``kind`` and parsed ``value`` stand for: the
    inverse of :func:`value_kind` and :func:`json_safe` on a value (``"float"`` and
    ``"NaN"`` give the float NaN, ``"str"`` and ``"NaN"`` the string). Values inside a
    ``json`` value come back as the document has them (see :func:`json_safe`).

    Raises:
        InvalidArgumentError: ``kind`` is not one of :data:`KINDS`, or ``value`` is not a
            value of that kind.
    """
    if kind == "float":
        if isinstance(value, str) and value in _NON_FINITE:
            return _NON_FINITE[value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "json":
        return value
    else:
        known = ", ".join(KINDS)
        raise InvalidArgumentError(f"unknown value kind {kind!r} (known: {known})")
    raise InvalidArgumentError(f"{value!r} is not a value of kind {kind}")


def experiment_document(experiment: Experiment) -> dict[str, Any]:
    """An experiment: ``id`` and ``name`` (callers add what they list of it)."""
    return {"id": experiment.id, "name": experiment.name}


def model_document(model: Model | ModelRow) -> dict[str, Any]:
    """A model: ``id``, ``hash``, ``name``, ``description`` and ``step`` (read once)."""
    return {
        "id": model.id,
        "hash": model.hash,
        "name": model.name,
        "description": model.description,
        "step": model.step,
    }


def metric_document(metric: Metric) -> dict[str, Any]:
    """A metric point: ``name``, ``phase``, ``step``, ``kind`` (:func:`value_kind`),
    ``value`` and ``timestamp`` (:func:`iso_time`)."""
    return {
        "name": metric.name,
        "phase": metric.phase,
        "step": metric.step,
        "kind": value_kind(metric.value),
        "value": metric.value,
        "timestamp": iso_time(metric.timestamp),
    }


def run_document(run: RunRow, now: float | None = None) -> dict[str, Any]:
    """A run: ``id``, ``model_id``, ``name``, ``status`` (as a reader judges it at ``now``,
    default the current time: see ``mltracker.runs.status``), ``started_at``, ``ended_at``
    and ``heartbeat_at`` (:func:`iso_time`, or ``None``), ``duration`` (seconds), ``host``,
    ``pid``, ``command``, ``git``, ``environment``, ``params`` and ``exit``."""
    from mltracker.runs.status import duration_of, status_of

    status = status_of(run, now)
    context = run.context
    return {
        "id": run.id,
        "model_id": run.model_id,
        "name": run.name,
        "status": status,
        "started_at": iso_time(run.started_at),
        "ended_at": None if run.ended_at is None else iso_time(run.ended_at),
        "heartbeat_at": None if run.heartbeat_at is None else iso_time(run.heartbeat_at),
        "duration": duration_of(run, status, now),
        "host": context.get("host"),
        "pid": context.get("pid"),
        "command": context.get("command"),
        "git": context.get("git"),
        "environment": context.get("environment") or {},
        "params": run.params,
        "exit": run.exit,
    }


def module_document(module: Module) -> dict[str, Any]:
    """A module: ``id``, ``name`` and ``attributes``."""
    return {"id": module.id, "name": module.name, "attributes": module.attributes}


def iteration_document(iteration: Iteration) -> dict[str, Any]:
    """An iteration: ``id``, ``step`` and ``modules`` (each a :func:`module_document`;
    reading them is one query)."""
    return {
        "id": iteration.id,
        "step": iteration.step,
        "modules": [module_document(module) for module in iteration.modules.list()],
    }
