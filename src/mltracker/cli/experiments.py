"""``mltracker experiments``: list, show, rename and delete experiments."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from mltracker.cli.context import (
    State,
    confirm,
    find_experiment,
    json_option,
    pass_state,
)
from mltracker.cli.output import format_value, series_label, table
from mltracker.codec import experiment_document, metric_document
from mltracker.ports.metrics import Metric


@click.group()
def experiments() -> None:
    """List, show, rename and delete experiments."""


@experiments.command("list")
@json_option
@pass_state
def list_experiments(state: State) -> None:
    """List the experiments, oldest first, with their number of models."""
    rows: list[dict[str, Any]] = [
        {**experiment_document(experiment), "models": len(experiment.models.list())}
        for experiment in state.connection().experiments.list()
    ]
    output = table("name", "models", "id", right=["models"])
    for row in rows:
        output.add_row(row["name"], str(row["models"]), str(row["id"]))
    state.emit(rows, output)


@experiments.command("show")
@click.argument("name")
@click.option(
    "--metric",
    "-m",
    "metric_names",
    multiple=True,
    metavar="METRIC",
    help="Only the series of this metric (repeat for more); columns in this order.",
)
@click.option(
    "--phase",
    "-p",
    "phases",
    multiple=True,
    metavar="PHASE",
    help="Only the series of this phase (repeat for more).",
)
@click.option(
    "--long",
    "long_format",
    is_flag=True,
    help="One row per model and series, even where a row per model would fit.",
)
@json_option
@pass_state
def show_experiment(
    state: State,
    name: str,
    metric_names: tuple[str, ...],
    phases: tuple[str, ...],
    long_format: bool,
) -> None:
    """Show the models of experiment NAME with their latest metrics.

    One row per model: its hash, name, step, then the last value logged of each metric
    series (a column per metric name and phase, e.g. loss/train). --metric and --phase
    pick the series. Where that table would not fit the terminal's width (or with
    --long), there is one row per model and series instead, nothing cut short.
    """
    connection = state.connection()
    experiment = find_experiment(connection, name)
    # The models with their steps, then the latest points of all of them: a constant number
    # of queries, however many models there are.
    store = connection.store
    models = store.list_models(experiment.id)
    latest_of = store.latest_metrics_of_models([model.id for model in models])

    def wanted(metric: Metric) -> bool:
        return (not metric_names or metric.name in metric_names) and (
            not phases or metric.phase in phases
        )

    rows: list[dict[str, Any]] = []
    labels: dict[tuple[str, str | None], str] = {}
    for model in models:
        latest = [metric for metric in latest_of[model.id] if wanted(metric)]
        for metric in latest:
            labels.setdefault((metric.name, metric.phase), series_label(metric.name, metric.phase))
        rows.append(
            {
                "id": model.id,
                "hash": model.hash,
                "name": model.name,
                "step": model.step,
                "latest": [metric_document(metric) for metric in latest],
            }
        )
    if metric_names:
        order = {metric: index for index, metric in enumerate(metric_names)}
        labels = dict(sorted(labels.items(), key=lambda item: order[item[0][0]]))
    heading = f"experiment {name}: {_models(len(rows))}"
    document = {**experiment_document(experiment), "models": rows}
    if state.json:
        state.emit(document)
    else:
        output = None if long_format else _wide_table(rows, labels)
        if output is None or _natural_width(state.console, output) > state.console.width:
            output = _long_table(rows, labels)
        state.emit(document, heading, output)
    if (metric_names or phases) and not labels:
        state.note("No series matches --metric/--phase.")


def _natural_width(console: Console, output: Table) -> int:
    """How wide ``output`` is with no cell cut short or wrapped."""
    options = console.options.update(width=1_000_000, max_width=1_000_000)
    return Measurement.get(console, options, output).maximum


def _wide_table(rows: list[dict[str, Any]], labels: dict[tuple[str, str | None], str]) -> Table:
    """A row per model, a column per series."""
    output = table("hash", "name", "step", *labels.values(), right=["step", *labels.values()])
    for row in rows:
        values = {(each["name"], each["phase"]): each["value"] for each in row["latest"]}
        output.add_row(
            row["hash"],
            row["name"] or "",
            str(row["step"]),
            *(format_value(values[key]) if key in values else "" for key in labels),
        )
    return output


def _long_table(rows: list[dict[str, Any]], labels: dict[tuple[str, str | None], str]) -> Table:
    """A row per model and series (a model's hash, name and step on its first row only)."""
    output = table("hash", "name", "step", "metric", "phase", "value", right=["step", "value"])
    for column in output.columns:
        column.overflow = "fold"  # wrapped, never cut short with an ellipsis
    for row in rows:
        values = {(each["name"], each["phase"]): each["value"] for each in row["latest"]}
        series: list[tuple[str, str | None] | None] = [key for key in labels if key in values]
        series = series or [None]
        for index, key in enumerate(series):
            first = index == 0
            output.add_row(
                row["hash"] if first else "",
                (row["name"] or "") if first else "",
                str(row["step"]) if first else "",
                "" if key is None else key[0],
                "" if key is None else (key[1] or ""),
                "" if key is None else format_value(values[key]),
                end_section=index == len(series) - 1,
            )
    return output


@experiments.command("rename")
@click.argument("old")
@click.argument("new")
@json_option
@pass_state
def rename_experiment(state: State, old: str, new: str) -> None:
    """Rename experiment OLD to NEW (NEW must not be taken)."""
    connection = state.connection()
    experiment = find_experiment(connection, old)
    connection.experiments.update(experiment.id, new)
    state.emit(
        {"id": experiment.id, "name": new, "previous_name": old},
        f"Renamed experiment {old!r} to {new!r}.",
    )


@experiments.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_state
def delete_experiment(state: State, name: str, yes: bool) -> None:
    """Delete experiment NAME and everything it owns.

    Its models go with their metrics, modules and iterations, in one transaction.

    Asks first unless --yes; without an answer (no stdin) nothing is deleted.
    """
    connection = state.connection()
    experiment = find_experiment(connection, name)
    count = len(experiment.models.list())
    confirm(f"Delete experiment {name!r} and its {_models(count)}?", yes)
    connection.experiments.delete(experiment.id)
    state.emit(
        {"id": experiment.id, "name": name, "deleted": True, "models": count},
        f"Deleted experiment {name!r} and its {_models(count)}.",
    )


def _models(count: int) -> str:
    return f"{count} model" if count == 1 else f"{count} models"
