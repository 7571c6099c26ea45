"""``mltracker export``: the metric points of a model, or of every model of an experiment.

Columns: experiment, model_hash, model_name, name, phase, step, value, timestamp (ISO 8601
in UTC; a real UTC timestamp in Parquet). CSV and JSON Lines are written with the standard
library from ``metrics.list()``, so values come out exactly as logged (an int stays an int)
with or without pandas; Parquet needs pyarrow.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from mltracker.cli.context import CliError, State, find_experiment, find_model, pass_state
from mltracker.cli.output import dumps, iso_time
from mltracker.ports.experiments import Experiment
from mltracker.ports.models import Model

COLUMNS = ("experiment", "model_hash", "model_name", "name", "phase", "step", "value", "timestamp")
FORMATS = ("csv", "jsonl", "parquet")
PARQUET_INSTALL = "pip install 'mltracker[parquet]'"


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
    help="Default: from the --output suffix (.csv, .jsonl, .parquet), else csv.",
)
@click.option(
    "--output",
    "-o",
    default="-",
    metavar="FILE",
    help="Where to write; - (the default) is stdout, for csv and jsonl only.",
)
@pass_state
def export(
    state: State, experiment: str, hash: str | None, format_: str | None, output: str
) -> None:
    """Export metric points as CSV, JSON Lines or Parquet.

    The points of the model HASH of EXPERIMENT, or of all its models.
    Columns: experiment, model_hash, model_name, name, phase, step, value, timestamp
    (ISO 8601, UTC). CSV writes NaN and infinities as nan, inf, -inf, and values that are
    not numbers as JSON; JSON Lines writes them as "NaN", "Infinity", "-Infinity". In
    Parquet, value is a float64 column (null where the value is not a number, whose JSON
    text is then in an extra value_json column) and timestamp a UTC timestamp; it needs
    pyarrow (pip install 'mltracker[parquet]') and --output.
    """
    format_ = format_ or _format_from_suffix(output)
    if format_ == "parquet":
        if output == "-":
            raise click.UsageError("parquet is binary: give --output FILE")
        _pyarrow()
    found = find_experiment(state.connection(), experiment)
    models = [find_model(found, hash)] if hash is not None else found.models.list()
    rows = _rows(found, models)
    try:
        if format_ == "parquet":
            count = _write_parquet(rows, Path(output))
        else:
            atomic = output != "-"
            with click.open_file(output, "w", encoding="utf-8", atomic=atomic) as stream:
                count = _write_csv(rows, stream) if format_ == "csv" else _write_jsonl(rows, stream)
    except OSError as error:
        if output == "-":
            raise  # e.g. a closed pipe: click ends quietly
        raise CliError(f"cannot write {output}: {error.strerror or error}") from None
    if output != "-":
        summary = {"experiment": experiment, "format": format_, "output": output, "rows": count}
        if state.json:
            click.echo(dumps(summary))
        else:
            state.note(f"Exported {count} metric points to {output} ({format_}).")


def _format_from_suffix(output: str) -> str:
    suffix = Path(output).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "csv"


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


def _csv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _write_csv(rows: Iterator[Row], stream: IO[str]) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(
            (
                row.experiment,
                row.model_hash,
                row.model_name or "",
                row.name,
                row.phase or "",
                "" if row.step is None else row.step,
                _csv_value(row.value),
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


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, int, float)):
        return float(value)
    return None


def _write_parquet(rows: Iterator[Row], path: Path) -> int:
    pa, pq = _pyarrow()
    columns: dict[str, list[Any]] = {name: [] for name in (*COLUMNS, "value_json")}
    for row in rows:
        number = _number(row.value)
        columns["experiment"].append(row.experiment)
        columns["model_hash"].append(row.model_hash)
        columns["model_name"].append(row.model_name)
        columns["name"].append(row.name)
        columns["phase"].append(row.phase)
        columns["step"].append(row.step)
        columns["value"].append(number)
        columns["value_json"].append(
            None if number is not None else json.dumps(row.value, ensure_ascii=False)
        )
        columns["timestamp"].append(math.floor(row.timestamp * 1_000_000 + 0.5))
    schema = pa.schema(
        [
            ("experiment", pa.string()),
            ("model_hash", pa.string()),
            ("model_name", pa.string()),
            ("name", pa.string()),
            ("phase", pa.string()),
            ("step", pa.int64()),
            ("value", pa.float64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("value_json", pa.string()),
        ]
    )
    table = pa.table({field.name: columns[field.name] for field in schema}, schema=schema)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return int(table.num_rows)
