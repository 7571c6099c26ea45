"""From a URI to a store: URIs normalised, and the registry of schemes that open them.

A URI is a filesystem path (a SQLite file) or a URL: ``sqlite:///file.db``,
``postgresql://user@host/db``, ``http://host:8765`` (a tracking server), or the URL of
another scheme registered with :func:`register_scheme`. Without one, ``$MLTRACKER_URI`` is
used, else ``./mltracker.db``. This module is below the backends: they use its URI helpers,
and it imports each backend only when a store of that backend is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from mltracker.errors import InvalidArgumentError, InvalidTypeError
from mltracker.ports.store import Store

DEFAULT_PATH = "mltracker.db"
ENVIRONMENT_VARIABLE = "MLTRACKER_URI"
TOKEN_VARIABLE = "MLTRACKER_TOKEN"

#: ``host:port`` with an optional ``/path``: a server's address without its ``http://``. The
#: host is a name of two characters or more (a single letter followed by ``:`` is a Windows
#: drive), an IPv4 address or a bracketed IPv6 address; the port is digits only.
_HOST_PORT = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9](?:\.[A-Za-z0-9-]+)*)"
    r":[0-9]{1,5}(?:/.*)?",
    re.DOTALL,
)

#: Opens the store of a normalised URI; keyword options are those given to :func:`connect`
#: besides the URI (``token``), only those not ``None``.
StoreFactory = Callable[..., Store]


def _open_sql_store(uri: str) -> Store:
    from mltracker.backends.sql.store import SqlStore

    return SqlStore(uri)


def _open_http_store(uri: str, token: str | None = None) -> Store:
    from mltracker.backends.http.store import HttpStore

    return HttpStore(uri, token)


#: URL scheme (before any ``+driver``) -> a function that opens a store for a normalised URI.
SCHEMES: dict[str, StoreFactory] = {
    "sqlite": _open_sql_store,
    "postgresql": _open_sql_store,
    "postgres": _open_sql_store,
    "http": _open_http_store,
    "https": _open_http_store,
}
_BUILT_IN = frozenset(SCHEMES)
_DIRECT = frozenset({"sqlite", "postgresql", "postgres"})


def register_scheme(scheme: str, factory: StoreFactory) -> None:
    """Make :func:`connect` (and every entry point that takes a URI) open ``scheme://...``
    URIs with ``factory(uri, **options)``.

    The URI reaches the factory as given, with its scheme in lower case. Registering a
    scheme again replaces its factory; the sessions already open keep their store.

    Raises:
        InvalidArgumentError: The scheme is not a URL scheme, or is ``sqlite`` or
            ``postgresql``, whose stores MLTracker opens itself.
    """
    name = scheme.lower() if isinstance(scheme, str) else scheme
    if not isinstance(name, str) or not name.isascii() or not name.isalnum():
        raise InvalidArgumentError(f"not a URL scheme: {scheme!r} (letters and digits only)")
    if name in _BUILT_IN:
        raise InvalidArgumentError(f"the scheme {name!r} is built in and cannot be replaced")
    if not callable(factory):
        raise InvalidTypeError(f"factory must be callable, not {type(factory).__name__}")
    SCHEMES[name] = factory


def resolve_uri(uri: str | os.PathLike[str] | None = None) -> str:
    """Normalise a path or URL into the URI that identifies a store in this process.

    A filesystem path is a path: every character of it is part of the file's name, ``?``
    and ``%`` included. A ``sqlite:///`` URL is a URL: ``%xx`` is decoded (``%3F`` is a
    ``?``, ``%25`` a ``%``) and a ``?`` would start query parameters, which MLTracker does not
    take. ``sqlite+pysqlite://`` is the same as ``sqlite://``; ``postgres://`` and
    ``postgresql+psycopg://`` are the same as ``postgresql://``; other drivers are refused,
    since MLTracker sets up its connections itself.

    A SQLite store is normalised to ``sqlite:///`` and its absolute path, in which ``%`` and
    ``?`` are percent-encoded (:func:`sqlite_path` gives the path back), so that the
    normalised URI opens the same file again.

    A string without a scheme that has the shape of ``host:port`` (``localhost:8765``,
    ``127.0.0.1:8765/path``, ``[::1]:8765``) is refused rather than taken for a file of that
    name: it is the address of a server without its ``http://``. A file of such a name is
    reached as ``./localhost:8765`` (or by its absolute path).

    Raises:
        InvalidTypeError: ``uri`` is neither a string nor a path.
        InvalidArgumentError: ``uri`` is empty, holds a NUL character, has an unknown scheme
            or driver, is ``host:port`` without a scheme, or is a ``sqlite`` URL with query
            parameters or of an in-memory store.
    """
    source = ""
    if uri is None:
        configured = os.environ.get(ENVIRONMENT_VARIABLE)
        source = f"${ENVIRONMENT_VARIABLE}=" if configured else ""
        uri = configured or DEFAULT_PATH
    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if not isinstance(uri, str):
        raise InvalidTypeError(f"uri must be a str or a path, not {type(uri).__name__}")
    if not uri:
        raise InvalidArgumentError("uri must not be empty")
    if "\x00" in uri:
        raise InvalidArgumentError(f"uri must not contain a NUL character: {uri!r}")
    scheme, separator, rest = uri.partition("://")
    if not separator:
        if _HOST_PORT.fullmatch(uri):
            raise InvalidArgumentError(
                f"{source}{uri!r} is a server's address without a scheme: did you mean "
                f"http://{uri}? (for a file of that name, write ./{uri})"
            )
        return _sqlite_uri(uri)
    scheme = scheme.lower()
    base, _, driver = scheme.partition("+")
    if base == "sqlite":
        if driver not in ("", "pysqlite"):
            raise InvalidArgumentError(
                f"unsupported SQLite driver {driver!r} in {uri!r}: use sqlite:///path"
            )
        return _sqlite_uri(_path_of_sqlite_url(uri, rest))
    if base in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise InvalidArgumentError(
                f"unsupported PostgreSQL driver {driver!r} in {uri!r}: MLTracker uses psycopg 3,"
                " write postgresql://..."
            )
        return f"postgresql://{rest}"
    if base in ("http", "https"):
        return _server_uri(scheme, rest, uri)
    if base not in SCHEMES:
        known = ", ".join(sorted(SCHEMES))
        raise InvalidArgumentError(f"unknown URI scheme {scheme!r} in {uri!r} (known: {known})")
    return f"{scheme}://{rest}"


def _server_uri(scheme: str, rest: str, uri: str) -> str:
    """A tracking server's URL, normalised: lower-case host, no trailing ``/``."""
    host, slash, path = rest.partition("/")
    if not host or "?" in rest or "#" in rest or "@" in host:
        raise InvalidArgumentError(
            f"{uri!r}: a tracking server URL is http(s)://host[:port][/path], without query, "
            "fragment or credentials (give a token with token= or $MLTRACKER_TOKEN)"
        )
    return f"{scheme}://{host.lower()}{slash}{path}".rstrip("/")


