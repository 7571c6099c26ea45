"""Notices to the person running the process: on stderr, whatever logging is set up."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("mltracker.writer")


def say(message: str) -> None:
    """Print ``mltracker: message`` on stderr (and log it at INFO)."""
    try:
        print(f"mltracker: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left (a closed pipe, interpreter ending)
        pass
    logger.info(message)
