"""``mltracker token``: make the tokens of a tracking server."""

from __future__ import annotations

from pathlib import Path

import click

from mltracker.cli.context import State, json_option, pass_state
from mltracker.tokens import SCOPES, Token, append_token, new_secret, now_text, parse_tokens


@click.group("token")
def token() -> None:
    """Make tokens for a tracking server (mltracker server --token / --tokens)."""


@token.command("new")
@click.option(
    "--name",
    default=None,
    help="Who or what the token is for: kept with each batch of points it writes "
    "(default: token-N, the first free N of the file).",
)
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="write",
    show_default=True,
    help="read: GET requests only (the dashboard, reading scripts); write: everything.",
)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the token's name, scope and hash to this tokens file (made readable by "
    "its owner only if it does not exist), for `mltracker server --tokens FILE`.",
)
@json_option
@pass_state
def new(state: State, name: str | None, scope: str, file: Path | None) -> None:
    """Print a new random token (43 characters, 256 random bits).

    With --file, its hash goes into the tokens file: the server that reads the file takes
    the token from its next request on, and the token itself is written nowhere but on
    stdout; give it to its user (as $MLTRACKER_TOKEN). Without --file, use it as
    `mltracker server --token`. Delete the token's line from the file to revoke it.
    """
    secret = new_secret()
    if name is None:
        name = _free_name(file)
    made = Token.of_secret(name, "read" if scope == "read" else "write", secret, now_text())
    if file is not None:
        append_token(file, made)
        state.note(f"token {name!r} (scope {scope}) added to {file}; it is not kept anywhere")
    if state.json:
        shown = None if file is None else str(file)
        state.emit({"name": name, "scope": scope, "token": secret, "file": shown})
    else:
        click.echo(secret)  # alone and plain: `export MLTRACKER_TOKEN=$(mltracker token new)`


def _free_name(file: Path | None) -> str:
    """``token-N``, the first N no token of ``file`` is named after."""
    taken: set[str] = set()
    if file is not None and file.exists():
        try:
            tokens, _problems = parse_tokens(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            tokens = []  # appending will say what is wrong
        taken = {known.name for known in tokens}
    number = 1
    while f"token-{number}" in taken:
        number += 1
    return f"token-{number}"
