"""The path prefix under which a reverse proxy serves the server (``--root-path``).

A proxy that serves the server at ``https://host/mltracker/`` strips ``/mltracker`` from
each request before passing it on; the server is told the prefix (``--root-path
/mltracker``), and uvicorn puts it in each request's ASGI scope as ``root_path``, prefixed
to ``path`` as the ASGI specification has it. The routes match the path without the prefix
(Starlette's routing strips it); every URL that the server gives a browser (the pages' links,
scripts and API calls, redirects, the login cookie's path) starts with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mltracker.errors import InvalidArgumentError

__all__ = ["check_root_path", "root_of", "route_path"]

#: A segment of a root path: the characters a URL path carries as they are.
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def check_root_path(text: str) -> str:
    """The root path ``text`` as the server uses it: ``""`` (none, for ``""`` and ``/``) or
    ``/a`` or ``/a/b``, without the final slash.

    Raises:
        InvalidArgumentError: ``text`` does not start with ``/``, has an empty segment
            (``//``), a ``.`` or ``..`` segment, or a character other than letters, digits
            and ``-._~``.
    """
    if not text:
        return ""
    if not text.startswith("/"):
        raise InvalidArgumentError(
            f"the root path {text!r} must start with '/': the path prefix under which the "
            "proxy serves the server, e.g. --root-path /mltracker"
        )
    trimmed = text[:-1] if text.endswith("/") else text
    if not trimmed:
        return ""
    for segment in trimmed[1:].split("/"):
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise InvalidArgumentError(
                f"the root path {text!r} is not a plain URL path: each part between slashes "
                "must be letters, digits and '-._~' (not '.' or '..'), e.g. /mltracker or "
                "/teams/vision/tracker"
            )
    return trimmed


def root_of(scope: Mapping[str, Any]) -> str:
    """The root path of a request (``""`` when none), without the final slash."""
    return str(scope.get("root_path", "")).rstrip("/")


def route_path(scope: Mapping[str, Any]) -> str:
    """The path of a request within the server: its ``path`` without the root path (which
    uvicorn prefixes to it), as the routes match it."""
    path = str(scope["path"])
    root = root_of(scope)
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path
