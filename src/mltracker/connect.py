"""Handles on stores: one session per URI in a process, and :func:`connect`.

URIs and the schemes that open them are ``mltracker.schemes``' (re-exported here). A URI is
a filesystem path (a SQLite file; parent folders are created when the store is first
written) or a URL: ``sqlite:///file.db``, ``postgresql://user@host/db``,
``http://host:8765``, or the URL of another scheme registered with :func:`register_scheme`.
Without one, ``$MLTRACKER_URI`` is used, else ``./mltracker.db``. Every call with the same URI
in a process shares one session
(one connection pool and one metric writer), so opening is cheap enough to do in a loop.
Opening writes nothing: a store is created or upgraded when it is first written to.

A store built by hand (``connect(store=...)``, as httpx takes ``transport=``) gets a session
of its own, shared by the handles given that same object.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable
from types import TracebackType

from mltracker import deadlines
from mltracker.errors import InvalidArgumentError, InvalidTypeError, MLTrackerError, NotFoundError
from mltracker.ports.store import Store
from mltracker.schemes import (
    DEFAULT_PATH,
    ENVIRONMENT_VARIABLE,
    SCHEMES,
    StoreFactory,
    check_environment_token,
    check_options,
    open_store,
    register_scheme,
    resolve_uri,
    sqlite_path,
)
from mltracker.session import Session
from mltracker.views import ExperimentRunsView, ExperimentsView
from mltracker.writer import MetricWriter

__all__ = [
    "DEFAULT_PATH",
    "ENVIRONMENT_VARIABLE",
    "SCHEMES",
    "Connection",
    "StoreFactory",
    "close_all",
    "connect",
    "open_session",
    "open_store",
    "register_scheme",
    "resolve_uri",
    "sqlite_path",
]

logger = logging.getLogger(__name__)

# Sessions by key: a normalised URI (with the options it was opened with), or a store object.
_sessions: dict[Hashable, Session] = {}
_keys: dict[int, Hashable] = {}  # id(session) -> its key
_users: dict[Hashable, int] = {}
_pinned: set[Hashable] = set()
_sessions_lock = threading.Lock()


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
        options = check_options(resolved, token)
        if uri is None and token is None:
            check_environment_token(resolved)
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
        system_metrics: bool = False,
    ) -> None:
        self._session = _acquire_session(uri, token, store)
        if system_metrics:
            self._session.system_metrics = True
        self._closed = False
        self.experiments = ExperimentsView(self._session)
        #: The runs of every experiment: ``search()`` (``experiment.name`` is a field),
        #: ``list()``, ``to_pandas()``; see README "Sweeps".
        self.runs = ExperimentRunsView(self._session, None)

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
    system_metrics: bool = False,
) -> Connection:
    """Open a handle on the store at ``uri`` (default ``$MLTRACKER_URI``, else ``./mltracker.db``).

    Args:
        uri: A path or URL of the store.
        token: The token of a tracking server (for a server URL only; default
            ``$MLTRACKER_TOKEN``).
        store: A store built by hand (an implementation of
            :class:`mltracker.ports.store.Store`), used instead of opening a URI: handles
            given the same object share its session.
        system_metrics: Every run this process starts in the store (by any handle of it)
            samples the system: CPU, memory, disk, network and NVIDIA GPUs, as series of
            phase ``system`` (see ``mltracker.system``; ``pip install 'mltracker[system]'``).

    Raises:
        InvalidArgumentError: The URI is malformed or of an unknown scheme (or ``host:port``
            without ``http://``), or both a URI and a store were given, or a token with a
            URI that is not a server's, or (without ``uri`` and ``token``)
            ``$MLTRACKER_TOKEN`` with a ``$MLTRACKER_URI`` that is not a server's URL.
        InvalidTypeError: ``store`` is not a Store.
        SchemaVersionError: The store was written by a newer MLTracker.
        ForeignStoreError: The database holds tables of another application.
        BackendUnavailableError: The store cannot be reached.
    """
    return Connection(uri, token=token, store=store, system_metrics=system_metrics)
