"""A training loop that makes every kind of write a training loop makes, and a look at what a
SQLite store holds of it afterwards (read with sqlite3, from outside MLTracker).

Each epoch: ``model.step += 1`` (every fifth epoch also ``model.step = epoch + 1``, a write of
the same value), a module of the model, an iteration with a module of its own, then a few
metric points; the experiment and the model are got or created first. Run as a script
(``python training_loop.py URI EPOCHS``) it is a child process that trains, closes its handle
and prints one line of JSON: the steps it read, the error it met (if any).

Imports only the standard library and MLTracker.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import mltracker

EXPERIMENT = "offline"
MODEL = "net-hash"
POINTS_PER_EPOCH = 4


def train(
    tracker: mltracker.Connection,
    epochs: int,
    *,
    pause: float = 0.0,
    enough: Callable[[], bool] | None = None,
) -> list[int]:
    """Run the loop on ``tracker`` for ``epochs`` epochs (fewer if ``enough()`` says so
    after one), each taking at least ``pause`` seconds; the steps that ``model.step``
    answered after each increment (one per epoch run)."""
    model = tracker.experiments.get_or_create(EXPERIMENT).models.get_or_create(MODEL, name="net")
    seen: list[int] = []
    for epoch in range(epochs):
        if enough is not None and epoch and enough():
            break
        time.sleep(pause)
        model.step += 1
        if epoch % 5 == 4:
            model.step = epoch + 1
        seen.append(model.step)
        model.modules.log("layer", {"epoch": epoch})
        iteration = model.iterations.create(epoch)
        iteration.modules.log("optimizer", {"epoch": epoch, "lr": 0.1})
        for index in range(POINTS_PER_EPOCH):
            step = epoch * POINTS_PER_EPOCH + index
            model.metrics.log("loss", 1.0 / (step + 1), step=step)
    return seen


@dataclass
class Stored:
    """What a store holds of the loop: for each kind, the epochs in the order stored, and
    when each was applied (the store's clock), for the checks of order across kinds."""

    experiments: list[str]
    models: list[tuple[str, int]]  # hash and step
    layers: list[tuple[int, float]]  # epoch, created_at
    iterations: list[tuple[int, float]]  # step, created_at
    optimizers: list[tuple[int, int, float]]  # iteration step, epoch, created_at
    step_writes: list[tuple[int, float]]  # the step each made, applied_at
    points: list[int]  # steps, in storage order


def stored(path: str) -> Stored:
    """Read what the SQLite store ``path`` holds of the loop's experiment."""
    with closing(sqlite3.connect(path)) as db:
        experiments = [row[0] for row in db.execute("SELECT name FROM experiments ORDER BY pk")]
        model_rows = db.execute(
            "SELECT m.pk, m.id, m.hash, m.step FROM models m JOIN experiments e "
            "ON m.experiment_pk = e.pk WHERE e.name = ? ORDER BY m.pk",
            (EXPERIMENT,),
        ).fetchall()
        if len(model_rows) != 1:
            return Stored(experiments, [(r[2], r[3]) for r in model_rows], [], [], [], [], [])
        model_pk, model_id = model_rows[0][0], model_rows[0][1]
        layers = [
            (json.loads(attributes)["epoch"], created_at)
            for attributes, created_at in db.execute(
                "SELECT attributes, created_at FROM modules WHERE model_pk = ? ORDER BY pk",
                (model_pk,),
            )
        ]
        iterations = db.execute(
            "SELECT step, created_at FROM iterations WHERE model_pk = ? ORDER BY pk",
            (model_pk,),
        ).fetchall()
        optimizers = [
            (step, json.loads(attributes)["epoch"], created_at)
            for step, attributes, created_at in db.execute(
                "SELECT i.step, x.attributes, x.created_at FROM modules x JOIN iterations i "
                "ON x.iteration_pk = i.pk WHERE i.model_pk = ? ORDER BY x.pk",
                (model_pk,),
            )
        ]
        step_writes = db.execute(
            "SELECT step, applied_at FROM step_operations WHERE model_id = ? ORDER BY applied_at",
            (model_id,),
        ).fetchall()
        points = [
            row[0]
            for row in db.execute(
                "SELECT x.step FROM metrics x JOIN series s ON x.series_pk = s.pk "
                "WHERE s.model_pk = ? ORDER BY x.seq",
                (model_pk,),
            )
        ]
    return Stored(
        experiments,
        [(r[2], r[3]) for r in model_rows],
        layers,
        [(r[0], r[1]) for r in iterations],
        optimizers,
        [(r[0], r[1]) for r in step_writes],
        points,
    )


def problems(path: str, epochs: int, *, experiments: list[str] | None = None) -> list[str]:
    """What the store ``path`` holds that differs from ``epochs`` epochs of the loop, each
    write stored once, in the order the loop made them; ``[]`` if nothing."""
    found = stored(path)
    wrong: list[str] = []
    expected_experiments = experiments if experiments is not None else [EXPERIMENT]
    if found.experiments != expected_experiments:
        wrong.append(f"experiments {found.experiments}, not {expected_experiments}")
    if found.models != [(MODEL, epochs)]:
        wrong.append(f"models (hash, step) {found.models}, not {[(MODEL, epochs)]}")
        return wrong
    writes = [epoch + 1 for epoch in range(epochs) for _ in range(2 if epoch % 5 == 4 else 1)]
    checks: list[tuple[str, list[Any], list[Any]]] = [
        ("model modules (epochs)", [e for e, _ in found.layers], list(range(epochs))),
        ("iterations (steps)", [s for s, _ in found.iterations], list(range(epochs))),
        (
            "iteration modules (step, epoch)",
            [(s, e) for s, e, _ in found.optimizers],
            [(e, e) for e in range(epochs)],
        ),
        ("step writes (steps made)", [s for s, _ in found.step_writes], writes),
        ("points (steps)", found.points, list(range(epochs * POINTS_PER_EPOCH))),
    ]
    for what, got, want in checks:
        if got != want:
            wrong.append(f"{what}: {_difference(got, want)}")
    if wrong:
        return wrong
    # Across kinds: the store applied them in the order the loop made them (its clock
    # never goes back between two of its transactions; equal times are allowed).
    events: list[tuple[float, str]] = []
    writes_left = iter(found.step_writes)
    for epoch in range(epochs):
        for _ in range(2 if epoch % 5 == 4 else 1):
            events.append((next(writes_left)[1], f"step write of epoch {epoch}"))
        events.append((found.layers[epoch][1], f"module of epoch {epoch}"))
        events.append((found.iterations[epoch][1], f"iteration of epoch {epoch}"))
        events.append((found.optimizers[epoch][2], f"iteration module of epoch {epoch}"))
    for (before, first), (after, second) in zip(events, events[1:], strict=False):
        if after < before:
            wrong.append(f"{second} was applied before {first}")
    return wrong


def _difference(got: list[Any], want: list[Any]) -> str:
    if len(got) != len(want):
        duplicates = len(got) - len(set(map(repr, got)))
        return f"{len(got)} stored ({duplicates} repeated), not {len(want)}: {got[:12]}..."
    index = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
    return f"first difference at {index}: {got[index]!r}, not {want[index]!r}"


def main() -> None:
    """A child process: train on ``argv[1]`` for ``argv[2]`` epochs, close, print a result."""
    uri, epochs = sys.argv[1], int(sys.argv[2])
    result: dict[str, Any] = {"error": None}
    tracker = mltracker.connect(uri)
    try:
        result["seen"] = train(tracker, epochs)
        result["pending"] = tracker.writer.pending
    except BaseException as error:  # noqa: BLE001 - reported to the test
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        tracker.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
