"""``mltracker experiments``: list, show, rename and delete experiments."""

from __future__ import annotations

from typing import Any

import click

from mltracker.cli.context import (
    State,
    confirm,
    find_experiment,
    json_option,
    pass_state,
)
from mltracker.cli.output import format_value, metric_document, series_label, table


@click.group()
def experiments() -> None:
    """List, show, rename and delete experiments."""


@experiments.command("list")
@json_option
@pass_state
def list_experiments(state: State) -> None:
    """List the experiments, oldest first, with their number of models."""
    rows: list[dict[str, Any]] = [
        {"id": experiment.id, "name": experiment.name, "models": len(experiment.models.list())}
        for experiment in state.connection().experiments.list()
    ]
    output = table("name", "models", "id", right=["models"])
    for row in rows:
        output.add_row(row["name"], str(row["models"]), str(row["id"]))
    state.emit(rows, output)


@experiments.command("show")
@click.argument("name")
@json_option
@pass_state
def show_experiment(state: State, name: str) -> None:
    """Show the models of experiment NAME with their latest metrics.

    One row per model: its hash, name, step, then the last value logged of each metric
    series (a column per metric name and phase, e.g. loss/train).
    """
    experiment = find_experiment(state.connection(), name)
    rows: list[dict[str, Any]] = []
    labels: dict[tuple[str, str | None], str] = {}
    for model in experiment.models.list():
        latest = model.metrics.latest()
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
    output = table(
        "hash",
        "name",
        "step",
        *labels.values(),
        right=["step", *labels.values()],
    )
    for row in rows:
        values = {(each["name"], each["phase"]): each["value"] for each in row["latest"]}
        output.add_row(
            row["hash"],
            row["name"] or "",
            str(row["step"]),
            *(format_value(values[key]) if key in values else "" for key in labels),
        )
    heading = f"experiment {name}: {_models(len(rows))}"
    state.emit({"id": experiment.id, "name": experiment.name, "models": rows}, heading, output)


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
