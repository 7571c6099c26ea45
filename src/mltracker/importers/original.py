"""Import the ``db.json`` files of the original ``mltracker`` 0.4.0 (TinyDB).

Its layout: one JSON object of tables, each a mapping of document ids to documents, named by
path: ``/experiments``, ``/experiments/{id}/models``, ``/models/{id}/metrics``,
``/models/{id}/modules``, ``/models/{id}/iterations``, ``/iterations/{id}/modules`` and
``/models/{id}/steps`` (document 1 holds the model's step). NaN and infinities appear as the
bare tokens ``NaN``/``Infinity``/``-Infinity``, which Python's ``json`` reads.

Every id is kept, so importing a file twice adds nothing the second time. What the original
accepted and MLTracker would refuse is converted where that loses nothing (``null`` module
attributes become ``{}``, a metric value ``null`` is kept as the JSON value ``null``, a
non-string hash becomes its string), and refused with the table and document otherwise. The
original recorded no timestamps: points get the file's modification time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
)

if TYPE_CHECKING:
    from mltracker.connect import Connection

Progress = Callable[[str, int], None]
Tables = Mapping[str, Mapping[str, Any]]


class OriginalFormatError(InvalidArgumentError):
    """The file is not a ``db.json`` of the original mltracker, or holds something refused."""


def read_tables(path: str | os.PathLike[str]) -> Tables:
    """The TinyDB tables of a ``db.json`` file."""
    try:
        with open(path, encoding="utf-8") as file:
            tables = json.load(file)
    except FileNotFoundError:
        raise OriginalFormatError(f"no such file: {os.fspath(path)}") from None
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


@contextmanager
def _refusing(where: str) -> Iterator[None]:
    """Name the table and document in any refusal raised inside the block."""
    try:
        yield
    except OriginalFormatError:
        raise
    except MLTrackerError as error:
        raise OriginalFormatError(f"{where}: {error}") from None


class _Reader:
    def __init__(self, tables: Tables, timestamp: float, progress: Progress | None) -> None:
        self.tables = tables
        self.timestamp = timestamp
        self.progress = progress
        self.used: set[str] = set()

    def documents(self, table: str) -> list[tuple[str, dict[str, Any]]]:
        """``(where, document)`` of a table in insertion order (TinyDB's ids count up)."""
        self.used.add(table)
        found = self.tables.get(table, {})
        ordered = sorted(found.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)
        documents = []
        for doc_id, document in ordered:
            where = f"{table} document {doc_id}"
            if not isinstance(document, dict):
                raise OriginalFormatError(f"{where} is not an object")
            documents.append((where, document))
        return documents

    @staticmethod
    def field(where: str, document: dict[str, Any], key: str) -> Any:
        if key not in document:
            raise OriginalFormatError(f"{where} has no {key!r}")
        return document[key]

    def uuid(self, where: str, document: dict[str, Any]) -> UUID:
        raw = self.field(where, document, "id")
        try:
            return UUID(str(raw))
        except ValueError:
            raise OriginalFormatError(f"{where} has a bad id {raw!r}") from None

    def experiments(self) -> list[ExperimentRecord]:
        records = []
        for where, document in self.documents("/experiments"):
            experiment_id = self.uuid(where, document)
            with _refusing(where):
                name = values.check_name(self.field(where, document, "name"), "name")
            table = f"/experiments/{experiment_id}/models"
            models = [self.model(*item) for item in self.documents(table)]
            records.append(ExperimentRecord(experiment_id, name, models))
        return records

    def model(self, where: str, document: dict[str, Any]) -> ModelRecord:
        model_id = self.uuid(where, document)
        raw_hash = self.field(where, document, "hash")
        with _refusing(where):
            hash = values.check_name(
                raw_hash if isinstance(raw_hash, str) else json.dumps(raw_hash), "hash"
            )
            name = values.check_text(document.get("name"), "name")
            description = values.check_text(document.get("description"), "description")
        step = 0
        for step_where, step_document in self.documents(f"/models/{model_id}/steps")[:1]:
            with _refusing(step_where):
                step = values.check_int(step_document.get("value", 0), "step")
        metrics = self.metrics(model_id)
        if self.progress is not None:
            self.progress(hash, len(metrics))
        return ModelRecord(
            model_id,
            hash,
            name or None,
            description,
            step,
            metrics=metrics,
            modules=self.modules(f"/models/{model_id}/modules"),
            iterations=self.iterations(model_id),
        )

    def metrics(self, model_id: UUID) -> list[MetricRecord]:
        records = []
        for where, document in self.documents(f"/models/{model_id}/metrics"):
            with _refusing(where):
                value = self.field(where, document, "value")
                if value is not None:
                    values.encode_value(value)
                records.append(
                    MetricRecord(
                        name=values.check_name(self.field(where, document, "name"), "name"),
                        value=value,
                        step=values.check_step(document.get("step"), "step"),
                        phase=values.check_optional_name(document.get("phase"), "phase"),
                        timestamp=self.timestamp,
                        id=self.uuid(where, document),
                    )
                )
        return records

    def modules(self, table: str) -> list[ModuleRecord]:
        records = []
        for where, document in self.documents(table):
            attributes = document.get("attributes") or {}
            with _refusing(where):
                name = values.check_name(self.field(where, document, "name"), "name")
                values.encode_attributes(attributes)
            records.append(ModuleRecord(self.uuid(where, document), name, attributes))
        return records

    def iterations(self, model_id: UUID) -> list[IterationRecord]:
        records = []
        for where, document in self.documents(f"/models/{model_id}/iterations"):
            iteration_id = self.uuid(where, document)
            with _refusing(where):
                step = values.check_int(self.field(where, document, "step"), "step")
            modules = self.modules(f"/iterations/{iteration_id}/modules")
            records.append(IterationRecord(iteration_id, step, modules))
        return records


def read_original(
    path: str | os.PathLike[str], progress: Progress | None = None
) -> tuple[list[ExperimentRecord], list[str]]:
    """Read a ``db.json`` into entity records; also return the tables no experiment reaches.

    ``progress(model_hash, points)`` is called after each model is read.

    Raises:
        OriginalFormatError: The file is unreadable, not of this layout, or holds a value
            MLTracker cannot keep exactly (named with its table and document id).
    """
    tables = read_tables(path)
    reader = _Reader(tables, Path(path).stat().st_mtime, progress)
    records = reader.experiments()
    orphans = sorted(name for name, table in tables.items() if name not in reader.used and table)
    return records, orphans


def import_original(
    connection: Connection, path: str | os.PathLike[str], progress: Progress | None = None
) -> ImportResult:
    """Import a ``db.json`` into the store of ``connection`` in one transaction.

    Raises:
        OriginalFormatError: See :func:`read_original`; nothing is imported.
        AlreadyExistsError: An experiment (or model) of the file has the name (hash) of one in
            the store with another id; nothing is imported.
    """
    records, orphans = read_original(path, progress)
    return ImportResult(connection.store.restore(records), orphans)


@dataclass(frozen=True)
class ImportResult:
    """What an import added, what was there already, and the tables it could not place."""

    report: RestoreReport
    orphan_tables: list[str]
