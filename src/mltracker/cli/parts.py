"""What a model holds: ``mltracker modules``, ``iterations`` and ``metrics``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from mltracker.cli.context import State, find_experiment, find_model, json_option, pass_state
from mltracker.cli.output import (
    format_json,
    format_value,
    stream_json_array,
    stream_table,
    table,
    table_time,
)
from mltracker.codec import iteration_document, metric_document, module_document
from mltracker.errors import NotFoundError
from mltracker.ports.metrics import Metric
from mltracker.ports.models import Model


def _model(state: State, experiment: str, hash: str) -> Model:
    return find_model(find_experiment(state.connection(), experiment), hash)


@click.group()
def modules() -> None:
    """The modules of a model (or of one of its iterations)."""


@modules.command("list")
@click.argument("experiment")
@click.argument("hash")
@click.option(
    "--iteration",
    "step",
    type=int,
    metavar="STEP",
    help="The modules of the model's iteration at STEP instead of the model's own.",
)
@json_option
@pass_state
def list_modules(state: State, experiment: str, hash: str, step: int | None) -> None:
    """List the modules of the model HASH of EXPERIMENT with their attributes."""
    model = _model(state, experiment, hash)
    if step is None:
        found = model.modules.list()
    else:
        iteration = model.iterations.get(step)
        if iteration is None:
            raise NotFoundError(f"model {model.hash} has no iteration at step {step}")
        found = iteration.modules.list()
    output = table("module", "attributes")
    for module in found:
        output.add_row(module.name, format_json(module.attributes))
    state.emit([module_document(module) for module in found], output)


@click.group()
def iterations() -> None:
    """The iterations of a model (e.g. epochs) and their modules."""


@iterations.command("list")
@click.argument("experiment")
@click.argument("hash")
@json_option
@pass_state
def list_iterations(state: State, experiment: str, hash: str) -> None:
    """List the iterations of the model HASH of EXPERIMENT: each step and its modules."""
    model = _model(state, experiment, hash)
    rows: list[dict[str, Any]] = [
        iteration_document(iteration) for iteration in model.iterations.list()
    ]
    output = table("step", "modules", right=["step"])
    for row in rows:
        output.add_row(
            str(row["step"]),
            "\n".join(
                f"{module['name']} {format_json(module['attributes'])}" for module in row["modules"]
            ),
        )
    state.emit(rows, output)


@click.group()
def metrics() -> None:
    """The metric points of a model."""


#: How many points ``metrics list`` reads at a time.
PAGE_SIZE = 10_000


@metrics.command("list")
@click.argument("experiment")
@click.argument("hash")
@click.option("--name", help="Only the points of this metric.")
@click.option("--phase", help="Only the points of this phase (e.g. train, validation).")
@click.option("--limit", type=click.IntRange(min=0), metavar="K", help="Only the first K points.")
@json_option
@pass_state
def list_metrics(
    state: State,
    experiment: str,
    hash: str,
    name: str | None,
    phase: str | None,
    limit: int | None,
) -> None:
    """List the metric points of the model HASH of EXPERIMENT, in the order they were logged:
    step, name, phase, value and time. Points are printed as they are read, a page at a
    time, so that a long series starts at once and needs little memory."""
    model = _model(state, experiment, hash)
    pages = _pages(model, name, phase, limit)
    if state.json:
        stream_json_array(
            (metric_document(point) for page in pages for point in page),
            lambda text: click.echo(text, nl=False),
        )
        click.echo()
        return
    stream_table(
        state.console,
        ("step", "name", "phase", "value", "time (UTC)"),
        ([_row(point) for point in page] for page in pages),
        right=("step", "value"),
    )


def _pages(
    model: Model, name: str | None, phase: str | None, limit: int | None
) -> Iterator[list[Metric]]:
    """The points ``metrics list`` prints, a page at a time (the first page always, even if
    empty), at most ``limit`` of them."""
    left = limit
    after: Metric | None = None
    while True:
        size = PAGE_SIZE if left is None else min(PAGE_SIZE, left)
        page = model.metrics.list(name, phase=phase, after=after, limit=size)
        yield page
        if left is not None:
            left -= len(page)
        if len(page) < size or left == 0 or not page:
            return
        after = page[-1]


def _row(point: Metric) -> tuple[str, ...]:
    return (
        "" if point.step is None else str(point.step),
        point.name,
        point.phase or "",
        format_value(point.value),
        table_time(point.timestamp),
    )
