"""``mltracker server`` (the tracking server) and ``mltracker sync`` (deliver spooled points)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from mltracker.cli.context import (
    CliError,
    State,
    json_option,
    pass_state,
    require_existing_store,
)
from mltracker.cli.output import display_uri
from mltracker.errors import MLTrackerError

F = TypeVar("F", bound=Callable[..., object])

#: The logger of the server's errors (each 500 with its traceback).
SERVER_LOGGER = "mltracker.server"


def allowed_host_option(function: F) -> F:
    """``--allowed-host NAME`` (repeatable), of ``mltracker server`` and ``mltracker ui``."""
    return click.option(
        "--allowed-host",
        "allowed_hosts",
        multiple=True,
        metavar="NAME",
        help="Answer requests for this host name too (repeatable; '*.example.org' for a "
        "domain, '*' for any). Default: the loopback names (localhost, 127.x.x.x, [::1]) and "
        "the announced URL's; any name with a token. Other names get 400, a guard against "
        "DNS rebinding.",
    )(function)


def root_path_option(function: F) -> F:
    """``--root-path PATH``, of ``mltracker server`` and ``mltracker ui``."""
    return click.option(
        "--root-path",
        "root_path",
        metavar="PATH",
        default="",
        help="Behind a reverse proxy that serves the server under PATH (e.g. /mltracker) and "
        "strips it from each request: the dashboard's links, scripts, API calls, redirects "
        "and login cookie start with PATH. Jobs may still log to the server's own URL.",
    )(function)


def behind_proxy_notice(root_path: str) -> None:
    """Say on stderr where the dashboard is, with a root path (checked by then)."""
    root = root_path.rstrip("/")
    if root:
        click.echo(
            f"The dashboard is for browsers through the reverse proxy, at its path {root}/ "
            "(the proxy strips it); the API answers at this URL too.",
            err=True,
        )


def tokens_option(function: F) -> F:
    """``--tokens FILE``, of ``mltracker server`` and ``mltracker ui``."""
    return click.option(
        "--tokens",
        "tokens_file",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        default=None,
        help="Take the tokens of this file (JSON Lines of name, scope read|write and hash; "
        "`mltracker token new --file FILE` adds one), read again whenever it changes: "
        "delete a line to revoke its token. Instead of --token.",
    )(function)


def chosen_token(token: str | None, tokens_file: str | None) -> str | None:
    """The token of ``--token`` (or ``$MLTRACKER_TOKEN``), unless it is empty; refused with
    ``--tokens``, saying where it came from."""
    token = token or None
    if token is not None and tokens_file is not None:
        source = click.get_current_context().get_parameter_source("token")
        from_environment = source is click.core.ParameterSource.ENVIRONMENT
        given = "$MLTRACKER_TOKEN" if from_environment else "--token"
        raise CliError(
            f"give either --tokens FILE or one token ({given}), not both: put the one token "
            f"in the file (`mltracker token new --file {tokens_file}`)"
            + (", or unset MLTRACKER_TOKEN" if from_environment else "")
        )
    return token


@contextmanager
def server_log_on_stderr() -> Iterator[None]:
    """Print the server's log on stderr with tracebacks, while the server runs.

    The CLI prints the library's notices as one line each; a 500 of the server needs its
    traceback, so the server's logger gets a handler of its own (and does not pass its
    records on to the one-line handler as well).
    """
    server = logging.getLogger(SERVER_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    propagate, level = server.propagate, server.level
    server.addHandler(handler)
    server.propagate = False
    if server.getEffectiveLevel() > logging.INFO:
        server.setLevel(logging.INFO)
    try:
        yield
    finally:
        server.removeHandler(handler)
        server.propagate, server.level = propagate, level


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="MLTRACKER_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' on every route but the health check "
    "(default $MLTRACKER_TOKEN); at least 16 characters (`mltracker token new` prints one).",
)
@tokens_option
@click.option(
    "--read-only",
    is_flag=True,
    help="Refuse every write with 403, and serve the store as it is: it must exist, and is "
    "neither created nor upgraded.",
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Server processes."
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow an address other than loopback without a token.",
)
@allowed_host_option
@click.option(
    "--ssl-certfile",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="Speak HTTPS with the certificate of this PEM file (followed by its chain, if any); "
    "with --ssl-keyfile. Clients of a certificate their system does not trust set "
    "MLTRACKER_CA_BUNDLE.",
)
@click.option(
    "--ssl-keyfile",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="The certificate's private key (PEM, unencrypted); with --ssl-certfile.",
)
@click.option(
    "--max-body-mb",
    default=32,
    show_default=True,
    type=click.IntRange(1),
    metavar="MIB",
    help="Refuse a request body larger than this many MiB with 413 (clients cut their "
    "batches at 16 MiB, and split a batch refused as too large).",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    metavar="SECONDS",
    help="Answer 408 and close the connection when a request's line and headers take longer.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    metavar="SECONDS",
    help="Answer 408 and close the connection when a request body stalls this long between "
    "two of its chunks, or comes slower than 16 KiB/s (it may take this long, and a second "
    "more per 16 KiB). Clients send a request answered 408 again.",
)
@click.option(
    "--access-log",
    is_flag=True,
    help="Print a line per request on stderr (time, client, request line, status).",
)
@root_path_option
@pass_state
def server_command(
    state: State,
    host: str,
    port: int,
    token: str | None,
    tokens_file: str | None,
    read_only: bool,
    workers: int,
    insecure: bool,
    allowed_hosts: tuple[str, ...],
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    max_body_mb: int,
    header_timeout: float,
    body_timeout: float,
    access_log: bool,
    root_path: str,
) -> None:
    """Serve the store over HTTP: the REST API that training jobs log to.

    Jobs on other machines log with MLTRACKER_URI=http://HOST:PORT (and MLTRACKER_TOKEN);
    with --ssl-certfile and --ssl-keyfile it serves HTTPS (https://HOST:PORT) itself;
    they need neither database credentials nor a database driver. The store (a SQLite path
    or postgresql://..., not another server's URL) is created or upgraded first, as
    `mltracker db upgrade` does; with --read-only it is served as it is. The API and its
    documentation are under /api (OpenAPI at /api/v1/openapi.json, docs at /api/docs); the
    URL itself is the dashboard (see `mltracker ui`); /metrics is what it did, for
    Prometheus (with a token of either scope). SIGTERM or Ctrl-C stops the server after the
    requests in progress are answered.
    """
    try:
        from mltracker.server.serve import ServerSettings, listening_on, serve
    except ImportError as error:
        raise CliError(
            f"the server needs its extra ({error.name} is missing): pip install 'mltracker[server]'"
        ) from None
    if (ssl_certfile is None) != (ssl_keyfile is None):
        given, missing = ("certfile", "keyfile") if ssl_keyfile is None else ("keyfile", "certfile")
        raise click.UsageError(
            f"--ssl-{given} needs --ssl-{missing}: give both (the server's certificate and "
            "its private key) or neither"
        )
    if read_only:
        require_existing_store(state.uri)
    settings = ServerSettings(
        uri=state.uri,
        host=host,
        port=port,
        token=chosen_token(token, tokens_file),
        tokens_file=tokens_file,
        read_only=read_only,
        workers=workers,
        insecure=insecure,
        allowed_hosts=allowed_hosts,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        max_body_bytes=max_body_mb * 1024 * 1024,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        access_log=access_log,
        root_path=root_path,
    )

    def announce(url: str) -> None:
        where = listening_on(host)
        listening = "" if where == host else f" (listening on {where})"
        store = display_uri(_store_uri(state))
        click.echo(f"MLTracker server of {store} at {url}{listening}", err=True)
        behind_proxy_notice(root_path)
        click.echo(url)

    try:
        with server_log_on_stderr():
            serve(settings, announce)
    except OSError as error:
        raise CliError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _store_uri(state: State) -> str:
    from mltracker.connect import resolve_uri

    return resolve_uri(state.uri)


@click.command("sync")
@json_option
@pass_state
def sync_command(state: State) -> None:
    """Write the metric points and other writes that ended processes left in spool files.

    A process that could not reach its store (a tracking server that was down, a database
    that stayed locked) keeps its points, steps, modules and iterations in a spool file under
    ~/.cache/mltracker/spool ($MLTRACKER_SPOOL_DIR). The next process that writes to the
    store writes them; this command does it now. Exit code 1 when the store still cannot
    take them.
    """
    connection = state.connection(create=True)
    try:
        points, operations = connection.writer.sync_counts()
    except MLTrackerError as error:
        raise CliError(f"the spooled points stay spooled: {error}") from None
    left = connection.writer.spool_files
    others = f" and {operations} other writes" if operations else ""
    state.emit(
        {
            "store": display_uri(connection.uri),
            "written": points,
            "written_operations": operations,
            "spool_files_left": left,
        },
        f"{points} spooled metric points{others} written to {display_uri(connection.uri)}",
    )
