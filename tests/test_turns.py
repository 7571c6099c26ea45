"""Batches take turns on a server: one at a time, first come, first served."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from mltracker.server.turns import Turns


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        time.sleep(0.001)


def test_turns_are_given_in_the_order_they_were_asked_for() -> None:
    turns = Turns()
    assert turns.acquire(timeout=1)
    served: list[int] = []

    def take(number: int) -> None:
        with turns.turn(timeout=10) as mine:
            assert mine
            served.append(number)

    threads = []
    for number in range(5):
        thread = threading.Thread(target=take, args=(number,))
        thread.start()
        threads.append(thread)
        wait_until(lambda count=number + 1: turns.waiting == count)
    turns.release()
    for thread in threads:
        thread.join(10)

    assert served == [0, 1, 2, 3, 4]
    assert turns.waiting == 0


def test_a_released_turn_goes_to_the_waiter_not_to_a_newcomer() -> None:
    turns = Turns()
    assert turns.acquire(timeout=1)
    got_it = threading.Event()
    leave = threading.Event()

    def waiter() -> None:
        with turns.turn(timeout=10):
            got_it.set()
            leave.wait(10)

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: turns.waiting == 1)
    turns.release()

    assert not turns.acquire(timeout=0.05)
    assert got_it.wait(10)
    leave.set()
    thread.join(10)
    assert turns.acquire(timeout=1)


def test_a_caller_that_waited_too_long_goes_without_its_turn() -> None:
    turns = Turns()
    assert turns.acquire(timeout=1)

    with turns.turn(timeout=0.05) as mine:
        assert not mine
    assert turns.waiting == 0

    turns.release()
    assert turns.acquire(timeout=0)


def test_a_turn_ends_when_its_block_raises() -> None:
    turns = Turns()

    with pytest.raises(RuntimeError, match="inside"), turns.turn(timeout=1):
        raise RuntimeError("inside the turn")

    assert turns.acquire(timeout=0)
