"""``mltracker export``: the metric points of a model, or of every model of an experiment.

The rows and the formats are :mod:`mltracker.export`'s; this command picks the format and
the output, replaces an existing file only once the export is complete, and prints the
summary.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from mltracker.cli.context import (
    CliError,
    State,
    find_experiment,
    find_model,
    json_option,
    pass_state,
)
from mltracker.codec import dumps
from mltracker.export import FORMATS, ExportFormat, export_rows, require_pyarrow, write_rows


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
@click.option(
    "--to",
    "to",
    type=(click.Choice(["mlflow"]), str),
    default=None,
    metavar="mlflow URI",
    help="Export the runs, their params and every point to an MLflow tracking store "
    "instead (sqlite:///mlflow.db, postgresql://..., http://host:5000, an mlruns folder); "
    "runs exported before are skipped.",
)
@json_option
@pass_state
def export(
    state: State,
    experiment: str,
    hash: str | None,
    format_: ExportFormat | None,
    output: str,
    to: tuple[str, str] | None,
) -> None:
    """Export metric points as CSV, JSON Lines or Parquet.

    The points of the model HASH of EXPERIMENT, or of all its models. Columns:
    experiment, model_hash, model_name, run (the id of the run that logged the point, empty
    for a point of no run), name, phase, step, kind, value, timestamp (ISO 8601, UTC).
    kind is float, int, bool, str or json and says how to read value: in CSV floats are
    written as Python writes them (nan, inf, -inf, -0.0), ints exactly, bools as
    true/false, strings as they are and JSON values as strict JSON; JSON Lines writes NaN
    and infinities as "NaN", "Infinity", "-Infinity". In Parquet, value is a float64 column
    (null for str and json) and value_text holds the exact text where the float cannot hold
    the value (str, json, ints beyond 2**53); it needs pyarrow
    (pip install 'mltracker[parquet]') and --output.

    With --json, the format defaults to jsonl and the summary of an export to a file is
    JSON.

    With --to mlflow URI, each run of the models becomes an MLflow run of the experiment
    of the same name: name, status, start, end, params, tags mltracker.run_id and
    mltracker.model_hash, and every numeric point (a series of a phase is the key
    phase/name).
    """
    if to is not None:
        if format_ is not None or output != "-":
            raise click.UsageError("--to mlflow writes to MLflow: no --format or --output")
        _to_mlflow(state, experiment, hash, to[1])
        return
    format_ = format_ or _format_from_suffix(output) or ("jsonl" if state.json else "csv")
    target = None if output == "-" else Path(output)
    if target is None and format_ == "parquet":
        raise click.UsageError("parquet is binary: give --output FILE")
    if target is not None and (target.is_dir() or output.endswith(("/", os.sep))):
        example = target / f"{experiment}.{format_}"
        raise CliError(f"{output} is a folder: give the file to write, e.g. {example}")
    if format_ == "parquet":
        require_pyarrow()
    found = find_experiment(state.connection(), experiment)
    models = [find_model(found, hash)] if hash is not None else found.models.list()
    rows = export_rows(found, models)
    if target is None:
        with click.open_file("-", "w", encoding="utf-8") as stream:
            write_rows(rows, format_, stream)
        return
    try:
        with _replacing(target) as temporary:
            count = write_rows(rows, format_, temporary)
    except OSError as error:
        raise CliError(f"cannot write {output}: {error.strerror or error}") from None
    summary = {"experiment": experiment, "format": format_, "output": output, "rows": count}
    if state.json:
        click.echo(dumps(summary))
    else:
        state.note(f"Exported {count} metric points to {output} ({format_}).")


def _format_from_suffix(output: str) -> ExportFormat | None:
    suffix = Path(output).suffix.lower().lstrip(".")
    for format_ in FORMATS:
        if suffix == format_:
            return format_
    return None


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


def _to_mlflow(state: State, experiment: str, hash: str | None, uri: str) -> None:
    from mltracker.importers.mlflow_export import export_mlflow

    found = find_experiment(state.connection(), experiment)
    models = [find_model(found, hash)] if hash is not None else found.models.list()
    counts = export_mlflow(found, models, uri)
    summary = {"experiment": experiment, "to": "mlflow", "uri": counts.uri, **counts.as_dict()}
    if state.json:
        click.echo(dumps(summary))
        return
    state.note(
        f"Exported {counts.runs} runs ({counts.points} metric points) to {counts.uri}"
        + (f"; {counts.runs_skipped} exported before were skipped" if counts.runs_skipped else "")
        + "."
    )
    if counts.points_left_out:
        state.note(
            f"{counts.points_left_out} points of text or JSON values were left out (MLflow "
            f"keeps numbers only): {', '.join(sorted(counts.left_out_series))}"
        )
