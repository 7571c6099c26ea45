"""Who may use a tracking server: its tokens, their scopes, and the file that lists them.

(Outside ``mltracker.server``, so that ``mltracker token new`` needs no server extra.)

A token is a secret with a name and a scope: ``write`` (everything) or ``read`` (``GET`` and
``HEAD`` only; any other request gets 403). The server keeps no secret: for each token it
keeps its name, its scope and a hash, read from a tokens file (``mltracker server --tokens
FILE``) or made at start from the one token of ``--token`` (named ``default``, scope
``write``).

The tokens file is JSON Lines, one token a line; blank lines and lines starting with ``#``
are skipped::

    {"name": "alice", "scope": "write", "hash": "sha256:<salt>:<digest>", "created": "..."}

``mltracker token new --file FILE`` appends such a line (and makes the file, readable by its
owner only). Deleting a token's line revokes it. The server looks at the file's modification
time, size and inode at each request that needs a token (one ``stat``), and reads it again
when they change: a token removed is refused from the next request on, and so are the login
cookies made with it. A line that cannot be read is skipped (its token is refused) and logged;
a file that is gone refuses every token. At start, either is an error instead.

The hash. A token's *key* is ``HMAC-SHA256(secret, "mltracker dashboard session")``; its
hash is ``SHA-256(salt + key)``, with 16 random bytes of salt per token, written
``sha256:<salt hex>:<digest hex>``. A bearer token is checked by computing its key, then the
salted hash for each token of the file, each compared in constant time. The dashboard's login
cookie holds the key (never the secret), checked the same way: a cookie stands for one token,
stops working when its token leaves the file, and the file holds neither what a bearer header
nor what a cookie needs.

Why a fast hash: a secret of ``mltracker token new`` holds 256 random bits, so no search can
find it from its hash, however fast the hash is; slow hashes (scrypt, bcrypt) protect secrets
that people choose, and would cost tens of milliseconds on every request. The salt keeps one
secret in two files from having one hash, and tables computed in advance useless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from mltracker.credentials import check_token_text, is_token_text
from mltracker.errors import AlreadyExistsError, InvalidArgumentError

__all__ = [
    "DEFAULT_NAME",
    "MIN_LENGTH",
    "SCOPES",
    "WRITER_KEY",
    "OneToken",
    "Scope",
    "Token",
    "TokenSet",
    "TokenSource",
    "TokensFile",
    "append_token",
    "check_secret",
    "new_secret",
    "read_tokens",
    "session_key",
]

#: Under the server's logger: ``mltracker server`` prints it on stderr.
logger = logging.getLogger("mltracker.server.tokens")

Scope = Literal["read", "write"]
SCOPES: tuple[Scope, ...] = ("read", "write")
#: The fewest characters a token may have.
MIN_LENGTH = 16
#: The name of the one token of ``--token``.
DEFAULT_NAME = "default"
#: Where the token guard leaves the name of the request's token, in the ASGI scope.
WRITER_KEY = "mltracker.token_name"
_LONGEST_NAME = 100
_SESSION = b"mltracker dashboard session"
_ALGORITHM = "sha256"
_HINT = "`mltracker token new` prints a random one"


def new_secret() -> str:
    """A random token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def check_secret(secret: str, where: str) -> None:
    """Refuse a token the server would not take; ``where`` names where it came from.

    Raises:
        InvalidArgumentError: Shorter than :data:`MIN_LENGTH`, or not printable ASCII.
    """
    check_token_text(secret, where)
    if len(secret) < MIN_LENGTH:
        raise InvalidArgumentError(
            f"{where} has {len(secret)} characters; a token needs at least "
            f"{MIN_LENGTH}, so that it cannot be guessed: {_HINT}"
        )


def session_key(secret: str | bytes) -> bytes:
    """The key of a token: what its hash is made from, and what a login cookie holds."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.digest(raw, _SESSION, "sha256")


@dataclass(frozen=True, slots=True)
class Token:
    """A token as the server knows it: no secret, only a salted hash of its key."""

    name: str
    scope: Scope
    salt: bytes
    digest: bytes
    created: str | None = None

    @classmethod
    def of_secret(cls, name: str, scope: Scope, secret: str, created: str | None = None) -> Token:
        """A token of a new salt for ``secret``.

        Raises:
            InvalidArgumentError: A name that a tokens file cannot hold (empty, longer than
                100 characters, not printable), or a scope other than read and write.
        """
        problem = _name_problem(name)
        if problem is not None:
            raise InvalidArgumentError(f"the token's name {name!r}: {problem}")
        if scope not in SCOPES:
            raise InvalidArgumentError(f'a token\'s scope is "read" or "write", not {scope!r}')
        salt = secrets.token_bytes(16)
        return cls(name, scope, salt, _digest(salt, session_key(secret)), created)

    @property
    def writes(self) -> bool:
        return self.scope == "write"

    def line(self) -> str:
        """The token's line in a tokens file."""
        entry: dict[str, str] = {
            "name": self.name,
            "scope": self.scope,
            "hash": f"{_ALGORITHM}:{self.salt.hex()}:{self.digest.hex()}",
        }
        if self.created is not None:
            entry["created"] = self.created
        return json.dumps(entry, ensure_ascii=False)


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip() or len(name) > _LONGEST_NAME:
        return f"a name is a non-empty string of at most {_LONGEST_NAME} characters"
    if not name.isprintable():
        return "a name is printable (no control characters, no line breaks)"
    return None


def _digest(salt: bytes, key: bytes) -> bytes:
    return hashlib.sha256(salt + key).digest()


