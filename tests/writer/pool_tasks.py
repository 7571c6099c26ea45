"""Tasks run by the process-pool tests: importable by spawned and forkserver workers."""

from __future__ import annotations

import mltracker

POINTS = 100


def train(uri: str, index: int) -> int:
    """Log ``POINTS`` points to model ``model<index>`` and return without flushing."""
    model = mltracker.get_experiment("pool", uri).models.create(f"model{index}")
    for step in range(POINTS):
        model.metrics.log("loss", 1.0 / (step + 1), step=step)
    return index


def train_in_thread(uri: str, index: int) -> int:
    """The same, logged from a thread the task starts and joins."""
    import threading

    thread = threading.Thread(target=train, args=(uri, index))
    thread.start()
    thread.join()
    return index
