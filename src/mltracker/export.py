"""Metric points as rows of a table, written as CSV, JSON Lines or Parquet.

Every format has the same columns (:data:`COLUMNS`): experiment, model_hash, model_name,
run (the id of the run that logged the point; empty, or null, for a point of no run), name,
phase, step, kind, value, timestamp (ISO 8601 in UTC; a real UTC timestamp in Parquet).
``kind`` says what the value is (``float``, ``int``, ``bool``, ``str`` or ``json``; see
:func:`mltracker.codec.value_kind`), so that nothing is lost: the float NaN and the string
``"NaN"``, ``True`` and ``1.0``, an int beyond 2**53 and its nearest float all stay apart.

- CSV: floats as Python writes them (``nan``, ``inf``, ``-inf``, ``-0.0``), ints exactly,
  bools as ``true``/``false``, strings as they are, JSON values as strict JSON.
- JSON Lines: one strict JSON object a line (:func:`mltracker.codec.dumps`); NaN and the
  infinities are ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
- Parquet (needs pyarrow, :data:`PARQUET_INSTALL`): ``value`` is a float64 column (null for
  str and json) and ``value_text`` holds the exact text where the float cannot hold the
  value (str, json, ints beyond 2**53).

:func:`export_rows` reads the rows one model at a time; :func:`export_lines` gives the text of
CSV or JSON Lines a line at a time (to stream it); :func:`write_rows` writes any format to a
stream or a file.
"""

from __future__ import annotations

import csv
import importlib
import io
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal, cast
from uuid import UUID

from mltracker.codec import dumps, iso_time, json_safe, value_kind
from mltracker.errors import InvalidArgumentError, MLTrackerError

if TYPE_CHECKING:
    from mltracker.ports.experiments import Experiment
    from mltracker.ports.models import Model

__all__ = [
    "COLUMNS",
    "FORMATS",
    "PARQUET_INSTALL",
    "ExportFormat",
    "Row",
    "export_lines",
    "export_rows",
    "require_pyarrow",
    "write_rows",
]

#: The columns of every format, in order (Parquet adds ``value_text``).
COLUMNS = (
    "experiment",
    "model_hash",
    "model_name",
    "run",
    "name",
    "phase",
    "step",
    "kind",
    "value",
    "timestamp",
)
ExportFormat = Literal["csv", "jsonl", "parquet"]
#: Every format :func:`write_rows` writes.
FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl", "parquet")
#: What installs the dependency of the Parquet format.
PARQUET_INSTALL = "pip install 'mltracker[parquet]'"
#: How many points :func:`export_rows` reads at a time.
PAGE_SIZE = 10_000
#: How many rows a Parquet row group holds.
ROW_GROUP_SIZE = 50_000
#: Ints up to this size are exact in a float64.
_EXACT_FLOAT_INT = 2**53


@dataclass(frozen=True, slots=True)
class Row:
    """One exported metric point, with the experiment and the model it belongs to."""

    experiment: str
    model_hash: str
    model_name: str | None
    name: str
    phase: str | None
    step: int | None
    value: Any
    #: Seconds since the epoch.
    timestamp: float
    #: The run that logged the point (``None``: no run).
    run: UUID | None = None


def export_rows(experiment: Experiment, models: Iterable[Model]) -> Iterator[Row]:
    """The metric points of ``models`` (models of ``experiment``), model by model, each
    model's points in the order they were logged. Lazy: the points are read a page at a
    time (:data:`PAGE_SIZE`) as the rows reach them, so an export runs in constant memory."""
    for model in models:
        for point in model.metrics.iterate(page_size=PAGE_SIZE):
            yield Row(
                experiment.name,
                model.hash,
                model.name,
                point.name,
                point.phase,
                point.step,
                point.value,
                point.timestamp,
                point.run_id,
            )


def export_lines(rows: Iterable[Row], format: ExportFormat) -> Iterator[str]:
    """The text of ``rows`` in a text format, a line at a time, each ending with ``\\n``:
    for ``csv`` the header line first, for ``jsonl`` one object per row.

    Raises:
        InvalidArgumentError: ``format`` is not ``csv`` or ``jsonl``.
    """
    if format == "csv":
        return _csv_lines(rows)
    if format == "jsonl":
        return (dumps(_jsonl_document(row), indent=None) + "\n" for row in rows)
    raise InvalidArgumentError(f"{format!r} is not a text format: use csv or jsonl")


def write_rows(
    rows: Iterable[Row],
    format: ExportFormat,
    destination: str | os.PathLike[str] | IO[str] | IO[bytes],
) -> int:
    """Write ``rows`` in ``format`` to ``destination`` and return how many were written.

    ``destination`` is a path (the file is created or truncated) or an open stream: a text
    stream for ``csv`` and ``jsonl`` (open it with ``newline=""``: the lines end with ``\\n``
    on every platform), a binary one for ``parquet``. Every format writes as the rows come
    (Parquet in row groups of :data:`ROW_GROUP_SIZE`), in constant memory.

    Raises:
        InvalidArgumentError: ``format`` is not one of :data:`FORMATS`.
        MLTrackerError: ``parquet`` without pyarrow (the message says how to install it).
        OSError: The file cannot be written.
    """
    if format not in FORMATS:
        known = ", ".join(FORMATS)
        raise InvalidArgumentError(f"unknown export format {format!r} (known: {known})")
    if isinstance(destination, (str, os.PathLike)):
        if format == "parquet":
            return _write_parquet(rows, os.fspath(destination))
        with open(destination, "w", encoding="utf-8", newline="") as file:
            return _write_text(rows, format, file)
    if format == "parquet":
        return _write_parquet(rows, destination)
    return _write_text(rows, format, cast(IO[str], destination))


