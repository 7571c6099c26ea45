"""Reads of many rows as Arrow tables, through each database's ADBC driver.

``adbc-driver-sqlite`` and ``adbc-driver-postgresql`` (the latter reads with a binary
``COPY``) build the columns in C: no Python object per row. They come with the ``arrow``
extra; :meth:`ArrowReader.available` says whether the driver of this store's database is
installed. The reader keeps a connection of its own (apart from SQLAlchemy's pool), opens a
SQLite file read-only (reading never writes), and forgets its connection in a forked child.

Statements are SQLAlchemy Core selects; the values they bind are integers (keys, steps,
ordinals, limits), which are rendered into the statement by SQLAlchemy, so that PostgreSQL's
driver reads with ``COPY`` rather than a prepared statement.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mltracker.backends.sql import engine as engines
from mltracker.columnar import ARROW_INSTALL
from mltracker.errors import BackendError, BackendUnavailableError, MLTrackerError

if TYPE_CHECKING:
    import pyarrow

logger = logging.getLogger(__name__)

#: Both statements of a read see one snapshot (SQLite's read transaction already does).
_REPEATABLE_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"

_SQLITE_BUSY_TIMEOUT = f"PRAGMA busy_timeout = {engines.SQLITE_BUSY_TIMEOUT_MS}"

_DRIVERS = {"sqlite": "adbc_driver_sqlite.dbapi", "postgresql": "adbc_driver_postgresql.dbapi"}


class ArrowReader:
    """Runs selects of one SQL store on a connection of its database's ADBC driver."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def available(self) -> bool:
        """Whether the ADBC driver of this database (and pyarrow) can be imported."""
        try:
            self.require()
        except MLTrackerError:
            return False
        return True

    def require(self) -> None:
        """Raise unless :meth:`available`.

        Raises:
            MLTrackerError: The driver is not installed; the message says how to install it.
        """
        self._driver()

    def _driver(self) -> Any:
        name = _DRIVERS.get(self._dialect)
        if name is None:
            raise MLTrackerError(f"no columnar reads for {self._dialect}")
        try:
            return importlib.import_module(name)
        except ImportError:
            raise MLTrackerError(f"columnar reads need the ADBC drivers: {ARROW_INSTALL}") from None

    def fetch(
        self,
        statement: sa.Select[Any],
        then: sa.Select[Any] | None = None,
        when: Callable[[pyarrow.Table], bool] | None = None,
    ) -> tuple[pyarrow.Table, pyarrow.Table | None]:
        """The rows of ``statement`` as an Arrow table, and those of ``then`` (run if
        ``when`` says so of the first table), both read from one snapshot of the database.
        One retry on a fresh connection.

        Raises:
            MLTrackerError: The driver is not installed (the message says how to).
            BackendUnavailableError: The database cannot be reached.
            BackendError: The driver failed otherwise.
        """
        driver = self._driver()
        for attempt in (1, 2):
            connection = self._take(driver)
            try:
                with connection.cursor() as cursor:
                    if self._dialect == "postgresql":
                        cursor.execute(_REPEATABLE_READ)
                    cursor.execute(self._sql(statement))
                    first = cursor.fetch_arrow_table()
                    second = None
                    if then is not None and (when is None or when(first)):
                        cursor.execute(self._sql(then))
                        second = cursor.fetch_arrow_table()
                connection.rollback()
            except driver.Error as error:
                _close(connection)
                if attempt == 2:
                    raise _translate(driver, error) from None
                logger.debug("columnar read failed (%s); retrying on a new connection", error)
                continue
            self._give_back(connection)
            return first, second
        raise AssertionError("unreachable")

    def _sql(self, statement: sa.Select[Any]) -> str:
        """The statement's text, its integer values rendered in it by SQLAlchemy."""
        return str(
            statement.compile(dialect=self._engine.dialect, compile_kwargs={"literal_binds": True})
        )

    def _take(self, driver: Any) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's connections are not ours
                self._idle = []
                self._pid = os.getpid()
            if self._idle:
                return self._idle.pop()
        try:
            connection = driver.connect(self._connect_uri())
            if self._dialect == "sqlite":  # wait for a lock as the store's connections do
                with connection.cursor() as cursor:
                    cursor.execute(_SQLITE_BUSY_TIMEOUT)
                    cursor.fetchall()
        except driver.Error as error:
            raise _translate(driver, error) from None
        return connection

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < 2:
                self._idle.append(connection)
                return
        _close(connection)

    def _connect_uri(self) -> str:
        if self._dialect == "sqlite":
            return engines.sqlite_read_uri(self._engine)
        url = self._engine.url.set(drivername="postgresql")
        query = dict(url.query)
        query.setdefault("connect_timeout", str(engines.POSTGRES_CONNECT_TIMEOUT_SECONDS))
        return url.set(query=query).render_as_string(hide_password=False)

    def close(self) -> None:
        """Close the idle connections (the reader stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        if mine:
            for connection in idle:
                _close(connection)


def _close(connection: Any) -> None:
    try:
        connection.close()
    except Exception as error:  # noqa: BLE001 - a broken connection is dropped all the same
        logger.debug("closing a columnar connection failed: %s", error)


def _translate(driver: Any, error: Exception) -> MLTrackerError:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, driver.OperationalError):
        return BackendUnavailableError(f"the store cannot be read: {text}")
    return BackendError(text)
