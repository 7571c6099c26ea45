"""Import the ``db.json`` files of the original ``mltracker`` 0.4.0 (TinyDB).

Its layout: one JSON object of tables, each a mapping of document ids to documents, named by
path: ``/experiments``, ``/experiments/{id}/models``, ``/models/{id}/metrics``,
``/models/{id}/modules``, ``/models/{id}/iterations``, ``/iterations/{id}/modules`` and
``/models/{id}/steps`` (document 1 holds the model's step). NaN and infinities appear as the
bare tokens ``NaN``/``Infinity``/``-Infinity``, which Python's ``json`` reads.

Every id is kept, and the store is made to match the file for those ids (see
:meth:`~mltracker.ports.store.Store.restore`): importing a file again adds what the original
has logged since, takes the model's step, name and description from the file, and puts the
file's points back in the file's order. Nothing that is not in the file is deleted.

The original accepted anything; what MLTracker's data model has no place for is converted
where that loses nothing, and otherwise that document is left out and reported
(:class:`Refusal`) while everything else is imported:

=================================  ===================================================
in the file                        imported as
=================================  ===================================================
a step ``3.0`` (float, integral)   the int ``3`` (points, iterations, the model's step)
a step ``0.5``, ``NaN``, ``true``  refused: a point or an iteration (with its modules)
or beyond int64                    is left out; a model keeps its stored step (0 if new)
a phase ``""``                     no phase (``None``)
a model name ``""``                no name (``None``)
a non-string hash, name or         its JSON text
description
module attributes ``null``         ``{}``
a metric value ``null``            the JSON value ``null``
an int value beyond int64          that int, exactly
an empty experiment name or hash,  refused, with everything the document owns
a bad or repeated id, a repeated
experiment name or model hash
an empty metric or module name     refused: that point or module
=================================  ===================================================

The original recorded no timestamps: new points get the file's modification time.

The original had no runs: each model's points, modules and iterations belong to one run,
named ``imported`` (:data:`IMPORTED_RUN`), finished, which starts at the model's first point
(the file's modification time), or at the import for a model without points. Its id is made
from the model's, so that importing the file again finds it (and, as the points, it keeps
the times of its first import).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from mltracker import values
from mltracker.errors import InvalidArgumentError, MLTrackerError
from mltracker.ports.store import (
    ExperimentRecord,
    IterationRecord,
    MetricRecord,
    ModelRecord,
    ModuleRecord,
    RestoreReport,
    RunRecord,
)

if TYPE_CHECKING:
    from mltracker.connect import Connection

Progress = Callable[[str, int], None]
Tables = Mapping[str, Mapping[str, Any]]


#: The name of the run that an import gives each model.
IMPORTED_RUN = "imported"


def imported_run_id(model_id: UUID) -> UUID:
    """The id of the run that an import gives the model of this id (the same every time)."""
    return uuid.uuid5(model_id, IMPORTED_RUN)


class OriginalFormatError(InvalidArgumentError):
    """The file is not a ``db.json`` of the original mltracker."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A document of the file that was not imported, and why."""

    document: str
    reason: str

    def __str__(self) -> str:
        return f"{self.document}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    """What an import changed, the documents it left out and the tables it could not place."""

    report: RestoreReport
    orphan_tables: list[str]
    refused: list[Refusal]


class _Refused(Exception):
    """A document cannot be imported; the message says why."""


def read_tables(path: str | os.PathLike[str]) -> Tables:
    """The TinyDB tables of a ``db.json`` file.

    Raises:
        OriginalFormatError: The file is unreadable or not of this layout.
    """
    try:
        with open(path, encoding="utf-8") as file:
            tables = json.load(file)
    except FileNotFoundError:
        raise OriginalFormatError(f"no such file: {os.fspath(path)}") from None
    except IsADirectoryError:
        raise OriginalFormatError(f"{os.fspath(path)} is a folder, not a db.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OriginalFormatError(
            f"{os.fspath(path)} is not a readable JSON file: {error}"
        ) from None
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise OriginalFormatError(
            f"{os.fspath(path)} is not a TinyDB database (an object of tables)"
        )
    if tables and "/experiments" not in tables:
        raise OriginalFormatError(
            f"{os.fspath(path)} has no /experiments table: not an mltracker db.json"
        )
    return tables


def _step(raw: Any, what: str = "step") -> int | None:
    """A step of the file as an int; an integral float loses nothing and becomes one."""
    if raw is None:
        return None
    if type(raw) is float and raw.is_integer():
        raw = int(raw)
    if type(raw) is not int:
        raise _Refused(f"{what} {json.dumps(raw)} is not an integer")
    if not values.INT64_MIN <= raw <= values.INT64_MAX:
        raise _Refused(f"{what} {raw} is outside the int64 range")
    return raw


def _checked(check: Callable[[Any, str], Any], raw: Any, what: str) -> Any:
    try:
        return check(raw, what)
    except MLTrackerError as error:
        raise _Refused(str(error)) from None


def _text(raw: Any) -> Any:
    """A hash, name or description that is not a string: its JSON text."""
    return raw if raw is None or isinstance(raw, str) else json.dumps(raw)


def _value(raw: Any) -> Any:
    """A metric value as the original stored it, if MLTracker can keep it exactly."""
    if raw is None or (type(raw) is int and not values.INT64_MIN <= raw <= values.INT64_MAX):
        return raw  # kept as the JSON value null; an exact int
    _checked(lambda value, _what: values.encode_value(value), raw, "value")
    return raw


def _counted(counts: Counter[str]) -> str:
    words = {
        "models": ("model", "models"),
        "metrics": ("metric point", "metric points"),
        "modules": ("module", "modules"),
        "iterations": ("iteration", "iterations"),
    }
    parts = [f"{counts[kind]} {words[kind][counts[kind] != 1]}" for kind in words if counts[kind]]
    return f" (left out with its {', '.join(parts)})" if parts else ""


class _Reader:
    def __init__(self, tables: Tables, timestamp: float, progress: Progress | None) -> None:
        self.tables = tables
        self.timestamp = timestamp
        self.progress = progress
        self.used: set[str] = set()
        self.ids: set[UUID] = set()
        self.refused: list[Refusal] = []

    def documents(self, table: str) -> list[tuple[str, Any]]:
        """``(where, document)`` of a table in insertion order (TinyDB's ids count up)."""
        self.used.add(table)
        found = self.tables.get(table, {})
        ordered = sorted(found.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)
        return [(f"{table} document {doc_id}", document) for doc_id, document in ordered]

    def each(self, table: str, build: Callable[[str, dict[str, Any]], Any]) -> Iterator[Any]:
        """What ``build`` makes of each document of a table; refusals are noted and skipped."""
        for where, document in self.documents(table):
            try:
                if not isinstance(document, dict):
                    raise _Refused("is not an object")
                yield build(where, document)
            except _Refused as refusal:
                self.refused.append(Refusal(where, str(refusal)))

    @staticmethod
    def field(document: dict[str, Any], key: str) -> Any:
        if key not in document:
            raise _Refused(f"has no {key!r}")
        return document[key]

    def uuid(self, document: dict[str, Any]) -> UUID:
        raw = self.field(document, "id")
        try:
            parsed = UUID(str(raw))
        except ValueError:
            raise _Refused(f"has a bad id {json.dumps(raw)}") from None
        if parsed in self.ids:
            raise _Refused(f"repeats the id {parsed} of an earlier document")
        self.ids.add(parsed)
        return parsed

    def owned(self, kind: str, owner: UUID) -> Counter[str]:
        """What a refused experiment or model owns in the file (its tables count as read)."""
        counts: Counter[str] = Counter()
        if kind == "experiment":
            for _where, document in self.documents(f"/experiments/{owner}/models"):
                counts["models"] += 1
                if isinstance(document, dict):
                    try:
                        counts.update(self.owned("model", UUID(str(document.get("id")))))
                    except ValueError:
                        pass
            return counts
        counts["metrics"] = len(self.documents(f"/models/{owner}/metrics"))
        counts["modules"] = len(self.documents(f"/models/{owner}/modules"))
        self.documents(f"/models/{owner}/steps")
        for _where, document in self.documents(f"/models/{owner}/iterations"):
            counts["iterations"] += 1
            if isinstance(document, dict):
                try:
                    table = f"/iterations/{UUID(str(document.get('id')))}/modules"
                except ValueError:
                    continue
                counts["modules"] += len(self.documents(table))
        return counts

    def experiments(self) -> list[ExperimentRecord]:
        names: dict[str, str] = {}

        def build(where: str, document: dict[str, Any]) -> ExperimentRecord:
            experiment_id = self.uuid(document)
            try:
                name = _checked(values.check_name, self.field(document, "name"), "experiment name")
                if name in names:
                    raise _Refused(f"repeats the name {name!r} of {names[name]}")
            except _Refused as refusal:
                left_out = _counted(self.owned("experiment", experiment_id))
                raise _Refused(f"{refusal}{left_out}") from None
            names[name] = where
            hashes: dict[str, str] = {}
            table = f"/experiments/{experiment_id}/models"
            models = list(self.each(table, lambda w, d: self.model(w, d, hashes)))
            return ExperimentRecord(experiment_id, name, models)

        return list(self.each("/experiments", build))

    def model(self, where: str, document: dict[str, Any], hashes: dict[str, str]) -> ModelRecord:
        model_id = self.uuid(document)
        try:
            hash = _checked(values.check_name, _text(self.field(document, "hash")), "model hash")
            if hash in hashes:
                raise _Refused(f"repeats the hash {hash!r} of {hashes[hash]}")
            name = _checked(values.check_text, _text(document.get("name")), "name")
            description = _checked(
                values.check_text, _text(document.get("description")), "description"
            )
        except _Refused as refusal:
            raise _Refused(f"{refusal}{_counted(self.owned('model', model_id))}") from None
        hashes[hash] = where
        step: int | None = 0
        for step_where, step_document in self.documents(f"/models/{model_id}/steps")[:1]:
            try:
                if not isinstance(step_document, dict):
                    raise _Refused("is not an object")
                step = _step(self.field(step_document, "value"))
                if step is None:
                    raise _Refused("step null is not an integer")
            except _Refused as refusal:
                step = None
                self.refused.append(
                    Refusal(step_where, f"{refusal}: the model's step was not imported")
                )
        run_id = imported_run_id(model_id)
        metrics = list(
            self.each(f"/models/{model_id}/metrics", lambda w, d: self.metric(w, d, run_id))
        )
        if self.progress is not None:
            self.progress(hash, len(metrics))
        started = min((point.timestamp for point in metrics), default=time.time())
        return ModelRecord(
            model_id,
            hash,
            name or None,
            description,
            step,
            metrics=metrics,
            modules=list(
                self.each(f"/models/{model_id}/modules", lambda w, d: self.module(w, d, run_id))
            ),
            iterations=list(
                self.each(
                    f"/models/{model_id}/iterations", lambda w, d: self.iteration(w, d, run_id)
                )
            ),
            runs=[RunRecord(run_id, IMPORTED_RUN, "finished", started, ended_at=started)],
        )

    def metric(
        self, _where: str, document: dict[str, Any], run: UUID | None = None
    ) -> MetricRecord:
        metric_id = self.uuid(document)
        phase = document.get("phase")
        return MetricRecord(
            name=_checked(values.check_name, self.field(document, "name"), "metric name"),
            value=_value(self.field(document, "value")),
            step=_step(document.get("step")),
            phase=_checked(values.check_optional_name, None if phase == "" else phase, "phase"),
            timestamp=self.timestamp,
            id=metric_id,
            run=run,
        )

    def module(
        self, _where: str, document: dict[str, Any], run: UUID | None = None
    ) -> ModuleRecord:
        module_id = self.uuid(document)
        name = _checked(values.check_name, self.field(document, "name"), "module name")
        attributes = document.get("attributes") or {}
        _checked(lambda value, _what: values.encode_attributes(value), attributes, "attributes")
        return ModuleRecord(module_id, name, attributes, run)

    def iteration(self, _where: str, document: dict[str, Any], run: UUID) -> IterationRecord:
        iteration_id = self.uuid(document)
        table = f"/iterations/{iteration_id}/modules"
        try:
            step = _step(self.field(document, "step"))
            if step is None:
                raise _Refused("step null is not an integer")
        except _Refused as refusal:
            left_out = Counter(modules=len(self.documents(table)))
            raise _Refused(f"{refusal}{_counted(left_out)}") from None
        return IterationRecord(iteration_id, step, list(self.each(table, self.module)), run)


def read_original(
    path: str | os.PathLike[str], progress: Progress | None = None
) -> tuple[list[ExperimentRecord], list[str], list[Refusal]]:
    """Read a ``db.json`` into entity records.

    Also returns the tables no experiment reaches and the documents left out (see the
    module's docstring), in the order of the file. ``progress(model_hash, points)`` is
    called after each model is read.

    Raises:
        OriginalFormatError: The file is unreadable or not of this layout.
    """
    tables = read_tables(path)
    reader = _Reader(tables, Path(path).stat().st_mtime, progress)
    records = reader.experiments()
    orphans = sorted(name for name, table in tables.items() if name not in reader.used and table)
    return records, orphans, reader.refused


def import_original(
    connection: Connection, path: str | os.PathLike[str], progress: Progress | None = None
) -> ImportResult:
    """Import a ``db.json`` into the store of ``connection`` in one transaction.

    Every document that can be kept is imported, with its id, and the store is made to
    match the file for those ids; the others are listed in :attr:`ImportResult.refused`.

    Raises:
        OriginalFormatError: See :func:`read_original`; nothing is imported.
        AlreadyExistsError: An experiment (or model) of the file has the name (hash) of one in
            the store with another id; nothing is imported.
    """
    records, orphans, refused = read_original(path, progress)
    return ImportResult(connection.store.restore(records), orphans, refused)
