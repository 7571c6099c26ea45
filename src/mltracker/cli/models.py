"""``mltracker models``: list, show, rename and delete the models of an experiment.

A HASH argument may be the start of a hash when only one model of the experiment has it.
"""

from __future__ import annotations

from typing import Any

import click

from mltracker.cli.context import (
    State,
    confirm,
    find_experiment,
    find_model,
    json_option,
    pass_state,
)
from mltracker.cli.output import format_json, latest_metrics_table, table
from mltracker.codec import metric_document, model_document, module_document


@click.group()
def models() -> None:
    """List, show, rename and delete the models of an experiment."""


@models.command("list")
@click.argument("experiment")
@json_option
@pass_state
def list_models(state: State, experiment: str) -> None:
    """List the models of EXPERIMENT, oldest first."""
    connection = state.connection()
    found = find_experiment(connection, experiment)
    # One query for every model with its step, however many there are.
    rows: list[dict[str, Any]] = [
        model_document(model) for model in connection.store.list_models(found.id)
    ]
    output = table("hash", "name", "step", "description", right=["step"])
    for row in rows:
        output.add_row(row["hash"], row["name"] or "", str(row["step"]), row["description"] or "")
    state.emit(rows, output)


@models.command("show")
@click.argument("experiment")
@click.argument("hash")
@json_option
@pass_state
def show_model(state: State, experiment: str, hash: str) -> None:
    """Show a model: name, description, step, modules, iterations and latest metrics."""
    model = find_model(find_experiment(state.connection(), experiment), hash)
    modules = model.modules.list()
    iterations = len(model.iterations.list())
    latest = model.metrics.latest()
    document = {
        "experiment": experiment,
        **model_document(model),
        "iterations": iterations,
        "modules": [module_document(module) for module in modules],
        "latest": [metric_document(metric) for metric in latest],
    }
    about = "\n".join(
        f"{label:<12} {value}".rstrip()
        for label, value in (
            ("experiment", experiment),
            ("hash", model.hash),
            ("name", model.name or ""),
            ("description", model.description or ""),
            ("step", str(document["step"])),
            ("iterations", str(iterations)),
        )
    )
    module_table = table("module", "attributes")
    for module in modules:
        module_table.add_row(module.name, format_json(module.attributes))
    metric_table = latest_metrics_table(latest)
    state.emit(document, about, "modules", module_table, "latest metrics", metric_table)


@models.command("rename")
@click.argument("experiment")
@click.argument("hash")
@click.argument("new_name")
@json_option
@pass_state
def rename_model(state: State, experiment: str, hash: str, new_name: str) -> None:
    """Give the model HASH of EXPERIMENT the name NEW_NAME (its hash stays)."""
    found = find_experiment(state.connection(), experiment)
    model = find_model(found, hash)
    found.models.update(model.hash, name=new_name)
    state.emit(
        {"id": model.id, "hash": model.hash, "name": new_name, "previous_name": model.name},
        f"Renamed model {model.hash} of {experiment!r} to {new_name!r}.",
    )


@models.command("delete")
@click.argument("experiment")
@click.argument("hash")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_state
def delete_model(state: State, experiment: str, hash: str, yes: bool) -> None:
    """Delete the model HASH of EXPERIMENT and everything it owns.

    Its metrics, modules and iterations go with it, in one transaction.

    Asks first unless --yes; without an answer (no stdin) nothing is deleted.
    """
    found = find_experiment(state.connection(), experiment)
    model = find_model(found, hash)
    label = f"model {model.hash}" + (f" ({model.name})" if model.name else "")
    confirm(f"Delete {label} of experiment {experiment!r}?", yes)
    found.models.delete(model.id)
    state.emit(
        {"id": model.id, "hash": model.hash, "name": model.name, "deleted": True},
        f"Deleted {label} of experiment {experiment!r}.",
    )
