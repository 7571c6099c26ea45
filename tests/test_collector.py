"""The pause of the cyclic garbage collector around work that builds an object per point."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mltracker.collector import CollectorPause


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.fixture
def full_passes() -> Iterator[list[int]]:
    """The generations of the collections that start while the test runs."""
    found: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            found.append(info["generation"])

    gc.callbacks.append(note)
    yield found
    gc.callbacks.remove(note)


def test_pause_switches_the_collector_off_inside_and_on_after() -> None:
    pause = CollectorPause()

    with pause:
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pause_leaves_a_collector_that_was_off_off() -> None:
    pause = CollectorPause()
    gc.disable()

    with pause:
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_pause_switches_the_collector_on_after_an_error() -> None:
    pause = CollectorPause()

    with pytest.raises(RuntimeError, match="inside"), pause:
        raise RuntimeError("inside the pause")
    assert gc.isenabled()


def test_pause_nested_switches_on_only_when_the_outer_one_ends() -> None:
    pause = CollectorPause()

    with pause:
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pause_overlapping_threads_switch_on_only_after_the_last_leaves() -> None:
    pause = CollectorPause()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with pause:
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    with pause:
        pass
    still_off = not gc.isenabled()
    leave.set()
    thread.join(10)

    assert still_off
    assert gc.isenabled()


def test_pause_runs_a_full_pass_when_overlapping_pauses_last_too_long(
    full_passes: list[int],
) -> None:
    pause = CollectorPause(longest=0.0)

    with pause:
        with pause:
            pass
        assert 2 in full_passes
        assert not gc.isenabled()


def test_pause_runs_no_pass_while_overlapping_pauses_are_short(full_passes: list[int]) -> None:
    pause = CollectorPause(longest=3600.0)

    with pause:
        with pause:
            pass
        assert full_passes == []
