"""From a URI to a store: the scheme registry, the default location, one session per URI.

A URI is a filesystem path (a SQLite file; parent folders are created when the store is
first written) or a URL: ``sqlite:///file.db``, ``postgresql://user@host/db``, or the URL of
another scheme registered with :func:`register_scheme`. Without one, ``$MLTRACKER_URI`` is
used, else ``./mltracker.db``. Every call with the same URI in a process shares one session
(one connection pool and one metric writer), so opening is cheap enough to do in a loop.
Opening writes nothing: a store is created or upgraded when it is first written to.

A store built by hand (``connect(store=...)``, as httpx takes ``transport=``) gets a session
of its own, shared by the handles given that same object.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote

from mltracker import deadlines
from mltracker.errors import InvalidArgumentError, InvalidTypeError, MLTrackerError, NotFoundError
from mltracker.ports.store import Store
from mltracker.session import Session
from mltracker.views import ExperimentsView
from mltracker.writer import MetricWriter

logger = logging.getLogger(__name__)

DEFAULT_PATH = "mltracker.db"
ENVIRONMENT_VARIABLE = "MLTRACKER_URI"

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

    Raises:
        InvalidTypeError: ``uri`` is neither a string nor a path.
        InvalidArgumentError: ``uri`` is empty, holds a NUL character, has an unknown scheme
            or driver, or is a ``sqlite`` URL with query parameters or of an in-memory store.
    """
    if uri is None:
        uri = os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_PATH
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
    options = _check_options(resolved, token)
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


# Sessions by key: a normalised URI (with the options it was opened with), or a store object.
_sessions: dict[Hashable, Session] = {}
_keys: dict[int, Hashable] = {}  # id(session) -> its key
_users: dict[Hashable, int] = {}
_pinned: set[Hashable] = set()
_sessions_lock = threading.Lock()


def _check_options(uri: str, token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    if not isinstance(token, str):
        raise InvalidTypeError(f"token must be a str, not {type(token).__name__}")
    if uri.partition("://")[0] in _DIRECT:
        raise InvalidArgumentError(f"a token is for a tracking server; {uri!r} is opened directly")
    return {"token": token}


def open_session(
    uri: str | os.PathLike[str] | None = None,
    *,
    pin: bool = False,
    token: str | None = None,
    store: Store | None = None,
) -> Session:
    """The session of a URI (or of a store built by hand) in this process, opened once
    (opening reads, never writes).

    A pinned session stays open until the process exits, whatever handles are closed.
    """
    key: Hashable
    if store is not None:
        if uri is not None or token is not None:
            raise InvalidArgumentError("give either a store or a uri (and token), not both")
        if not isinstance(store, Store):
            raise InvalidTypeError(f"store must be a Store, not {type(store).__name__}")
        key, options = store, {}
    else:
        resolved = resolve_uri(uri)
        options = _check_options(resolved, token)
        key = resolved if not options else (resolved, tuple(sorted(options.items())))
    session = _sessions.get(key)
    if session is not None and (not pin or key in _pinned):
        return session
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            if store is None:
                store = SCHEMES[resolved.partition("://")[0].split("+")[0]](resolved, **options)
            session = Session(store, MetricWriter(store))
            _sessions[key] = session
            _keys[id(session)] = key
        if pin:
            _pinned.add(key)
        return session


def _release_session(session: Session) -> None:
    with _sessions_lock:
        key = _keys.get(id(session))
        _users[key] = _users.get(key, 1) - 1
        if _users[key] > 0 or key in _pinned or _sessions.get(key) is not session:
            shared = True
        else:
            shared = False
            del _users[key]
    if shared:
        # Other handles keep the session: what the store cannot take now stays queued.
        try:
            session.writer.flush(within=deadlines.close_seconds())
        except NotFoundError:
            raise
        except MLTrackerError as error:
            logger.info("points stay queued after close: %s", error)
        return
    # The session stays registered: entities of the closed handle, and later handles of the
    # same URI, use it again (its connections and writer thread come back on first use).
    session.close()


def close_all() -> None:
    """Flush and close every session of this process and forget them, so that the next
    handle of a URI opens its store anew (entities opened before reopen their own)."""
    with _sessions_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
        _keys.clear()
        _users.clear()
        _pinned.clear()
    for session in sessions:
        session.close()


def _acquire_session(
    uri: str | os.PathLike[str] | None, token: str | None, store: Store | None
) -> Session:
    session = open_session(uri, token=token, store=store)
    with _sessions_lock:
        key = _keys.get(id(session))
        _users[key] = _users.get(key, 0) + 1
    return session


class Connection:
    """A handle on a store: ``.experiments``, :meth:`flush`, :meth:`close`, ``with``.

    Handles of the same URI share one session; the last one closed closes it. The entry
    points ``get_experiment`` and ``get_all_experiments`` keep their session open until exit.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str] | None = None,
        *,
        token: str | None = None,
        store: Store | None = None,
    ) -> None:
        self._session = _acquire_session(uri, token, store)
        self._closed = False
        self.experiments = ExperimentsView(self._session)

    @property
    def uri(self) -> str:
        """The normalised URI of the store."""
        return self._session.uri

    @property
    def store(self) -> Store:
        """The backend of this handle, after every queued metric point was written to it."""
        return self._session.store

    @property
    def writer(self) -> MetricWriter:
        """The metric writer of the store: its ``interval``, ``max_pending`` and ``pending``
        can be read and set (they apply to every handle of the store in this process)."""
        return self._session.writer

    def flush(self) -> None:
        """Write every queued metric point of this store.

        Raises:
            BackendError: The store could not take them (they stay queued).
        """
        self._session.writer.flush()

    def close(self) -> None:
        """Flush, then release this handle. Closing twice is allowed. It returns within
        ``$MLTRACKER_CLOSE_SECONDS`` (default 10 s): points a locked or unreachable store
        did not take by then go to the spool (stderr says where) and are written later.

        When the last handle of a store closes, its connections and writer thread are let go.
        Entities and collections obtained through the handle stay usable: any later call,
        ``metrics.log`` included, reopens the store, and what is logged then is written by the
        usual rules (the next read or flush, within the flush interval, at exit).
        """
        if not self._closed:
            self._closed = True
            _release_session(self._session)

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    uri: str | os.PathLike[str] | None = None,
    *,
    token: str | None = None,
    store: Store | None = None,
) -> Connection:
    """Open a handle on the store at ``uri`` (default ``$MLTRACKER_URI``, else ``./mltracker.db``).

    Args:
        uri: A path or URL of the store.
        token: The token of a tracking server (for a server URL only; default
            ``$MLTRACKER_TOKEN``).
        store: A store built by hand (an implementation of
            :class:`mltracker.ports.store.Store`), used instead of opening a URI: handles
            given the same object share its session.

    Raises:
        InvalidArgumentError: The URI is malformed or of an unknown scheme, or both a URI
            and a store were given, or a token with a URI that is not a server's.
        InvalidTypeError: ``store`` is not a Store.
        SchemaVersionError: The store was written by a newer MLTracker.
        ForeignStoreError: The database holds tables of another application.
        BackendUnavailableError: The store cannot be reached.
    """
    return Connection(uri, token=token, store=store)
