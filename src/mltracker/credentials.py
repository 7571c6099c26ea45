"""What a tracking server's token may be made of, for the client and the server alike.

A token travels in the header ``Authorization: Bearer <token>``. HTTP header values are bytes
that each side decodes its own way (the client's ``http.client`` writes text as Latin-1;
a server may read UTF-8), so a token of other characters could work from one client and fail
from another. A token is therefore printable ASCII without spaces (``!`` to ``~``): the
client refuses any other when it is given (``connect(url, token=...)``,
``$MLTRACKER_TOKEN``), and the server refuses it at start and in a request.
``mltracker token new`` makes tokens of letters, digits, ``-`` and ``_``.
"""

from __future__ import annotations

import re

from mltracker.errors import InvalidArgumentError

__all__ = ["is_token_text", "check_token_text"]

_FIRST, _LAST = 0x21, 0x7E  # "!" and "~"
_TOKEN_TEXT = re.compile(rb"[!-~]+")


def is_token_text(token: str | bytes) -> bool:
    """Whether ``token`` is non-empty, printable ASCII without spaces."""
    codes = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else token
    return _TOKEN_TEXT.fullmatch(codes) is not None


def check_token_text(token: str, where: str) -> None:
    """Refuse a token that is not printable ASCII without spaces; ``where`` names it (``"the
    token of --token"``, ``"$MLTRACKER_TOKEN"``, ...).

    Raises:
        InvalidArgumentError: The token is empty or has other characters (which are not
            shown: the token is a secret).
    """
    if is_token_text(token):
        return
    if not token:
        raise InvalidArgumentError(f"{where} is empty")
    bad = next(
        (index, char) for index, char in enumerate(token) if not _FIRST <= ord(char) <= _LAST
    )
    kind = (
        "a space"
        if bad[1].isspace()
        else "a non-ASCII character"
        if ord(bad[1]) > 127
        else ("a control character")
    )
    raise InvalidArgumentError(
        f"{where} has {kind} at position {bad[0] + 1}: a token is printable ASCII "
        "without spaces, so that every HTTP client sends it alike "
        "(`mltracker token new` prints one)"
    )
