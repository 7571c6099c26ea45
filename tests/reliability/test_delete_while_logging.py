"""An experiment deleted while another process logs to one of its models.

Points refer to their series without a foreign key, so a delete must itself catch the points
a concurrent writer is committing. The writer here starts a new series with every batch (a
new metric name), the case where its transaction creates the series the delete has to find.
Afterwards no row may have lost its owner, and the writer learns of the delete through
``NotFoundError`` (what the writer promises for points of a deleted model).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

import mltracker

from .children import Child, integrity_problems, orphans

TRIALS = 5
BATCH = 5_000
SEED = 99


@pytest.mark.slow
def test_delete_while_another_process_logs_leaves_no_orphans(uri: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    outcomes = []
    orphaned_before: dict[str, int] = {}
    for trial in range(TRIALS):
        name = f"deleted while logging {trial}"
        with mltracker.connect(uri) as tracker:
            tracker.experiments.create(name).models.create("m")
        delay = rng.uniform(0.0, 0.3)
        with Child(
            "series-logger",
            uri,
            name,
            "m",
            BATCH,
            str(tmp_path / "never"),
            log=tmp_path / f"logger{trial}.log",
        ) as child:
            child.expect("ready", timeout=60)
            time.sleep(delay)
            with mltracker.connect(uri) as tracker:
                experiment = tracker.experiments.read(name)
                assert experiment is not None
                tracker.experiments.delete(experiment.id)
            result = child.result(timeout=120)
        ended_by = result["ended_by"] or {}
        orphaned = orphans(uri)
        new_orphans = {
            t: n - orphaned_before.get(t, 0)
            for t, n in orphaned.items()
            if n != orphaned_before.get(t, 0)
        }
        orphaned_before = orphaned
        outcomes.append(
            {
                "trial": trial,
                "delay": round(delay, 3),
                "batches": result["flushed_batches"],
                "orphans": new_orphans,
                "writer saw": ended_by.get("type"),
                "message": ended_by.get("message", "")[:120],
            }
        )

    table = "\n".join(str(outcome) for outcome in outcomes)
    assert all(o["orphans"] == {} for o in outcomes), f"rows left without owner:\n{table}"
    assert integrity_problems(uri) == []
    assert all(o["writer saw"] == "NotFoundError" for o in outcomes), f"the writer saw:\n{table}"
