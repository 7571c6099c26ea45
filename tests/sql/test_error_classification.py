"""Database errors are classified by the driver's code, from real errors of real stores.

Each case makes a real SQLite file or a live PostgreSQL session fail, catches the error as the
driver raises it and as SQLAlchemy wraps it, and checks the code that was read, whether a
retry may mend it, and the MLTracker error it becomes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_URL

from mltracker.backends.sql import engine as sql_engine
from mltracker.backends.sql.engine import is_transient, sqlite_code, sqlstate, translate
from mltracker.errors import (
    BackendError,
    BackendUnavailableError,
    MLTrackerError,
    ReadOnlyStoreError,
)


@dataclass(frozen=True)
class Case:
    """``statements`` run on a connection to ``uri``; the last one fails."""

    uri: str
    statements: tuple[str, ...]


Setup = Callable[[Path, ExitStack], Case]


def sqlite_connect(uri: str) -> sqlite3.Connection:
    connection = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
    connection.execute("PRAGMA busy_timeout = 0")
    return connection


def make_store(path: Path, rows: int = 1) -> Path:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
        connection.executemany("INSERT INTO t (b) VALUES (?)", [("x" * 200,) for _ in range(rows)])
        connection.commit()
    return path


def locked(tmp_path: Path, stack: ExitStack) -> Case:
    path = make_store(tmp_path / "locked.db")
    holder = stack.enter_context(closing(sqlite_connect(f"file:{path}")))
    holder.execute("BEGIN IMMEDIATE")
    stack.callback(holder.execute, "ROLLBACK")
    return Case(f"file:{path}", ("BEGIN IMMEDIATE",))


def not_a_database(tmp_path: Path, stack: ExitStack) -> Case:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database, " * 200)
    return Case(f"file:{path}", ("SELECT * FROM sqlite_master",))


def damaged_page(tmp_path: Path, stack: ExitStack) -> Case:
    path = make_store(tmp_path / "damaged.db", rows=200)
    with closing(sqlite3.connect(path)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 't'").fetchone()
    with path.open("r+b") as file:
        file.seek((root[0] - 1) * page_size)
        file.write(b"\xff" * page_size)
    return Case(f"file:{path}", ("SELECT count(*), max(length(b)) FROM t",))


def read_only(tmp_path: Path, stack: ExitStack) -> Case:
    path = make_store(tmp_path / "read-only.db")
    return Case(f"file:{path}?mode=ro", ("INSERT INTO t (b) VALUES ('y')",))


def full(tmp_path: Path, stack: ExitStack) -> Case:
    path = make_store(tmp_path / "full.db")
    return Case(
        f"file:{path}",
        (
            "PRAGMA max_page_count = 3",
            "INSERT INTO t (b) SELECT b FROM t",
            "INSERT INTO t (b) SELECT b FROM t",
            "INSERT INTO t (b) SELECT b || b || b || b FROM t",
            "INSERT INTO t (b) SELECT b || b || b || b FROM t",
        ),
    )


def missing(tmp_path: Path, stack: ExitStack) -> Case:
    return Case(f"file:{tmp_path / 'missing.db'}?mode=ro", ("SELECT 1",))


def malformed_json(tmp_path: Path, stack: ExitStack) -> Case:
    """A message that says "malformed" of an error that says nothing about the store."""
    path = make_store(tmp_path / "json.db")
    return Case(f"file:{path}", ("SELECT json('{not json')",))


SQLITE_CASES = [
    # setup, primary code, transient, MLTracker class (as SQLAlchemy wraps it), message
    pytest.param(
        locked,
        sqlite3.SQLITE_BUSY,
        True,
        BackendUnavailableError,
        "locked or unreachable",
        id="busy",
    ),
    pytest.param(
        not_a_database,
        sqlite3.SQLITE_NOTADB,
        False,
        BackendError,
        "the store is corrupt",
        id="notadb",
    ),
    pytest.param(
        damaged_page,
        sqlite3.SQLITE_CORRUPT,
        False,
        BackendError,
        "the store is corrupt",
        id="corrupt",
    ),
    pytest.param(
        read_only,
        sqlite3.SQLITE_READONLY,
        False,
        ReadOnlyStoreError,
        "the store is read-only",
        id="readonly",
    ),
    pytest.param(full, sqlite3.SQLITE_FULL, False, BackendError, "the disk is full", id="full"),
    pytest.param(
        missing,
        sqlite3.SQLITE_CANTOPEN,
        False,
        BackendUnavailableError,
        "unable to open",
        id="cantopen",
    ),
    pytest.param(
        malformed_json,
        sqlite3.SQLITE_ERROR,
        False,
        BackendUnavailableError,
        "malformed JSON",
        id="error-not-corrupt",
    ),
]


def sqlite_driver_error(case: Case) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as raised, closing(sqlite_connect(case.uri)) as connection:
        for statement in case.statements:
            connection.execute(statement).fetchall()
    return raised.value


def sqlite_wrapped_error(case: Case) -> sa.exc.DBAPIError:
    engine = sa.create_engine(
        "sqlite+pysqlite://", creator=lambda: sqlite_connect(case.uri), poolclass=sa.NullPool
    )
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as connection:
            for statement in case.statements:
                connection.exec_driver_sql(statement).fetchall()
    finally:
        engine.dispose()
    return raised.value


@pytest.mark.parametrize(("setup", "code", "transient", "expected", "message"), SQLITE_CASES)
def test_sqlite_error_is_classified_by_its_code(
    tmp_path: Path,
    setup: Setup,
    code: int,
    transient: bool,
    expected: type[MLTrackerError],
    message: str,
) -> None:
    with ExitStack() as stack:
        case = setup(tmp_path, stack)
        for error in (sqlite_driver_error(case), sqlite_wrapped_error(case)):
            assert sqlite_code(error) == code, error
            assert sqlstate(error) is None
            assert is_transient(error) is transient, error
        wrapped = sqlite_wrapped_error(case)
    translated = translate(wrapped)
    assert type(translated) is expected, translated
    assert message in str(translated)
    if expected is not BackendUnavailableError:
        assert wrapped.orig is not None
        assert type(translate(wrapped.orig)) is expected


def test_sqlite_table_locked_by_an_open_statement_is_transient(tmp_path: Path) -> None:
    path = make_store(tmp_path / "store.db", rows=10)
    with closing(sqlite_connect(f"file:{path}")) as connection:
        reading = connection.execute("SELECT * FROM t")
        reading.fetchone()
        with pytest.raises(sqlite3.OperationalError) as raised:
            connection.execute("DROP TABLE t")
    assert sqlite_code(raised.value) == sqlite3.SQLITE_LOCKED
    assert is_transient(raised.value)
    assert isinstance(translate(raised.value), BackendUnavailableError)


def test_sqlite_error_without_a_code_is_not_transient(tmp_path: Path) -> None:
    connection = sqlite_connect(f"file:{make_store(tmp_path / 'store.db')}")
    connection.close()
    with pytest.raises(sqlite3.ProgrammingError) as raised:
        connection.execute("SELECT 1")
    assert sqlite_code(raised.value) is None
    assert not is_transient(raised.value)
    assert type(translate(raised.value)) is BackendError


def test_sqlite_busy_through_run_is_retried_then_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.2")
    monkeypatch.setattr(sql_engine, "SQLITE_BUSY_TIMEOUT_MS", 0)
    with ExitStack() as stack:
        case = locked(tmp_path, stack)
        engine = sql_engine.create_engine(f"sqlite:///{case.uri.removeprefix('file:')}")
        stack.callback(engine.dispose)
        with pytest.raises(BackendUnavailableError, match="database is locked"):
            sql_engine.run(engine, lambda c: c.exec_driver_sql("SELECT 1").all(), write=True)


# --- PostgreSQL -----------------------------------------------------------------------------


def pg_url(*, database: str | None = None, user: str | None = None, options: str = "") -> str:
    url = sa.engine.make_url(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"))
    if database is not None:
        url = url.set(database=database)
    if user is not None:
        url = url.set(username=user)
    if options:
        url = url.update_query_dict({"options": options})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def postgres(postgres_uri: str) -> Iterator[str]:
    """The live PostgreSQL (skipped where it is not reachable, failed under CI)."""
    yield postgres_uri


def psycopg_error(url: str, statements: tuple[str, ...]) -> Exception:
    import psycopg

    with pytest.raises(psycopg.Error) as raised:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            for statement in statements:
                connection.execute(statement)
    return raised.value


def wrapped_pg_error(url: str, statements: tuple[str, ...]) -> sa.exc.DBAPIError:
    scheme, _, rest = url.partition("://")
    engine = sa.create_engine(
        f"postgresql+psycopg://{rest}", poolclass=sa.NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return raised.value


PG_CASES = [
    # url arguments, statements, sqlstate, transient, MLTracker class, message
    pytest.param(
        {"database": "mltracker_no_such_database"},
        ("SELECT 1",),
        "3D000",
        False,
        BackendUnavailableError,
        "does not exist",
        id="no-database",
    ),
    pytest.param(
        {"user": "mltracker_no_such_role"},
        ("SELECT 1",),
        "28000",
        False,
        BackendUnavailableError,
        "does not exist",
        id="no-role",
    ),
    pytest.param(
        {"options": "-cdefault_transaction_read_only=on"},
        ("CREATE TEMPORARY TABLE t (a int)", "CREATE TABLE mltracker_read_only (a int)"),
        "25006",
        False,
        ReadOnlyStoreError,
        "the store is read-only",
        id="read-only-transaction",
    ),
    pytest.param(
        {},
        ("SELECT pg_terminate_backend(pg_backend_pid())",),
        "57P01",
        True,
        BackendUnavailableError,
        "locked or unreachable",
        id="admin-shutdown",
    ),
    pytest.param(
        {},
        ("SELECT 1 / 0",),
        "22012",
        False,
        BackendError,
        "division by zero",
        id="data-error",
    ),
]


@pytest.mark.parametrize(
    ("arguments", "statements", "state", "transient", "expected", "message"), PG_CASES
)
def test_postgresql_error_is_classified_by_its_sqlstate(
    postgres: str,
    arguments: dict[str, str],
    statements: tuple[str, ...],
    state: str,
    transient: bool,
    expected: type[MLTrackerError],
    message: str,
) -> None:
    url = pg_url(**arguments)
    driver = psycopg_error(url, statements)
    wrapped = wrapped_pg_error(url, statements)
    for error in (driver, wrapped):
        assert sqlstate(error) == state, error
        assert sqlite_code(error) is None
        assert is_transient(error) is transient, error
    translated = translate(wrapped)
    assert type(translated) is expected, translated
    assert message in str(translated)


def test_postgresql_connection_refused_has_no_sqlstate_and_is_transient(postgres: str) -> None:
    url = sa.engine.make_url(pg_url()).set(host="127.0.0.1", port=1)
    error = psycopg_error(url.render_as_string(hide_password=False), ("SELECT 1",))
    assert sqlstate(error) is None
    assert is_transient(error)


def test_postgresql_serialization_failure_is_transient(postgres: str) -> None:
    import psycopg

    with ExitStack() as stack:
        first, second = (
            stack.enter_context(psycopg.connect(postgres, autocommit=True)) for _ in range(2)
        )
        first.execute("CREATE TABLE counter (n int)")
        first.execute("INSERT INTO counter VALUES (0)")
        first.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        first.execute("SELECT n FROM counter").fetchall()
        second.execute("UPDATE counter SET n = n + 1")
        with pytest.raises(psycopg.Error) as raised:
            first.execute("UPDATE counter SET n = n + 1")
        first.execute("ROLLBACK")
    assert sqlstate(raised.value) == "40001"
    assert is_transient(raised.value)
    assert isinstance(translate(raised.value), BackendUnavailableError)


def test_postgresql_deadlock_is_transient(postgres: str) -> None:
    import psycopg

    errors: list[Exception] = []
    with ExitStack() as stack:
        first, second = (
            stack.enter_context(psycopg.connect(postgres, autocommit=True)) for _ in range(2)
        )
        first.execute("CREATE TABLE pair (k int PRIMARY KEY, n int)")
        first.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
        for connection in (first, second):
            connection.execute("SET deadlock_timeout = '100ms'")
            connection.execute("BEGIN")
        first.execute("UPDATE pair SET n = 1 WHERE k = 1")
        second.execute("UPDATE pair SET n = 1 WHERE k = 2")
        # Each now waits for the row the other holds; PostgreSQL breaks one of the two waits.
        both = threading.Barrier(2)

        def cross(connection: psycopg.Connection[tuple[object, ...]], key: int) -> None:
            both.wait()
            try:
                connection.execute("UPDATE pair SET n = 2 WHERE k = %s", (key,))
            except psycopg.Error as error:
                errors.append(error)
            finally:
                connection.execute("ROLLBACK")

        waiting = threading.Thread(target=cross, args=(first, 2))
        waiting.start()
        cross(second, 1)
        waiting.join(timeout=60)
        assert not waiting.is_alive()
    assert len(errors) == 1, errors
    assert sqlstate(errors[0]) == "40P01"
    assert is_transient(errors[0])
