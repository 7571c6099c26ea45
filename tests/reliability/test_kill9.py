"""kill -9 at random moments while logging: the store stays sound and holds a prefix.

``MLTRACKER_KILL_TRIALS`` sets the number of SQLite trials (default 20; PostgreSQL runs a fifth
of them, at least 3) and ``MLTRACKER_KILL_SEED`` the seed of the kill moments.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

import mltracker
from mltracker.connect import close_all

from .children import Child, describe_gaps, integrity_problems, is_postgres, steps_by_model

TRIALS = int(os.environ.get("MLTRACKER_KILL_TRIALS", "20"))
SEED = int(os.environ.get("MLTRACKER_KILL_SEED", "1729"))
INTERVAL = 0.05  # the writer's flush interval in the child
ACK_EVERY = 1_000  # an explicit flush, then an ack line, every this many points


def last_ack(path: Path) -> int:
    """The count of the last complete ack line (the child may die in the middle of one)."""
    if not path.exists():
        return 0
    lines = path.read_text().split("\n")[:-1]  # what follows the last newline is unfinished
    return int(lines[-1]) if lines else 0


@pytest.mark.slow
def test_kill_9_while_logging_leaves_a_sound_store_and_a_prefix(uri: str, tmp_path: Path) -> None:
    trials = max(3, TRIALS // 5) if is_postgres(uri) else TRIALS
    outcomes = []
    for trial in range(trials):
        rng = random.Random(SEED * 1_000 + trial)
        delay = rng.uniform(0.05, 1.0)
        hash = f"trial{trial}"
        ack = tmp_path / f"ack{trial}"
        with Child(
            "kill-logger",
            uri,
            hash,
            str(ack),
            INTERVAL,
            ACK_EVERY,
            log=tmp_path / f"child{trial}.log",
        ) as child:
            child.expect("ready", timeout=60)
            time.sleep(delay)
            child.kill()
        acked = last_ack(ack)
        where = f"trial {trial} (seed {SEED}, killed {delay:.3f} s after the first ack)"

        assert integrity_problems(uri) == [], where
        steps = steps_by_model(uri, hash).get(hash, [])
        assert steps == list(range(len(steps))), f"{where}: {describe_gaps(steps)}"
        assert len(steps) >= acked, f"{where}: {len(steps)} stored, {acked} acknowledged"

        with mltracker.connect(uri) as tracker:  # and MLTracker opens it and agrees
            experiment = tracker.experiments.read("kill")
            assert experiment is not None
            model = experiment.models.read(hash)
            assert model is not None, where
            assert [p.step for p in model.metrics.latest()] == [len(steps) - 1], where
        close_all()
        outcomes.append((trial, round(delay, 3), acked, len(steps)))

    backend = "postgresql" if is_postgres(uri) else "sqlite"
    print(f"kill -9 trials on {backend} (trial, delay, acked, stored):", outcomes)
    assert all(stored >= acked > 0 for _, _, acked, stored in outcomes)
