"""The count of failed logins per address (``mltracker.server.attempts``), on a clock of the
test's own."""

from __future__ import annotations

from mltracker.server.attempts import FailedLogins


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_attempt_waits_until_the_first_failure_is_a_window_old() -> None:
    clock = Clock()
    failures = FailedLogins(limit=5, window=60.0, clock=clock)
    for _ in range(5):
        assert failures.wait("10.0.0.1") == 0.0
        failures.failed("10.0.0.1")
        clock.now += 1.0
    assert failures.wait("10.0.0.1") == 55.0  # the first failure was 5 s ago
    assert failures.wait("10.0.0.2") == 0.0  # another address
    clock.now += 55.0
    assert failures.wait("10.0.0.1") == 0.0  # the first one left the window
    failures.failed("10.0.0.1")
    assert failures.wait("10.0.0.1") == 1.0  # the second one leaves it in 1 s


def test_a_success_forgets_the_failures() -> None:
    clock = Clock()
    failures = FailedLogins(limit=2, window=60.0, clock=clock)
    failures.failed("a")
    failures.succeeded("a")
    failures.failed("a")
    assert failures.wait("a") == 0.0
    failures.failed("a")
    assert failures.wait("a") == 60.0


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    failures = FailedLogins(limit=2, window=60.0, clock=clock)
    failures.failed("a")
    clock.now += 61.0
    failures.failed("a")
    assert failures.wait("a") == 0.0
