"""``mltracker export``: the metric points of a model, or of every model of an experiment.

Every format has the same columns: experiment, model_hash, model_name, name, phase, step,
kind, value, timestamp (ISO 8601 in UTC; a real UTC timestamp in Parquet). ``kind`` says
what the value is (``float``, ``int``, ``bool``, ``str`` or ``json``), so that nothing is
lost: the float NaN and the string ``"NaN"``, ``True`` and ``1.0``, an int beyond 2**53 and
its nearest float all stay apart. CSV and JSON Lines are written with the standard library
from ``metrics.list()``; Parquet needs pyarrow. See :func:`value_kind` and the README.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from mltracker.cli.context import (
    CliError,
    State,
    find_experiment,
    find_model,
    json_option,
    pass_state,
)
from mltracker.cli.output import dumps, iso_time, json_safe, value_kind
from mltracker.ports.experiments import Experiment
from mltracker.ports.models import Model

COLUMNS = (
    "experiment",
    "model_hash",
    "model_name",
    "name",
    "phase",
    "step",
    "kind",
    "value",
    "timestamp",
)
FORMATS = ("csv", "jsonl", "parquet")
PARQUET_INSTALL = "pip install 'mltracker[parquet]'"
#: Ints up to this size are exact in a float64.
_EXACT_FLOAT_INT = 2**53


@dataclass(frozen=True, slots=True)
class Row:
    """One exported metric point."""

    experiment: str
    model_hash: str
    model_name: str | None
    name: str
    phase: str | None
    step: int | None
    value: Any
    timestamp: float


@click.command("export")
@click.argument("experiment")
@click.argument("hash", required=False)
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    help="Default: from the --output suffix (.csv, .jsonl, .parquet), else jsonl with "
    "--json, else csv.",
)
@click.option(
    "--output",
    "-o",
    default="-",
    metavar="FILE",
    help="Where to write; - (the default) is stdout, for csv and jsonl only. An existing "
    "file is replaced once the export is complete.",
)
@json_option
@pass_state
def export(
    state: State, experiment: str, hash: str | None, format_: str | None, output: str
) -> None:
    """Export metric points as CSV, JSON Lines or Parquet.

    The points of the model HASH of EXPERIMENT, or of all its models. Columns:
    experiment, model_hash, model_name, name, phase, step, kind, value, timestamp
    (ISO 8601, UTC). kind is float, int, bool, str or json and says how to read value:
    in CSV floats are written as Python writes them (nan, inf, -inf, -0.0), ints exactly,
    bools as true/false, strings as they are and JSON values as strict JSON; JSON Lines
    writes NaN and infinities as "NaN", "Infinity", "-Infinity". In Parquet, value is a
    float64 column (null for str and json) and value_text holds the exact text where the
    float cannot hold the value (str, json, ints beyond 2**53); it needs pyarrow
    (pip install 'mltracker[parquet]') and --output.

    With --json, the format defaults to jsonl and the summary of an export to a file is
    JSON.
    """
    format_ = format_ or _format_from_suffix(output) or ("jsonl" if state.json else "csv")
    target = None if output == "-" else Path(output)
    if target is None and format_ == "parquet":
        raise click.UsageError("parquet is binary: give --output FILE")
    if target is not None and (target.is_dir() or output.endswith(("/", os.sep))):
        example = target / f"{experiment}.{format_}"
        raise CliError(f"{output} is a folder: give the file to write, e.g. {example}")
    if format_ == "parquet":
        _pyarrow()
    found = find_experiment(state.connection(), experiment)
    models = [find_model(found, hash)] if hash is not None else found.models.list()
    rows = _rows(found, models)
    if target is None:
        with click.open_file("-", "w", encoding="utf-8") as stream:
            if format_ == "csv":
                _write_csv(rows, stream)
            else:
                _write_jsonl(rows, stream)
        return
    try:
        with _replacing(target) as temporary:
            if format_ == "parquet":
                count = _write_parquet(rows, temporary)
            else:
                with open(temporary, "w", encoding="utf-8", newline="") as file:
                    if format_ == "csv":
                        count = _write_csv(rows, file)
                    else:
                        count = _write_jsonl(rows, file)
    except OSError as error:
        raise CliError(f"cannot write {output}: {error.strerror or error}") from None
    summary = {"experiment": experiment, "format": format_, "output": output, "rows": count}
    if state.json:
        click.echo(dumps(summary))
    else:
        state.note(f"Exported {count} metric points to {output} ({format_}).")


def _format_from_suffix(output: str) -> str | None:
    suffix = Path(output).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else None


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A new file beside ``path`` that replaces it if the block succeeds, and is removed
    in any case: an export that fails leaves neither a partial file nor a stray one."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(temporary, "x"):  # created with the usual permissions (umask)
        pass
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _rows(experiment: Experiment, models: list[Model]) -> Iterator[Row]:
    for model in models:
        for point in model.metrics.list():
            yield Row(
                experiment.name,
                model.hash,
                model.name,
                point.name,
                point.phase,
                point.step,
                point.value,
                point.timestamp,
            )


def _strict_json(value: Any) -> str:
    """A JSON value as strict JSON text (non-finite floats inside as "NaN", ...)."""
    return json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False)


def _csv_value(value: Any, kind: str) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("int", "float"):
        return repr(value)
    if kind == "str":
        return str(value)
    return _strict_json(value)


def _write_csv(rows: Iterator[Row], stream: IO[str]) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        kind = value_kind(row.value)
        writer.writerow(
            (
                row.experiment,
                row.model_hash,
                row.model_name or "",
                row.name,
                row.phase or "",
                "" if row.step is None else row.step,
                kind,
                _csv_value(row.value, kind),
                iso_time(row.timestamp),
            )
        )
        count += 1
    return count


def _write_jsonl(rows: Iterator[Row], stream: IO[str]) -> int:
    count = 0
    for row in rows:
        document = {
            "experiment": row.experiment,
            "model_hash": row.model_hash,
            "model_name": row.model_name,
            "name": row.name,
            "phase": row.phase,
            "step": row.step,
            "kind": value_kind(row.value),
            "value": row.value,
            "timestamp": iso_time(row.timestamp),
        }
        stream.write(dumps(document, indent=None) + "\n")
        count += 1
    return count


def _pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, or the error that says how to install them."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise CliError(f"parquet export needs pyarrow: {PARQUET_INSTALL}") from None


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


def _write_parquet(rows: Iterator[Row], path: Path) -> int:
    pa, pq = _pyarrow()
    columns: dict[str, list[Any]] = {name: [] for name in (*COLUMNS, "value_text")}
    for row in rows:
        kind = value_kind(row.value)
        number, text = _parquet_value(row.value, kind)
        columns["experiment"].append(row.experiment)
        columns["model_hash"].append(row.model_hash)
        columns["model_name"].append(row.model_name)
        columns["name"].append(row.name)
        columns["phase"].append(row.phase)
        columns["step"].append(row.step)
        columns["kind"].append(kind)
        columns["value"].append(number)
        columns["value_text"].append(text)
        columns["timestamp"].append(math.floor(row.timestamp * 1_000_000 + 0.5))
    schema = pa.schema(
        [
            ("experiment", pa.string()),
            ("model_hash", pa.string()),
            ("model_name", pa.string()),
            ("name", pa.string()),
            ("phase", pa.string()),
            ("step", pa.int64()),
            ("kind", pa.string()),
            ("value", pa.float64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("value_text", pa.string()),
        ]
    )
    table = pa.table({field.name: columns[field.name] for field in schema}, schema=schema)
    pq.write_table(table, str(path))
    return int(table.num_rows)
