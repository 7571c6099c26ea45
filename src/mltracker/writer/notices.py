"""Notices to the person running the process: on stderr, whatever logging is set up."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("mltracker.writer")


def say(message: str) -> None:
    """Print ``mltracker: message`` on stderr (and log it at DEBUG: a handler that prints
    INFO records on stderr, as the CLI's does, would say it twice)."""
    try:
        print(f"mltracker: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left (a closed pipe, interpreter ending)
        pass
    logger.debug(message)


def what(points: int, operations: int) -> str:
    """``"12 metric points"``, ``"12 metric points and 3 other writes"``, ``"3 writes"``."""
    if not operations:
        return f"{points} metric points"
    writes = "write" if operations == 1 else "writes"
    if not points:
        return f"{operations} {writes}"
    return f"{points} metric points and {operations} other {writes}"
