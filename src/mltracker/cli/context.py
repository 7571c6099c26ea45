"""What every command shares: the store handle, the output mode, errors and look-ups.

The root group (:class:`RootGroup`) is the one place where an :class:`MLTrackerError`
becomes a one-line ``Error: ...`` on stderr and exit code 1. It also gives every command a
retry budget fit for a person waiting (:data:`CLI_RETRY_SECONDS`) and prints the library's
notices, such as "retrying", on stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console, RenderableType

import mltracker
from mltracker import deadlines
from mltracker.cli.output import JSON_HELP, make_console
from mltracker.codec import dumps
from mltracker.connect import resolve_uri, sqlite_path
from mltracker.errors import MLTrackerError, NotFoundError
from mltracker.ports.experiments import Experiment
from mltracker.ports.models import Model

P = ParamSpec("P")
R = TypeVar("R")

#: How long a command retries a locked or unreachable store before it gives up, unless
#: ``$MLTRACKER_RETRY_SECONDS`` says otherwise (the library's own default is 120 s).
CLI_RETRY_SECONDS = 15.0


class CliError(click.ClickException):
    """An error the CLI reports as one line, ``Error: <message>``, with exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()) or "failed")


class State:
    """The root options and the store handle, opened on first use and closed at the end."""

    def __init__(self, uri: str | None, json: bool) -> None:
        self.uri = uri
        self.json = json
        self.console: Console = make_console()
        self.err_console: Console = make_console(stderr=True)
        self._connection: mltracker.Connection | None = None

    def connection(self, *, create: bool = False) -> mltracker.Connection:
        """The handle on the store; unless ``create``, a SQLite file must exist already."""
        if self._connection is None:
            if not create:
                require_existing_store(self.uri)
            self._connection = mltracker.connect(self.uri)
        return self._connection

    def close(self, *, quiet: bool = False) -> None:
        """Flush and close the handle, if one was opened."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()
        except MLTrackerError:
            if not quiet:
                raise

    def emit(self, document: Any, *renderables: RenderableType | str) -> None:
        """Print ``document`` as JSON with ``--json``, else the renderables."""
        if self.json:
            click.echo(dumps(document))
            return
        for renderable in renderables:
            self.console.print(renderable)

    def note(self, message: str) -> None:
        """A message for people (on stderr, never with ``--json``)."""
        if not self.json:
            self.err_console.print(message)


def require_existing_store(uri: str | None) -> None:
    """Refuse a SQLite path where no store is (a reading command creates nothing).

    Raises:
        CliError: There is no file at the path.
    """
    path = sqlite_path(resolve_uri(uri))
    if path is not None:
        if not Path(path).exists():
            raise CliError(
                f"no store at {path}: give --uri or set MLTRACKER_URI "
                "(`mltracker demo` creates one)"
            )


class RootGroup(click.Group):
    """A group that closes the store handle and turns MLTracker errors into ``Error:`` lines."""

    def invoke(self, ctx: click.Context) -> Any:
        with _notices_on_stderr(), deadlines.default_retry_seconds(CLI_RETRY_SECONDS):
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                result = super().invoke(ctx)
            except BaseException:
                state = ctx.find_object(State)
                if state is not None:
                    state.close(quiet=True)
                raise
            state = ctx.find_object(State)
            if state is not None:
                state.close()
            return result
        except MLTrackerError as error:
            raise CliError(str(error)) from None


class _StderrNotices(logging.Handler):
    def filter(self, record: logging.LogRecord) -> bool:
        # The metric writer prints its notices on stderr itself, then logs them at INFO:
        # printed once is enough.
        if record.name == "mltracker.writer" and record.funcName == "_say":
            return False
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(record.getMessage(), err=True)
        except Exception:  # noqa: BLE001 - a notice must never break the command
            self.handleError(record)


@contextmanager
def _notices_on_stderr() -> Iterator[None]:
    """Print the library's INFO and WARNING records (e.g. "retrying") on stderr."""
    library = logging.getLogger("mltracker")
    handler = _StderrNotices(logging.INFO)
    level = library.level
    library.addHandler(handler)
    if library.getEffectiveLevel() > logging.INFO:
        library.setLevel(logging.INFO)
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(level)


#: Gives a command the :class:`State` as its first argument.
pass_state = click.make_pass_decorator(State)


def _set_json(ctx: click.Context, _parameter: click.Parameter, value: bool) -> None:
    if value:
        state = ctx.find_object(State)
        if state is not None:
            state.json = True


def json_option(function: Callable[P, R]) -> Callable[P, R]:
    """``--json`` on a subcommand, the same as the root group's ``--json``."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_json,
        help=JSON_HELP,
    )(function)


def find_experiment(connection: mltracker.Connection, name: str) -> Experiment:
    """The experiment called ``name``.

    Raises:
        NotFoundError: There is none.
    """
    experiment = connection.experiments.read(name)
    if experiment is None:
        raise NotFoundError(f"no experiment named {name!r}")
    return experiment


def find_model(experiment: Experiment, hash: str) -> Model:
    """The model of ``experiment`` whose hash is ``hash``, or starts with it if only one does.

    Raises:
        NotFoundError: No model matches.
        CliError: The prefix matches several models.
    """
    model = experiment.models.read(hash)
    if model is not None:
        return model
    matches = [each for each in experiment.models.list() if each.hash.startswith(hash)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CliError(
            f"{hash!r} is the start of {len(matches)} model hashes in experiment "
            f"{experiment.name!r}: give more of it"
        )
    raise NotFoundError(f"no model with hash {hash!r} in experiment {experiment.name!r}")


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` on stderr unless ``yes``; anything but yes (or no stdin) aborts.

    Raises:
        CliError: ``aborted``.
    """
    if yes:
        return
    try:
        accepted = click.confirm(question, default=False, err=True)
    except click.Abort:
        click.echo(err=True)
        accepted = False
    if not accepted:
        raise CliError("aborted")
