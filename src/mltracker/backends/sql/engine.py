"""Engines for the two dialects, with everything that differs between them in one place.

Every SQLite connection is made here, whatever spelling of the URI chose the file: a busy
timeout and foreign keys on; WAL mode is set when the store is first written (setting it
writes to the file, and reading never writes). A connection never creates the file before
the store is first written, and a file this process cannot write is opened read-only.
SQLite transactions are begun by us (``BEGIN`` to read, ``BEGIN IMMEDIATE`` to write, so
that two writers never deadlock on a lock upgrade). PostgreSQL goes through psycopg 3 with
pre-ping, so a restarted server costs a reconnect, not an error. Failures are retried for a
bounded time and then translated into the MLTracker error tree.

The store's operations that differ by dialect are here too, as small functions: the bulk
insert of metric points (``executemany`` or binary ``COPY``), the row locks that only
PostgreSQL needs, the codes of constraint violations, and UUIDs as the drivers return them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from mltracker import deadlines
from mltracker.backends.sql import gate
from mltracker.errors import (
    BackendError,
    BackendUnavailableError,
    InvalidArgumentError,
    MLTrackerError,
    ReadOnlyStoreError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", bound=sa.Select[Any])

#: How long SQLite itself waits for a lock before reporting "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long an operation is retried while the store is locked or unreachable (see
#: ``mltracker.deadlines``; the environment variable MLTRACKER_RETRY_SECONDS overrides it).
RETRY_SECONDS = deadlines.DEFAULT_RETRY_SECONDS
#: PostgreSQL error classes that no retry mends: a bad password or role (28), a database
#: that does not exist (3D).
_PERMANENT_SQLSTATE_CLASSES = ("28", "3D")


def retry_seconds() -> float:
    """The retry budget of one operation."""
    return deadlines.retry_seconds(RETRY_SECONDS)


_WRITE = "mltracker_write"
#: How long a PostgreSQL connection attempt may take, unless the URL says ``connect_timeout``.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10


def create_engine(uri: str) -> Engine:
    """An engine for a normalised ``sqlite:///`` or ``postgresql://`` URI (see
    :func:`mltracker.schemes.resolve_uri`). Nothing is connected, created or written yet."""
    from mltracker.schemes import sqlite_path

    path = sqlite_path(uri)
    if path is not None:
        return _sqlite_engine(path)
    scheme, _, rest = uri.partition("://")
    if "+" not in scheme:
        uri = f"postgresql+psycopg://{rest}"
    try:
        engine = sa.create_engine(uri, pool_pre_ping=True, pool_size=2, max_overflow=8)
    except (exc.ArgumentError, ValueError) as error:
        raise InvalidArgumentError(f"cannot use {uri!r}: {error}") from None
    except ModuleNotFoundError as error:
        raise BackendError(
            f"PostgreSQL needs psycopg ({error}): pip install 'mltracker[postgresql]'"
        ) from None

    @event.listens_for(engine, "do_connect")
    def _connect_timeout(_dialect: Any, _record: Any, _args: Any, parameters: Any) -> None:
        parameters.setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT_SECONDS)

    return engine


class _SqliteFile:
    """The file of a SQLite engine, and whether its connections may create it.

    Until the store is first written (:func:`prepare_for_writing`), a connection never
    creates the file. A file this process may not write is opened read-only: through the
    write-ahead log of the writer that has it open, else as immutable (what its last
    checkpoint holds), so that no file is created beside it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.create = False

    def open_uri(self, *, read_only: bool = False) -> str:
        """The ``file:`` URI a new connection opens."""
        location = "file:" + quote(self.path)
        writable = self.writable()
        if self.create and not read_only:
            return location + "?mode=rwc"
        if writable and not read_only:
            return location + "?mode=rw"
        if writable or all(os.path.exists(self.path + end) for end in ("-wal", "-shm")):
            return location + "?mode=ro"
        # SQLite would create the -wal and -shm files of a reader, owned by this user, and
        # its owner could no longer write: read the file as it is, creating nothing.
        return location + "?mode=ro&immutable=1"

    def writable(self) -> bool:
        """Whether this process may write the file and the files SQLite keeps beside it."""
        folder = os.path.dirname(self.path) or "."
        if not os.path.exists(self.path):
            return os.access(folder, os.W_OK)
        return os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)


