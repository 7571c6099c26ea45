"""A run's status, as a reader shows it.

A store keeps what was last written: ``running``, ``finished``, ``failed`` or ``killed``. A
run that stays ``running`` while its heartbeat is older than its timeout (the writer's
``$MLTRACKER_RUN_TIMEOUT``, default 60 s, kept with the run) reads as ``crashed``: its
process went without a word (``kill -9``, the OOM killer, a power loss). Its heartbeat comes
back, and with it ``running``, if the process was only cut off from the store: heartbeats are
queued and spooled like points, and keep the time they were made.
"""

from __future__ import annotations

import os
import time
from typing import Literal

from mltracker.errors import InvalidArgumentError
from mltracker.ports.store import RunRow

#: Every status a reader can see.
Status = Literal["running", "finished", "failed", "killed", "crashed"]
STATUSES: tuple[Status, ...] = ("running", "finished", "failed", "killed", "crashed")

#: Seconds without a heartbeat after which a running run reads as crashed.
TIMEOUT_VARIABLE = "MLTRACKER_RUN_TIMEOUT"
DEFAULT_TIMEOUT = 60.0


def run_timeout() -> float:
    """``$MLTRACKER_RUN_TIMEOUT`` in seconds (default 60); the heartbeat comes every tenth,
    and reaches the store with the points, up to the writer's interval (1 s) later, so the
    timeout should be a few seconds at least.

    Raises:
        InvalidArgumentError: The variable is not a positive number.
    """
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise InvalidArgumentError(
            f"${TIMEOUT_VARIABLE} must be a positive number of seconds, not {text!r}"
        )
    return seconds


def status_of(row: RunRow, now: float | None = None) -> Status:
    """The status a reader shows for a stored run at ``now`` (default: the current time)."""
    if row.status != "running":
        return row.status  # type: ignore[return-value]
    if row.timeout is None:
        return "running"
    last = row.heartbeat_at if row.heartbeat_at is not None else row.started_at
    if (time.time() if now is None else now) - last > row.timeout:
        return "crashed"
    return "running"


def duration_of(row: RunRow, status: Status, now: float | None = None) -> float:
    """Seconds from a run's start to its end; a run that did not end lasts until ``now``
    (default: the current time) while ``running``, else (``crashed``) until its last
    heartbeat."""
    end = row.ended_at
    if end is None:
        if status == "running":
            end = time.time() if now is None else now
        else:
            end = row.heartbeat_at or row.started_at
    return max(0.0, end - row.started_at)
