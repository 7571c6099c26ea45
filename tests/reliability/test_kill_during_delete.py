"""Killed in the middle of deleting a large experiment: all of it remains, or none of it.

The experiment has 5 models of 100k points (two series each), modules and iterations with
modules of their own. A child deletes it and is SIGKILLed at a random moment of the delete
(the first trial lets the delete finish, to learn how long it takes). Afterwards, with raw
SQL: the rows are those of the whole experiment or of none of it, no row lost its owner, and
another experiment was not touched.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

import mltracker
from mltracker.connect import close_all

from .children import Child, integrity_problems, is_postgres, query

MODELS = 5
POINTS = 100_000
TABLES = ("experiments", "models", "series", "metrics", "iterations", "modules")
SEED = 31337


def table_counts(uri: str) -> dict[str, int]:
    return {table: query(uri, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


def build(uri: str, name: str, models: int, points: int) -> None:
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.create(name)
        for index in range(models):
            model = experiment.models.create(f"m{index}", name=f"model {index}")
            log = model.metrics.log
            for step in range(points // 2):
                log("loss", step * 0.5, step=step, phase="train")
                log("loss", step * 0.25, step=step, phase="validation")
            for layer in range(3):
                model.modules.log(f"layer{layer}", {"type": "Linear", "width": 64 * layer})
            for epoch in range(10):
                iteration = model.iterations.create(epoch)
                iteration.modules.log("optimizer", {"type": "SGD", "lr": 0.1 / (epoch + 1)})
    close_all()


@pytest.mark.slow
def test_kill_during_delete_of_a_large_experiment_leaves_all_or_nothing(
    uri: str, tmp_path: Path
) -> None:
    build(uri, "bystander", 1, 1_000)
    bystander = table_counts(uri)
    bystander_rows = query(uri, "SELECT seq, series_pk, step, value FROM metrics ORDER BY seq")
    build(uri, "big", MODELS, POINTS)
    full = table_counts(uri)
    assert full["metrics"] == bystander["metrics"] + MODELS * POINTS

    rng = random.Random(SEED)
    trials = 4 if is_postgres(uri) else 7
    duration = None
    outcomes = []
    for trial in range(trials):
        if table_counts(uri) == bystander:  # the last delete went through: build it again
            build(uri, "big", MODELS, POINTS)
            assert table_counts(uri) == full
        with Child("deleter", uri, "big", log=tmp_path / f"deleter{trial}.log") as child:
            child.expect("deleting", timeout=60)
            if duration is None:
                duration = float(child.expect("deleted", timeout=120).split()[1])
                child.result()
                delay = None
            else:
                delay = rng.uniform(0.0, 1.2 * duration)
                time.sleep(delay)
                child.kill()
        counts = table_counts(uri)
        outcome = "none" if counts == bystander else "all" if counts == full else "PARTIAL"
        where = f"trial {trial}, killed {delay} s into a delete of {duration:.2f} s"
        assert outcome != "PARTIAL", f"{where}: {counts}, whole {full}, without it {bystander}"
        assert integrity_problems(uri) == [], where
        rows = query(
            uri,
            "SELECT seq, series_pk, step, value FROM metrics WHERE seq <= ? ORDER BY seq",
            (bystander_rows[-1][0],),
        )
        assert rows == bystander_rows, f"{where}: the other experiment changed"
        outcomes.append((trial, None if delay is None else round(delay, 3), outcome))

    print(
        f"delete of {full['metrics'] - bystander['metrics']} points, {duration:.2f} s; "
        f"(trial, kill delay, what remained): {outcomes}"
    )
    with mltracker.connect(uri) as tracker:
        names = sorted(e.name for e in tracker.experiments.list())
        assert names in (["big", "bystander"], ["bystander"])
