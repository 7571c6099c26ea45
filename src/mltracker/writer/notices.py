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
