"""Engines for the two dialects, with everything that differs between them in one place.

SQLite runs in WAL mode with a busy timeout and foreign keys on; its transactions are
begun by us (``BEGIN`` to read, ``BEGIN IMMEDIATE`` to write, so that two writers never
deadlock on a lock upgrade). PostgreSQL goes through psycopg 3 with pre-ping, so a
restarted server costs a reconnect, not an error. Failures are retried for a bounded time
and then translated into the MLTracker error tree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from mltracker import deadlines
from mltracker.errors import (
    BackendError,
    BackendUnavailableError,
    InvalidArgumentError,
    MLTrackerError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


def create_engine(uri: str) -> Engine:
    """An engine for a normalised ``sqlite:///`` or ``postgresql://`` URI."""
    scheme, _, rest = uri.partition("://")
    if scheme == "sqlite":
        return _sqlite_engine(rest[1:])
    if "+" not in scheme:
        uri = f"postgresql+psycopg://{rest}"
    try:
        return sa.create_engine(uri, pool_pre_ping=True, pool_size=2, max_overflow=8)
    except (exc.ArgumentError, ValueError) as error:
        raise InvalidArgumentError(f"cannot use {uri!r}: {error}") from None
    except ModuleNotFoundError as error:
        raise BackendError(
            f"PostgreSQL needs psycopg ({error}): pip install 'mltracker[postgresql]'"
        ) from None


def _sqlite_engine(path: str) -> Engine:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BackendUnavailableError(f"cannot create the folder of {path}: {error}") from None
    engine = sa.create_engine(
        f"sqlite+pysqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def lock_for_schema_change(connection: Connection) -> None:
    """Serialise schema changes between processes (SQLite's write lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(7235812301)"))


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
    deadline = time.monotonic() + retry_seconds()
    delay = 0.01
    while True:
        try:
            with _transaction(engine, write) as connection:
                return operation(connection)
        except MLTrackerError:
            raise
        except Exception as error:
            if not isinstance(error, (exc.SQLAlchemyError, *_driver_errors(engine))):
                raise
            retry = isinstance(error, exc.DBAPIError) or not isinstance(error, exc.SQLAlchemyError)
            if not retry or not is_transient(error) or time.monotonic() + delay > deadline:
                raise translate(error) from error
            logger.info("store busy or unreachable, retrying: %s", error)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _driver_errors(engine: Engine) -> tuple[type[Exception], ...]:
    dbapi = engine.dialect.dbapi
    return (dbapi.Error,) if dbapi is not None else ()


def is_transient(error: BaseException) -> bool:
    """A locked SQLite file, or a PostgreSQL connection that broke or could not be made."""
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    text = str(error).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True
    if type(error).__module__.startswith("psycopg"):
        sqlstate = getattr(error, "sqlstate", None) or _sqlstate_in_message(text)
        if sqlstate is not None and sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES:
            return False
        name = type(error).__name__
        return name in ("OperationalError", "InterfaceError", "AdminShutdown", "CannotConnectNow")
    return False


def _sqlstate_in_message(text: str) -> str | None:
    """A failed connection carries no SQLSTATE; its message names the permanent cases."""
    if "does not exist" in text and ("database" in text or "role" in text):
        return "3D000"
    if "authentication failed" in text or "no pg_hba.conf entry" in text:
        return "28000"
    return None


def translate(error: BaseException) -> MLTrackerError:
    """The MLTracker error for a database error."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else repr(original)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return BackendError(f"the store is corrupt: {text}")
    if "disk is full" in lowered or "no space" in lowered:
        return BackendError(f"the disk is full: {text}")
    if is_transient(error):
        return BackendUnavailableError(f"the store is locked or unreachable: {text}")
    if isinstance(error, exc.OperationalError):
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