def require_pyarrow() -> None:
    """Make sure the Parquet format can be written, before any work is done.

    Raises:
        MLTrackerError: pyarrow is not installed; the message says how to install it.
    """
    _pyarrow()


def _write_text(rows: Iterable[Row], format: ExportFormat, stream: IO[str]) -> int:
    """Write the lines of :func:`export_lines` to ``stream``; return how many rows."""
    count = 0

    def counted() -> Iterator[Row]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    for line in export_lines(counted(), format):
        stream.write(line)
    return count


def _csv_lines(rows: Iterable[Row]) -> Iterator[str]:
    """The header, then a line per row, as :mod:`csv` writes them (quoted where needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for record in _csv_records(rows):
        writer.writerow(record)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _csv_records(rows: Iterable[Row]) -> Iterator[tuple[Any, ...]]:
    yield COLUMNS
    for row in rows:
        kind = value_kind(row.value)
        yield (
            row.experiment,
            row.model_hash,
            row.model_name or "",
            "" if row.run is None else str(row.run),
            row.name,
            row.phase or "",
            "" if row.step is None else row.step,
            kind,
            _csv_value(row.value, kind),
            iso_time(row.timestamp),
        )


def _csv_value(value: Any, kind: str) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("int", "float"):
        return repr(value)
    if kind == "str":
        return str(value)
    return _strict_json(value)


def _strict_json(value: Any) -> str:
    """A JSON value as strict JSON text on one line (non-finite floats inside as "NaN",
    ...)."""
    return json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False)


def _jsonl_document(row: Row) -> dict[str, Any]:
    return {
        "experiment": row.experiment,
        "model_hash": row.model_hash,
        "model_name": row.model_name,
        "run": None if row.run is None else str(row.run),
        "name": row.name,
        "phase": row.phase,
        "step": row.step,
        "kind": value_kind(row.value),
        "value": row.value,
        "timestamp": iso_time(row.timestamp),
    }


def _pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, or the error that says how to install them."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise MLTrackerError(f"parquet export needs pyarrow: {PARQUET_INSTALL}") from None


def _parquet_value(value: Any, kind: str) -> tuple[float | None, str | None]:
    """The float64 ``value`` and the exact ``value_text`` of a point, for Parquet."""
    if kind in ("float", "bool"):
        return float(value), None
    if kind == "int":
        if -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT:
            return float(value), None
        try:
            return float(value), str(value)
        except OverflowError:
            return None, str(value)
    return None, (str(value) if kind == "str" else _strict_json(value))


def _write_parquet(rows: Iterable[Row], destination: str | IO[str] | IO[bytes]) -> int:
    """Write the rows in row groups of :data:`ROW_GROUP_SIZE`, one at a time (constant
    memory)."""
    pa, pq = _pyarrow()
    if isinstance(destination, io.TextIOBase):
        raise InvalidArgumentError("parquet is binary: give a path or a binary stream")
    schema = pa.schema(
        [
            ("experiment", pa.string()),
            ("model_hash", pa.string()),
            ("model_name", pa.string()),
            ("run", pa.string()),
            ("name", pa.string()),
            ("phase", pa.string()),
            ("step", pa.int64()),
            ("kind", pa.string()),
            ("value", pa.float64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("value_text", pa.string()),
        ]
    )
    count = 0
    with pq.ParquetWriter(destination, schema) as writer:
        iterator = iter(rows)
        while True:
            chunk = list(itertools.islice(iterator, ROW_GROUP_SIZE))
            if not chunk and count:
                break
            writer.write_table(_parquet_table(pa, schema, chunk))
            count += len(chunk)
            if len(chunk) < ROW_GROUP_SIZE:
                break
    return count


def _parquet_table(pa: Any, schema: Any, rows: list[Row]) -> Any:
    columns: dict[str, list[Any]] = {field.name: [] for field in schema}
    for row in rows:
        kind = value_kind(row.value)
        number, text = _parquet_value(row.value, kind)
        columns["experiment"].append(row.experiment)
        columns["model_hash"].append(row.model_hash)
        columns["model_name"].append(row.model_name)
        columns["run"].append(None if row.run is None else str(row.run))
        columns["name"].append(row.name)
        columns["phase"].append(row.phase)
        columns["step"].append(row.step)
        columns["kind"].append(kind)
        columns["value"].append(number)
        columns["value_text"].append(text)
        columns["timestamp"].append(math.floor(row.timestamp * 1_000_000 + 0.5))
    return pa.table({field.name: columns[field.name] for field in schema}, schema=schema)
