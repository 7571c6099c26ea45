"""Process pools: every point a task logged is stored by the time its result is back, in every
start method and with the idioms people write (``with Pool``, ``maxtasksperchild``,
executors), even though ``Pool.__exit__`` terminates its workers with SIGTERM."""

from __future__ import annotations

import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

import mltracker

from .pool_tasks import POINTS, train, train_in_thread

START_METHODS = ["spawn", "forkserver", "fork"]
TASKS = 4


def _counts(uri: str) -> dict[str, int]:
    experiment = mltracker.get_experiment("pool", uri)
    return {model.hash: len(model.metrics.list("loss")) for model in experiment.models.list()}


def _expected() -> dict[str, int]:
    return {f"model{index}": POINTS for index in range(TASKS)}


@pytest.mark.parametrize("method", START_METHODS)
def test_with_pool_map_stores_every_task_s_points(method: str, sqlite_uri: str) -> None:
    mltracker.get_experiment("pool", sqlite_uri)
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        assert sorted(pool.map(functools.partial(train, sqlite_uri), range(TASKS))) == [0, 1, 2, 3]
    assert _counts(sqlite_uri) == _expected()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_with_pool_and_maxtasksperchild(method: str, uri: str) -> None:
    mltracker.get_experiment("pool", uri)
    context = multiprocessing.get_context(method)
    with context.Pool(2, maxtasksperchild=1) as pool:
        results = [pool.apply_async(train, (uri, index)) for index in range(TASKS)]
        assert sorted(result.get(timeout=120) for result in results) == [0, 1, 2, 3]
    assert _counts(uri) == _expected()


def test_points_of_a_task_s_own_thread_are_stored(sqlite_uri: str) -> None:
    mltracker.get_experiment("pool", sqlite_uri)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(functools.partial(train_in_thread, sqlite_uri), range(TASKS))
    assert _counts(sqlite_uri) == _expected()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_executor_result_means_stored(method: str, sqlite_uri: str) -> None:
    """A future's result is reported after the points of its task were written, so they
    are readable as soon as it is back, even before the executor shuts down."""
    mltracker.get_experiment("pool", sqlite_uri)
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        assert executor.submit(train, sqlite_uri, 0).result(timeout=120) == 0
        assert _counts(sqlite_uri) == {"model0": POINTS}
        list(executor.map(functools.partial(train, sqlite_uri), range(1, TASKS)))
    assert _counts(sqlite_uri) == _expected()


def test_pool_apply_result_means_stored(sqlite_uri: str) -> None:
    mltracker.get_experiment("pool", sqlite_uri)
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        assert pool.apply(train, (sqlite_uri, 0)) == 0
        assert _counts(sqlite_uri) == {"model0": POINTS}
    finally:
        pool.terminate()
        pool.join()
