"""``mltracker demo``: train the demo's small models into the store, then compare them."""

from __future__ import annotations

import dataclasses
import shlex
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mltracker.cli.context import CliError, State, json_option, pass_state
from mltracker.cli.output import display_uri, format_value, table

if TYPE_CHECKING:
    from mltracker.demo import Settings
    from mltracker.ports.models import Model


@click.command("demo")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Epochs per model (default 30).",
)
@json_option
@pass_state
def demo(state: State, epochs: int | None) -> None:
    """Train three small models into the experiment "spirals".

    Three NumPy multilayer perceptrons learn to separate two spirals. Each model's layers
    are logged as modules, the optimizer of every epoch as an iteration's module, and
    train/validation loss and accuracy per epoch as metrics. A model of the same settings
    from an earlier run is replaced. Needs NumPy.
    """
    try:
        from mltracker import demo as training
    except ModuleNotFoundError as error:
        raise CliError(str(error)) from None

    settings: tuple[Settings, ...] = training.DEFAULT_SETTINGS
    if epochs is not None:
        settings = tuple(dataclasses.replace(each, epochs=epochs) for each in settings)
    connection = state.connection(create=True)
    experiments = connection.experiments
    experiment = experiments.read(training.EXPERIMENT) or experiments.create(training.EXPERIMENT)
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TimeElapsedColumn(),
        console=state.err_console,
        disable=state.json,
    ) as progress:
        tasks = {each: progress.add_task(each.name(), total=each.epochs) for each in settings}

        def advance(each: Settings, epoch: int) -> None:
            progress.update(tasks[each], completed=epoch)

        models = training.run(experiment, settings, advance)
    rows = [_summary(model, each) for model, each in zip(models, settings, strict=True)]
    output = table(
        "hash",
        "name",
        "hidden layers",
        "lr",
        "final train loss",
        "best val accuracy",
        "steps",
        right=["lr", "final train loss", "best val accuracy", "steps"],
    )
    for row in rows:
        output.add_row(
            row["hash"],
            row["name"],
            "x".join(map(str, row["hidden_layers"])),
            format_value(row["learning_rate"]),
            format_value(row["final_train_loss"]),
            format_value(row["best_validation_accuracy"]),
            str(row["steps"]),
        )
    document = {
        "experiment": training.EXPERIMENT,
        "uri": display_uri(connection.uri),
        "models": rows,
    }
    heading = (
        f"experiment {training.EXPERIMENT}: {len(rows)} models in {display_uri(connection.uri)}"
    )
    state.emit(document, heading, output, _next_steps(state, training.EXPERIMENT, rows[0]["hash"]))


def _summary(model: Model, settings: Settings) -> dict[str, Any]:
    train_loss = model.metrics.list("loss", phase="train")
    accuracy = model.metrics.list("accuracy", phase="validation")
    return {
        "hash": model.hash,
        "name": model.name,
        "hidden_layers": list(settings.hidden),
        "learning_rate": settings.learning_rate,
        "final_train_loss": train_loss[-1].value if train_loss else None,
        "best_validation_accuracy": max(point.value for point in accuracy) if accuracy else None,
        "steps": model.step,
    }


def _next_steps(state: State, experiment: str, hash: str) -> str:
    prefix = "mltracker" + (f" --uri {shlex.quote(display_uri(state.uri))}" if state.uri else "")
    commands = (
        f"experiments show {experiment}",
        f"models show {experiment} {hash}",
        f"iterations list {experiment} {hash}",
        f"metrics list {experiment} {hash} --name loss --phase validation --limit 5",
        f"export {experiment} --output {experiment}.csv",
        "ui --open",
    )
    return "\nNext, try:\n" + "\n".join(f"  {prefix} {command}" for command in commands)
