"""Reading a request body whole, in one buffer, for the routes that parse large bodies.

Starlette's ``Request.body()`` keeps each chunk until the last one came, then joins them:
twice the body at that moment, and the joined copy stays with the request until it is
answered. :func:`read_body` appends each chunk to one ``bytearray`` as it comes, which the
caller empties (``clear()``) as soon as the body is parsed, so that the body is not held
while the points made of it are written.

The body limit and the body timeout of ``mltracker.server.guards`` apply, as to any read of
the body: they wrap the request's ``receive``.

:func:`loads_object` parses a body of the client's layout (an object of known keys, compact,
in their order) one key's value at a time: parsing a whole document at once takes, besides
the objects made, a transient tree of it about as large as they are (orjson), which is then
bounded by the largest value instead of the whole body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request

__all__ = ["loads_object", "read_body"]


async def read_body(request: Request) -> bytearray:
    """The whole body of ``request``, in one buffer of its own.

    Raises:
        starlette.requests.ClientDisconnect: The client went away before the body's end.
    """
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    return body


def loads_object(body: bytearray, keys: Sequence[str]) -> Any:
    """``orjson.loads(body)``, parsed a value at a time when ``body`` is
    ``{"KEY":VALUE,...}`` of exactly ``keys`` in their order and without spaces.

    ``body`` is cut before each next ``,"KEY":``; where every cut parses as one whole JSON
    value, the body is that object (JSON's grammar leaves no other reading). Otherwise (other
    keys, another order, spaces, or a cut inside a string) the body is parsed whole.

    Raises:
        orjson.JSONDecodeError: The body is not JSON.
    """
    document = _by_key(body, keys)
    return orjson.loads(body) if document is None else document


def _by_key(body: bytearray, keys: Sequence[str]) -> dict[str, Any] | None:
    if not keys:
        return None
    opening = b'{"' + keys[0].encode() + b'":'
    if not body.startswith(opening) or not body.endswith(b"}"):
        return None
    document: dict[str, Any] = {}
    start = len(opening)
    with memoryview(body) as view:
        for key, following in zip(keys, [*keys[1:], None], strict=True):
            if following is None:
                separator, end = b"}", len(body) - 1
            else:
                separator = b',"' + following.encode() + b'":'
                end = body.find(separator, start)
            if end < 0:
                return None
            try:
                document[key] = orjson.loads(view[start:end])
            except orjson.JSONDecodeError:
                return None
            start = end + len(separator)
    return document