def open_store(uri: str | os.PathLike[str] | None = None, *, token: str | None = None) -> Store:
    """A new store of ``uri`` of its own, outside the sessions of :func:`connect` (a server
    writes through one such store, without a metric writer). The caller closes it.

    Raises:
        InvalidArgumentError: As :func:`connect`.
    """
    resolved = resolve_uri(uri)
    options = check_options(resolved, token)
    return SCHEMES[resolved.partition("://")[0].split("+")[0]](resolved, **options)


_SQLITE_PREFIX = "sqlite:///"


def sqlite_path(uri: str) -> str | None:
    """The file of a normalised SQLite URI (see :func:`resolve_uri`); ``None`` for another URI."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    return unquote(uri.removeprefix(_SQLITE_PREFIX), errors="strict")


def _path_of_sqlite_url(uri: str, rest: str) -> str:
    """The decoded file path of a ``sqlite://`` URL (``rest`` is what follows ``://``)."""
    path = rest[1:] if rest.startswith("/") else rest
    path, question_mark, query = path.partition("?")
    if question_mark:
        raise InvalidArgumentError(
            f"{uri!r}: MLTracker takes no parameters in a sqlite URL (here {query!r}); "
            "write %3F for a '?' that is part of the file name, or give the path itself"
        )
    try:
        path = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"{uri!r}: a %xx sequence is not UTF-8") from None
    if path in ("", ":memory:"):
        raise InvalidArgumentError("an in-memory SQLite store cannot be shared: give a file")
    if "\x00" in path:
        raise InvalidArgumentError(f"{uri!r}: the path must not contain a NUL character")
    return path


def _sqlite_uri(path: str) -> str:
    try:
        absolute = str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError, ValueError) as error:
        raise InvalidArgumentError(f"cannot use the path {path!r}: {error}") from None
    return _SQLITE_PREFIX + absolute.replace("%", "%25").replace("?", "%3F")


def check_options(uri: str, token: str | None) -> dict[str, str]:
    """The options of a store factory, from those given to ``connect`` for ``uri``.

    Raises:
        InvalidTypeError: A token that is not a string.
        InvalidArgumentError: A token for a store that is opened directly.
    """
    if token is None:
        return {}
    if not isinstance(token, str):
        raise InvalidTypeError(f"token must be a str, not {type(token).__name__}")
    if uri.partition("://")[0] in _DIRECT:
        raise InvalidArgumentError(f"a token is for a tracking server; {uri!r} is opened directly")
    return {"token": token}


def check_environment_token(uri: str) -> None:
    """Refuse ``$MLTRACKER_TOKEN`` when ``$MLTRACKER_URI`` names a store that is opened
    directly: both come from the environment, which then sets up the login of a tracking
    server but a store without one, so the token would be ignored and the points would go
    to a file or database the process was perhaps not meant to write. ``uri`` is the
    normalised URI that was resolved from the environment (``connect()`` without a URI).

    A token in the environment is not refused when the URI is given in the call (the call
    says which store; the environment may be set up for another program), nor when the URI
    is the default ``./mltracker.db`` (no variable names a store), nor for a server, whose
    own token comes from ``$MLTRACKER_TOKEN`` while its store comes from ``$MLTRACKER_URI``.

    Raises:
        InvalidArgumentError: Both variables are set and ``uri`` is not a server's.
    """
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    if not configured or not os.environ.get(TOKEN_VARIABLE):
        return
    if uri.partition("://")[0] in _DIRECT:
        raise InvalidArgumentError(
            f"${TOKEN_VARIABLE} is set, but ${ENVIRONMENT_VARIABLE}={configured!r} is not a "
            "tracking server's URL: the token is for a tracking server (http://host:port). "
            f"Set ${ENVIRONMENT_VARIABLE} to the server's URL, or unset ${TOKEN_VARIABLE} to "
            "open the store directly"
        )