class TokenSet:
    """The tokens a server takes at one moment."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self.tokens: tuple[Token, ...] = tuple(tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def by_key(self, key: bytes) -> Token | None:
        """The token whose key is ``key`` (a login cookie's), or ``None``. Every token is
        compared, in constant time each."""
        found = None
        for token in self.tokens:
            if hmac.compare_digest(_digest(token.salt, key), token.digest):
                found = token
        return found

    def by_secret(self, secret: bytes) -> Token | None:
        """The token whose secret is ``secret`` (a bearer token's bytes), or ``None``."""
        if not is_token_text(secret):
            return None
        return self.by_key(session_key(secret))


class TokenSource(Protocol):
    """Where a server finds its tokens: :meth:`current` is asked at each request that needs
    one, so it must be cheap."""

    def current(self) -> TokenSet: ...


class OneToken:
    """The one token of ``--token``: named ``default``, scope ``write``."""

    def __init__(self, secret: str) -> None:
        check_secret(secret, "the token of --token")
        self._tokens = TokenSet([Token.of_secret(DEFAULT_NAME, "write", secret)])

    def current(self) -> TokenSet:
        return self._tokens


# The tokens file ---------------------------------------------------------------------------------


def _parse_line(text: str) -> Token:
    """The token of one line of a tokens file.

    Raises:
        ValueError: The line is not a token, saying why.
    """
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    name, scope, hashed = entry.get("name"), entry.get("scope"), entry.get("hash")
    problem = _name_problem(name)
    if problem is not None:
        raise ValueError(f'"name": {problem}')
    assert isinstance(name, str)
    if scope not in SCOPES:
        raise ValueError(f'"scope" must be "read" or "write", not {scope!r}')
    parts = hashed.split(":") if isinstance(hashed, str) else []
    if len(parts) != 3 or parts[0] != _ALGORITHM:
        raise ValueError(f'"hash" must be "{_ALGORITHM}:<salt hex>:<digest hex>"')
    try:
        salt, digest = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        raise ValueError('"hash" must be hexadecimal after "sha256:"') from None
    if len(salt) < 8 or len(digest) != 32:
        raise ValueError('"hash" must have a salt of 8 bytes or more and a digest of 32')
    created = entry.get("created")
    return Token(name, scope, salt, digest, created if isinstance(created, str) else None)


def parse_tokens(text: str) -> tuple[list[Token], list[str]]:
    """The tokens of a tokens file's text, and a problem for each line that is none (a
    token of a name seen before is one)."""
    tokens: list[Token] = []
    problems: list[str] = []
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            token = _parse_line(line)
        except ValueError as error:
            problems.append(f"line {number}: {error}")
            continue
        if token.name in names:
            problems.append(f"line {number}: a token named {token.name!r} comes earlier")
            continue
        names.add(token.name)
        tokens.append(token)
    return tokens, problems


def read_tokens(path: str | os.PathLike[str]) -> list[Token]:
    """The tokens of the file ``path``, every line valid.

    Raises:
        InvalidArgumentError: The file cannot be read, a line is not a token, or it holds
            none.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidArgumentError(f"cannot read the tokens file {path}: {error}") from None
    tokens, problems = parse_tokens(text)
    if problems:
        raise InvalidArgumentError(f"the tokens file {path}: " + "; ".join(problems))
    if not tokens:
        raise InvalidArgumentError(
            f"the tokens file {path} holds no token, so every request would be refused: "
            f"add one with `mltracker token new --file {path}`"
        )
    return tokens


class TokensFile:
    """The tokens of a file, read again when it changes (see the module's docstring).

    Raises (when made):
        InvalidArgumentError: See :func:`read_tokens`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        stamp = self._stamp()
        self._state = (stamp, TokenSet(read_tokens(self.path)))

    def _stamp(self) -> tuple[int, ...] | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_ctime_ns, found.st_size, found.st_ino)

    def current(self) -> TokenSet:
        stamp = self._stamp()
        known, tokens = self._state
        if stamp == known:
            return tokens
        tokens = self._reload(stamp)
        self._state = (stamp, tokens)  # one assignment: a reader sees the old or the new
        return tokens

    def _reload(self, stamp: tuple[int, ...] | None) -> TokenSet:
        if stamp is None:
            logger.warning("the tokens file %s is gone: every token is refused", self.path)
            return TokenSet(())
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            logger.warning(
                "cannot read the tokens file %s (%s): every token is refused", self.path, error
            )
            return TokenSet(())
        tokens, problems = parse_tokens(text)
        for problem in problems:
            logger.warning("the tokens file %s, %s: that token is refused", self.path, problem)
        logger.info("the tokens file %s changed: it holds %d valid tokens", self.path, len(tokens))
        return TokenSet(tokens)


def append_token(path: str | os.PathLike[str], token: Token) -> None:
    """Add ``token``'s line to the tokens file ``path``, made readable and writable by its
    owner only if it does not exist.

    Raises:
        AlreadyExistsError: The file has a token of that name.
        InvalidArgumentError: The file cannot be read or written.
    """
    target = Path(path)
    try:
        existing = target.read_text(encoding="utf-8") if target.exists() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidArgumentError(f"cannot read the tokens file {path}: {error}") from None
    tokens, _problems = parse_tokens(existing)
    if any(known.name == token.name for known in tokens):
        raise AlreadyExistsError(
            f"the tokens file {path} has a token named {token.name!r} already: choose another "
            "name (--name), or delete its line first to replace it"
        )
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as file:
            file.write(prefix + token.line() + "\n")
    except OSError as error:
        raise InvalidArgumentError(f"cannot write the tokens file {path}: {error}") from None


def now_text() -> str:
    """The time of now, as a tokens file writes it (UTC, ISO 8601, to the second)."""
    return datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
