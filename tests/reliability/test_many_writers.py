"""Many writers on one fresh store at once: processes, then threads, with a reader polling."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

import mltracker

from .children import Child, Counters, describe_gaps, integrity_problems, steps_by_model

WRITERS = 8
POINTS = 20_000
FLUSH_EVERY = 500


@pytest.mark.slow
def test_processes_open_a_fresh_store_together_and_lose_nothing(uri: str, tmp_path: Path) -> None:
    go, stop, progress = tmp_path / "go", tmp_path / "stop", tmp_path / "progress"
    Counters(progress, WRITERS, create=True).close()
    with ExitStack() as children:
        writers = [
            children.enter_context(
                Child(
                    "writer",
                    uri,
                    index,
                    POINTS,
                    FLUSH_EVERY,
                    str(go),
                    str(progress),
                    log=tmp_path / f"writer{index}.log",
                )
            )
            for index in range(WRITERS)
        ]
        reader = children.enter_context(
            Child(
                "reader",
                uri,
                WRITERS,
                POINTS,
                str(go),
                str(progress),
                str(stop),
                log=tmp_path / "reader.log",
            )
        )
        for writer in writers:
            writer.expect("ready")
        go.touch()  # every writer opens the fresh store at this moment
        results = [writer.result(timeout=240) for writer in writers]
        stop.touch()
        polled = reader.result(timeout=240)

    assert [r["logged"] for r in results] == [POINTS] * WRITERS
    assert polled["problems"] == [], polled
    assert polled["polls"] > 1
    assert polled["last"] == {f"w{i}": POINTS for i in range(WRITERS)}
    stored = steps_by_model(uri)
    assert sorted(stored) == [f"w{i}" for i in range(WRITERS)]
    for hash, steps in stored.items():
        assert steps == list(range(POINTS)), f"{hash}: {describe_gaps(steps)}"
    assert integrity_problems(uri) == []
    with mltracker.connect(uri) as tracker:
        assert [e.name for e in tracker.experiments.list()] == ["shared"]


THREADS = 4


def test_threads_open_a_fresh_store_together_and_lose_nothing(uri: str) -> None:
    start = threading.Barrier(THREADS + 1)
    logged = [0] * THREADS
    errors: list[BaseException] = []
    done = threading.Event()
    problems: list[str] = []
    polls = 0

    def write(index: int) -> None:
        try:
            start.wait(timeout=60)
            experiment = mltracker.get_experiment("shared", uri)
            model = experiment.models.create(f"t{index}")
            with mltracker.connect(uri) as tracker:
                for step in range(POINTS):
                    logged[index] = step + 1  # before the call: stored <= this, always
                    model.metrics.log("loss", step * 0.5, step=step)
                    if (step + 1) % FLUSH_EVERY == 0:
                        tracker.flush()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def read() -> None:
        nonlocal polls
        last: dict[str, int] = {}
        try:
            start.wait(timeout=60)
            experiments = mltracker.get_all_experiments(uri)
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                finished = done.is_set()
                experiment = experiments.read("shared")
                for model in experiment.models.list() if experiment is not None else []:
                    steps = [point.step for point in model.metrics.list()]
                    begun = logged[int(model.hash[1:])]
                    if len(steps) < last.get(model.hash, 0):
                        problems.append(f"{model.hash}: count fell to {len(steps)}")
                    if len(steps) > begun:
                        problems.append(f"{model.hash}: {len(steps)} stored, {begun} begun")
                    if steps != list(range(len(steps))):
                        problems.append(f"{model.hash}: {describe_gaps(steps)}")
                    last[model.hash] = len(steps)
                polls += 1
                if finished:
                    return
                time.sleep(0.05)
            problems.append("the writers did not finish in time")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(THREADS)]
    poller = threading.Thread(target=read)
    for thread in (*workers, poller):
        thread.start()
    for worker in workers:
        worker.join(timeout=240)
    done.set()
    poller.join(timeout=240)
    assert not any(thread.is_alive() for thread in (*workers, poller))
    assert errors == []
    assert problems == []
    assert polls > 1
    stored = steps_by_model(uri)
    assert sorted(stored) == [f"t{i}" for i in range(THREADS)]
    for hash, steps in stored.items():
        assert steps == list(range(POINTS)), f"{hash}: {describe_gaps(steps)}"
    assert integrity_problems(uri) == []
