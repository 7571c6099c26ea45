"""A closed pipe is a normal end: ``mltracker ... | head`` exits 0, without a traceback.

When the reader of our output goes away (``head`` has read its lines), the next write raises
``BrokenPipeError``, which click would turn into exit code 1 and rich into ``SystemExit(1)``.
:class:`CommandGroup` (the root group) ends the command quietly instead, for every command
and for ``--help``: stdout is pointed at the null device, so nothing more is written, and
the exit code is 0. The store is closed as on any other end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from mltracker.cli.context import RootGroup


@contextmanager
def closed_pipe_ends_quietly() -> Iterator[None]:
    """Turn a ``BrokenPipeError`` raised in the block into exit code 0, quietly."""
    try:
        yield
    except BrokenPipeError:
        _silence_stdout()
        raise click.exceptions.Exit(0) from None


def _silence_stdout() -> None:
    """Point stdout at the null device: what is still buffered is dropped at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (stdout replaced, e.g. in tests)
        pass


class CommandGroup(RootGroup):
    """The root group: :class:`RootGroup`, and a closed pipe is a normal end."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with closed_pipe_ends_quietly():  # --help
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with closed_pipe_ends_quietly():
            return super().invoke(ctx)
