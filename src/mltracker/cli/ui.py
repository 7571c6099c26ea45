"""``mltracker ui``: the dashboard of a store, in the browser."""

from __future__ import annotations

import webbrowser

import click

from mltracker.cli.context import CliError, State, pass_state, require_existing_store
from mltracker.cli.output import display_uri
from mltracker.cli.serving import (
    allowed_host_option,
    behind_proxy_notice,
    chosen_token,
    root_path_option,
    server_log_on_stderr,
    tokens_option,
)
from mltracker.connect import resolve_uri


@click.command("ui")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a web browser.")
@click.option(
    "--token",
    envvar="MLTRACKER_TOKEN",
    default=None,
    help="Ask for this token before showing anything (default $MLTRACKER_TOKEN).",
)
@tokens_option
@allowed_host_option
@root_path_option
@pass_state
def ui_command(
    state: State,
    port: int,
    open_browser: bool,
    token: str | None,
    tokens_file: str | None,
    allowed_hosts: tuple[str, ...],
    root_path: str,
) -> None:
    """Serve the dashboard of the store (read-only) and print its URL.

    The dashboard lists the experiments, an experiment's models with their latest metrics,
    a model's charts, modules and iterations, and models compared on the same charts; the
    pages follow runs that are logging. It listens on 127.0.0.1 and serves the store as it
    is: it creates, upgrades and writes nothing (jobs log to the store itself, or through
    `mltracker server`, which serves the same dashboard). Ctrl-C stops it.
    """
    try:
        from mltracker.server.serve import ServerSettings, serve
    except ImportError as error:
        raise CliError(
            f"the dashboard needs the server extra ({error.name} is missing): "
            "pip install 'mltracker[server]'"
        ) from None
    if open_browser and root_path.strip("/"):
        raise CliError(
            "--open opens the server's own URL, where the pages of --root-path do not load: "
            "open the reverse proxy's URL instead (its path is the root path)"
        )
    require_existing_store(state.uri)
    settings = ServerSettings(
        uri=state.uri,
        port=port,
        token=chosen_token(token, tokens_file),
        tokens_file=tokens_file,
        read_only=True,
        prepare=False,
        allowed_hosts=allowed_hosts,
        root_path=root_path,
    )

    def announce(url: str) -> None:
        click.echo(f"MLTracker dashboard of {display_uri(resolve_uri(state.uri))}", err=True)
        behind_proxy_notice(root_path)
        click.echo(url)
        if open_browser:
            webbrowser.open(url)

    try:
        with server_log_on_stderr():
            serve(settings, announce)
    except OSError as error:
        raise CliError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