_files: weakref.WeakKeyDictionary[Engine, _SqliteFile] = weakref.WeakKeyDictionary()


def _sqlite_engine(path: str) -> Engine:
    file = _SqliteFile(path)

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            file.open_uri(),
            uri=True,
            check_same_thread=False,
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # we issue BEGIN ourselves
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    engine = sa.create_engine(
        sa.engine.URL.create("sqlite+pysqlite", database=path), creator=connect
    )
    _files[engine] = file

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def sqlite_file(engine: Engine) -> str | None:
    """The path of a SQLite engine's file; ``None`` for PostgreSQL."""
    file = _files.get(engine)
    return None if file is None else file.path


def connect_sqlite_file(path: str) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection that reads ``path`` and can never write or create it
    (for checks that look at a file from outside the store)."""
    return sqlite3.connect(_SqliteFile(path).open_uri(read_only=True), uri=True)


def sqlite_read_uri(engine: Engine) -> str:
    """The ``file:`` URI that opens a SQLite engine's file to read it only (for readers that
    make connections of their own, see ``arrow.py``)."""
    file = _files[engine]
    return file.open_uri(read_only=True)


def prepare_for_writing(engine: Engine) -> None:
    """Get ready for the first write: for SQLite, refuse a file this process cannot write,
    create its folder, let connections create the file, and put it in WAL mode.

    Raises:
        ReadOnlyStoreError: The file (or the folder of a missing file) is not writable.
        BackendUnavailableError: The folder cannot be created, or the file stays locked.
    """
    file = _files.get(engine)
    if file is None:
        return
    folder = Path(file.path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError as error:
        raise ReadOnlyStoreError(f"cannot create the folder of {file.path}: {error}") from None
    except OSError as error:
        raise BackendUnavailableError(f"cannot create the folder of {file.path}: {error}") from None
    if not file.writable():
        what = "the file" if os.path.exists(file.path) else "its folder"
        raise ReadOnlyStoreError(
            f"cannot write: {what} is not writable for this user (reading works)"
        )
    file.create = True

    def set_wal() -> None:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA journal_mode = WAL").fetchall()

    _retrying(engine, set_wal)


#: How long a checkpoint waits for other connections of the file before it does what it can.
CHECKPOINT_BUSY_MS = 200


def checkpoint_sqlite(engine: Engine) -> bool:
    """Copy the write-ahead log of a SQLite engine's file into the file and empty the log
    (``wal_checkpoint(TRUNCATE)``), so that the file alone holds every committed write;
    whether the log was emptied. When another connection is busy with the file, it copies
    what it can without waiting for it (``PASSIVE``). Never raises."""
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_MS}")
            try:
                busy = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if busy:
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    except (exc.SQLAlchemyError, sqlite3.Error) as error:
        logger.debug("no checkpoint of the store's log: %s", _first_line(error))
        return False
    return not busy


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def lock_for_schema_change(connection: Connection) -> None:
    """Serialise schema changes between processes (SQLite's write lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(7235812301)"))


def locked_against_delete(query: S) -> S:
    """``query``, also locking the rows it reads against a concurrent delete until the
    transaction ends (``FOR KEY SHARE`` on PostgreSQL; SQLite's write lock already
    excludes every other writer, and the clause is left out there)."""
    return query.with_for_update(read=True, key_share=True)


def locked_for_update(query: S) -> S:
    """``query``, also locking the rows it reads against any concurrent change until the
    transaction ends, after waiting for the transactions that hold them (``FOR UPDATE`` on
    PostgreSQL; SQLite's write lock already excludes every other writer)."""
    return query.with_for_update()


def bucket_index(
    connection: Connection,
    position: sa.ColumnElement[Any],
    start: float,
    width: float,
    buckets: int,
) -> sa.ColumnElement[Any]:
    """The bucket (0 to ``buckets - 1``) of a float ``position`` when ``[start, start +
    width)`` is cut into ``buckets`` equal parts: ``floor((position - start) * buckets /
    width)``, in float arithmetic, which both databases compute alike (SQLite truncates a
    cast to INTEGER, which is the floor here; PostgreSQL rounds one, so it takes ``floor``)."""
    scaled = (
        (position - sa.literal(start, sa.Double))
        * sa.literal(float(buckets), sa.Double)
        / sa.literal(width, sa.Double)
    )
    last = sa.literal(buckets - 1, sa.BigInteger)
    if is_sqlite(connection):
        return sa.func.min(last, sa.cast(scaled, sa.Integer))
    return sa.func.least(last, sa.cast(sa.func.floor(scaled), sa.BigInteger))


class BulkInsert:
    """An insert of many rows into some columns of a table, by each driver's fastest path:
    ``executemany`` on SQLite, a binary ``COPY`` on PostgreSQL (which needs each column's
    PostgreSQL type, in ``postgres_types``). Made once, run by :func:`bulk_insert`."""

    __slots__ = ("postgres_copy", "postgres_types", "sqlite_insert")

    def __init__(
        self, table: sa.Table, columns: Sequence[str], postgres_types: Sequence[str]
    ) -> None:
        names = ", ".join(table.c[column].name for column in columns)
        marks = ", ".join("?" for _ in columns)
        self.sqlite_insert = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
        self.postgres_copy = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
        self.postgres_types = list(postgres_types)


def bulk_insert(
    connection: Connection, insert: BulkInsert, rows: Iterable[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in the order of the insert's columns, taken once, as the
    driver goes) in the connection's transaction, through the driver."""
    driver: Any = connection.connection.driver_connection
    if is_sqlite(connection):
        driver.executemany(insert.sqlite_insert, rows)
        return
    with driver.cursor() as cursor:
        with cursor.copy(insert.postgres_copy) as copy:
            copy.set_types(insert.postgres_types)
            for row in rows:
                copy.write_row(row)


#: PostgreSQL's SQLSTATEs and SQLite's extended result code names, by constraint violated.
_UNIQUE_VIOLATIONS = frozenset(
    {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
)
_FOREIGN_KEY_VIOLATIONS = frozenset({"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"})


def _violation_code(error: exc.IntegrityError) -> str | None:
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    return code if isinstance(code, str) else None


def is_unique_violation(error: exc.IntegrityError) -> bool:
    """Whether ``error`` says that a row broke a unique (or primary key) constraint."""
    return _violation_code(error) in _UNIQUE_VIOLATIONS


def is_foreign_key_violation(error: exc.IntegrityError) -> bool:
    """Whether ``error`` says that a row broke a foreign key (its owner is gone)."""
    return _violation_code(error) in _FOREIGN_KEY_VIOLATIONS


@contextmanager
def _transaction(engine: Engine, write: bool) -> Iterator[Connection]:
    with engine.connect() as connection:
        if write:
            connection.execution_options(**{_WRITE: True})
        cap = deadlines.current_cap()
        if cap is None or not is_sqlite(engine):
            with connection.begin():
                yield connection
            return
        # Under a cap (a process that is ending), SQLite must not wait out its usual timeout.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA busy_timeout = {int(min(cap * 1000, SQLITE_BUSY_TIMEOUT_MS))}")
        try:
            with connection.begin():
                yield connection
        finally:
            driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def run(engine: Engine, operation: Callable[[Connection], T], *, write: bool) -> T:
    """Run ``operation`` in one transaction, retrying while the store is locked or away.

    MLTracker errors raised by ``operation`` pass through (and roll the transaction back);
    database errors are retried if transient, else translated.
    """

    def attempt() -> T:
        with _transaction(engine, write) as connection:
            return operation(connection)

    return _retrying(engine, attempt)


def _retrying(engine: Engine, attempt: Callable[[], T]) -> T:
    """Call ``attempt`` until it succeeds, for at most the retry budget.

    The first retry of an operation is logged at INFO (with the budget), later ones at DEBUG.
    """
    budget = retry_seconds()
    deadline = time.monotonic() + budget
    delay = 0.01
    retried = False
    while True:
        try:
            with gate.inside_driver():  # not across the sleeps: a fork need not wait for them
                return attempt()
        except MLTrackerError:
            raise
        except MemoryError:
            if not is_sqlite(engine):
                raise
            # SQLITE_NOMEM while opening: what SQLite reports for some damaged schema pages.
            raise BackendError(
                "the SQLite file cannot be read (SQLite ran out of memory reading it: its "
                "schema is probably damaged)"
            ) from None
        except Exception as error:
            if not isinstance(error, (exc.SQLAlchemyError, *_driver_errors(engine))):
                raise
            retry = isinstance(error, exc.DBAPIError) or not isinstance(error, exc.SQLAlchemyError)
            if not retry or not is_transient(error) or time.monotonic() + delay > deadline:
                raise translate(error) from error
            if not retried:
                logger.info(
                    "the store is locked or unreachable (%s); retrying for up to %g s "
                    "(MLTRACKER_RETRY_SECONDS)",
                    _first_line(error),
                    budget,
                )
                retried = True
            else:
                logger.debug("still retrying: %s", _first_line(error))
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else repr(original)


def _driver_errors(engine: Engine) -> tuple[type[Exception], ...]:
    dbapi = engine.dialect.dbapi
    return (dbapi.Error,) if dbapi is not None else ()


#: SQLite's primary result codes (``sqlite_errorcode & 0xFF``; Python 3.11+ sets the code
#: on every error that SQLite itself reports) by what they mean for the store.
_SQLITE_TRANSIENT = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_SQLITE_CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_SQLITE_READ_ONLY = frozenset({sqlite3.SQLITE_READONLY})
_SQLITE_FULL = frozenset({sqlite3.SQLITE_FULL})
_SQLITE_CANNOT_OPEN = frozenset({sqlite3.SQLITE_CANTOPEN})

#: PostgreSQL SQLSTATEs by what they mean for the store. Connection exceptions (class 08, but
#: 08P01, a protocol violation such as too many bind parameters, which no retry mends), an
#: administrator's shutdown, a crash, a server still starting, a serialization failure and a
#: deadlock (the whole transaction is retried) are transient.
_SQLSTATE_TRANSIENT = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})
_SQLSTATE_TRANSIENT_CLASSES = ("08",)
_SQLSTATE_NOT_TRANSIENT = frozenset({"08P01"})
_SQLSTATE_CORRUPT = frozenset({"XX001", "XX002"})
_SQLSTATE_READ_ONLY = frozenset({"25006"})
_SQLSTATE_DISK_FULL = frozenset({"53100"})
#: psycopg errors that carry no SQLSTATE and are transient: a connection that could not be
#: made or broke (unless its message names a permanent cause, see _sqlstate_in_message).
_PSYCOPG_TRANSIENT_WITHOUT_SQLSTATE = ("OperationalError", "InterfaceError")


def _driver_error(error: BaseException) -> BaseException:
    """The driver's exception inside a SQLAlchemy one, else ``error`` itself."""
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        return error.orig
    return error


def sqlite_code(error: BaseException) -> int | None:
    """SQLite's primary result code of a ``sqlite3`` error (``sqlite3.SQLITE_BUSY``, ...);
    ``None`` for an error of another driver, or one that the ``sqlite3`` module raised
    without SQLite's word (a closed connection, a wrong parameter)."""
    error = _driver_error(error)
    if not isinstance(error, sqlite3.Error):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_psycopg(error: BaseException) -> bool:
    return type(error).__module__.startswith("psycopg")


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error; for a connection that failed before a session existed
    (psycopg gives no SQLSTATE then), the one its message implies, if any; ``None`` for an
    error of another driver."""
    error = _driver_error(error)
    if not _is_psycopg(error):
        return None
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state:
        return state
    return _sqlstate_in_message(str(error).lower())


def _sqlstate_in_message(text: str) -> str | None:
    """The SQLSTATE of a failed connection, which carries none: its message (the server's
    FATAL line, or libpq's own words) names the permanent cases. This is the only place where
    a database error is classified by its message."""
    if "does not exist" in text and "role" in text:
        return "28000"
    if "does not exist" in text and "database" in text:
        return "3D000"
    if "authentication failed" in text or "no pg_hba.conf entry" in text:
        return "28000"
    return None


def is_transient(error: BaseException) -> bool:
    """Whether retrying may mend ``error``: a locked SQLite file (``SQLITE_BUSY``,
    ``SQLITE_LOCKED``), or a PostgreSQL connection that broke, could not be made, or a
    transaction that lost a serialization conflict or a deadlock. Classified by the driver's
    code, never by a message (but see :func:`_sqlstate_in_message`)."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    code = sqlite_code(error)
    if code is not None:
        return code in _SQLITE_TRANSIENT
    original = _driver_error(error)
    if not _is_psycopg(original):
        return False
    state = sqlstate(original)
    if state is None:
        return type(original).__name__ in _PSYCOPG_TRANSIENT_WITHOUT_SQLSTATE
    if state[:2] in _PERMANENT_SQLSTATE_CLASSES or state in _SQLSTATE_NOT_TRANSIENT:
        return False
    return state in _SQLSTATE_TRANSIENT or state[:2] in _SQLSTATE_TRANSIENT_CLASSES


def translate(error: BaseException) -> MLTrackerError:
    """The MLTracker error for a database error, chosen by the driver's code: a corrupt store
    and a full disk are a :class:`BackendError`, a store that refuses writes a
    :class:`ReadOnlyStoreError`, a locked or unreachable one (or one that cannot be opened)
    a :class:`BackendUnavailableError`."""
    text = _first_line(error)
    code = sqlite_code(error)
    state = sqlstate(error)
    if code in _SQLITE_CORRUPT or state in _SQLSTATE_CORRUPT:
        return BackendError(f"the store is corrupt: {text}")
    if code in _SQLITE_READ_ONLY or state in _SQLSTATE_READ_ONLY:
        return ReadOnlyStoreError(f"the store is read-only: {text}")
    if code in _SQLITE_FULL or state in _SQLSTATE_DISK_FULL:
        return BackendError(f"the disk is full: {text}")
    if is_transient(error):
        return BackendUnavailableError(f"the store is locked or unreachable: {text}")
    if code in _SQLITE_CANNOT_OPEN or isinstance(error, exc.OperationalError):
        return BackendUnavailableError(text)
    return BackendError(text)


def driver_execute(connection: Connection, statement: ClauseElement) -> list[tuple[Any, ...]]:
    """Execute a Core statement on the driver's own cursor and return plain tuples.

    For reads of many rows, where SQLAlchemy's ``Row`` objects would cost more than the query.
    """
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    assert isinstance(compiled, SQLCompiler)
    parameters = compiled.params
    if connection.dialect.positional:
        assert compiled.positiontup is not None
        arguments: Any = tuple(parameters[name] for name in compiled.positiontup)
    else:
        arguments = parameters
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, arguments)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
    finally:
        cursor.close()


def uuid_from_driver(value: Any) -> UUID | None:
    """A UUID column as :func:`driver_execute` returns it (hex text from SQLite, a ``UUID``
    from psycopg), as a ``UUID``; ``None`` for NULL."""
    if value is None or isinstance(value, UUID):
        return value
    return UUID(hex=value)
