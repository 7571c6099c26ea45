"""SIGTERM and SIGINT while logging under load, on both backends.

The logging thread flushes every few points itself (a small ``max_pending``), so a signal
usually lands in the middle of a flush. Whatever it interrupts, everything logged is stored,
the process ends as Python would have ended it without MLTracker, and a user's own SIGTERM
handler is still called.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from .children import Child, Counters, describe_gaps, steps_by_model

TRIALS = 3
MAX_PENDING = 200
READY_AFTER = 2_000


def run_and_signal(
    uri: str,
    tmp_path: Path,
    name: str,
    mode: str,
    signum: int,
    delay: float,
    max_pending: int = MAX_PENDING,
) -> tuple[int, int, int]:
    """Start a logger, signal it ``delay`` s after it is ready; return (exit code, log calls
    that returned, handler calls)."""
    progress = tmp_path / f"{name}.progress"
    counters = Counters(progress, 2, create=True)
    try:
        with Child(
            "signalled-logger",
            uri,
            name,
            mode,
            max_pending,
            str(progress),
            READY_AFTER,
            log=tmp_path / f"{name}.log",
        ) as child:
            child.expect("ready", timeout=60)
            time.sleep(delay)
            child.send_signal(signum)
            code = child.wait(timeout=60)
        return code, counters[0], counters[1]
    finally:
        counters.close()


def check_stored(uri: str, name: str, returned: int) -> int:
    """The model holds 0..n-1 where n is the log calls that returned, or one more (the
    signal can land after a call queued its point and before the count was published)."""
    steps = steps_by_model(uri, name).get(name, [])
    assert steps == list(range(len(steps))), f"{name}: {describe_gaps(steps)}"
    assert returned <= len(steps) <= returned + 1, f"{name}: {returned} logged, {len(steps)} stored"
    return len(steps)


@pytest.mark.parametrize(
    ("signum", "expected_code"),
    [
        pytest.param(signal.SIGTERM, -signal.SIGTERM, id="SIGTERM"),
        pytest.param(signal.SIGINT, -signal.SIGINT, id="SIGINT"),  # KeyboardInterrupt's code
    ],
)
def test_signal_with_default_handling_stores_everything_then_ends(
    uri: str, tmp_path: Path, signum: int, expected_code: int
) -> None:
    rng = random.Random(signum)
    for trial in range(TRIALS):
        name, delay = f"default{trial}", rng.uniform(0.0, 0.3)
        code, returned, _ = run_and_signal(uri, tmp_path, name, "default", signum, delay)
        assert code == expected_code, f"trial {trial}, delay {delay:.3f}"
        assert check_stored(uri, name, returned) >= READY_AFTER


def test_own_sigterm_handler_is_called_after_everything_is_stored(uri: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    for trial in range(TRIALS):
        name, delay = f"own{trial}", rng.uniform(0.0, 0.3)
        code, returned, handled = run_and_signal(
            uri, tmp_path, name, "own-handler", signal.SIGTERM, delay
        )
        assert (code, handled) == (7, 1), f"trial {trial}, delay {delay:.3f}"
        assert check_stored(uri, name, returned) >= READY_AFTER


SIGNALS = 4_000
STALL_SECONDS = 5.0


@pytest.mark.slow
def test_many_sigterms_to_a_process_that_handles_them_never_stall_it(
    uri: str, tmp_path: Path
) -> None:
    """A handler that only counts, and a flush at every point: thousands of SIGTERMs, each
    one running MLTracker's handler (flush, then the user's handler) wherever it lands.
    Logging must go on, and everything logged must be stored."""
    progress = tmp_path / "stress.progress"
    counters = Counters(progress, 2, create=True)
    stalled = None
    try:
        with Child(
            "signalled-logger",
            uri,
            "stress",
            "counting-handler",
            1,
            str(progress),
            100,
            log=tmp_path / "stress.log",
        ) as child:
            child.expect("ready", timeout=60)
            seen, last_move, sent = counters[0], time.monotonic(), 0
            while child.popen.poll() is None:
                if sent < SIGNALS:
                    child.send_signal(signal.SIGTERM)
                elif sent == SIGNALS:
                    (progress.parent / (progress.name + ".stop")).touch()
                sent += 1
                time.sleep(0.001)
                now = counters[0]
                if now != seen:
                    seen, last_move = now, time.monotonic()
                elif time.monotonic() - last_move > STALL_SECONDS:
                    stalled = child.fail(
                        f"logging stopped at {now} points after {min(sent, SIGNALS)} SIGTERMs "
                        f"({counters[1]} handled) and did not move for {STALL_SECONDS} s"
                    )
                    break
            if stalled is not None:
                raise stalled
            result = child.result(timeout=60)
        assert result["handled"] >= 1
        assert check_stored(uri, "stress", result["logged"]) == result["logged"]
    finally:
        counters.close()
