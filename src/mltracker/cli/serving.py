"""``mltracker server`` (the tracking server) and ``mltracker sync`` (deliver spooled points)."""

from __future__ import annotations

import click

from mltracker.cli.context import CliError, State, json_option, pass_state
from mltracker.cli.output import display_uri
from mltracker.errors import MLTrackerError


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="MLTRACKER_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' on every route but the health check "
    "(default $MLTRACKER_TOKEN).",
)
@click.option("--read-only", is_flag=True, help="Refuse every write with 403.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Server processes."
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow an address other than loopback without a token.",
)
@pass_state
def server_command(
    state: State,
    host: str,
    port: int,
    token: str | None,
    read_only: bool,
    workers: int,
    insecure: bool,
) -> None:
    """Serve the store over HTTP: the REST API that training jobs log to.

    Jobs on other machines log with MLTRACKER_URI=http://HOST:PORT (and MLTRACKER_TOKEN);
    they need neither database credentials nor a database driver. The store is created or
    upgraded first, as `mltracker db upgrade` does. The API and its documentation are under
    /api (OpenAPI at /api/v1/openapi.json, docs at /api/docs); the URL itself is the
    dashboard (see `mltracker ui`). SIGTERM or Ctrl-C stops the server after the requests in
    progress are answered.
    """
    try:
        from mltracker.server.serve import ServerSettings, serve
    except ImportError as error:
        raise CliError(
            f"the server needs its extra ({error.name} is missing): pip install 'mltracker[server]'"
        ) from None
    settings = ServerSettings(
        uri=state.uri,
        host=host,
        port=port,
        token=token or None,
        read_only=read_only,
        workers=workers,
        insecure=insecure,
    )

    def announce(url: str) -> None:
        click.echo(f"MLTracker server of {display_uri(_store_uri(state))} at {url}", err=True)
        click.echo(url)

    try:
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
    """Write the metric points that ended processes left in spool files for the store.

    A process that could not reach its store (a tracking server that was down, a database
    that stayed locked) keeps its points in a spool file under ~/.cache/mltracker/spool
    ($MLTRACKER_SPOOL_DIR). The next process that logs to the store writes them; this
    command does it now. Exit code 1 when the store still cannot take them.
    """
    connection = state.connection(create=True)
    try:
        count = connection.writer.sync()
    except MLTrackerError as error:
        raise CliError(f"the spooled points stay spooled: {error}") from None
    left = connection.writer.spool_files
    state.emit(
        {"store": display_uri(connection.uri), "written": count, "spool_files_left": left},
        f"{count} spooled metric points written to {display_uri(connection.uri)}",
    )
