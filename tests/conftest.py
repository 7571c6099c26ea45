"""Fixtures shared by every test: a store URI for each backend, isolated per test or per module.

This is the one place that knows the backends (:data:`BACKENDS`) and how a PostgreSQL store
is made: PostgreSQL comes from ``MLTRACKER_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), and each store gets a schema of its own
(:func:`postgres_schema`). Where PostgreSQL cannot be reached the tests skip, except under
``CI=true``, where they fail.

Fixtures: ``sqlite_uri`` and ``postgres_uri`` (one backend, one test), ``uri`` and
``tracker`` (each backend, one test), ``module_uri`` (each backend, shared by the tests of a
module, for the many small cases that each work in an experiment of their own).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import mltracker
from mltracker.connect import close_all

#: Every backend a store can live on; the ``uri``-style fixtures run once for each.
BACKENDS = ("sqlite", "postgresql")
#: The same stores behind a tracking server (a real uvicorn on a free port of this process):
#: the contract suite runs over these too.
HTTP_BACKENDS = ("http-sqlite", "http-postgresql")

POSTGRES_URL = os.environ.get(
    "MLTRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_admin() -> Any:
    """An autocommit psycopg connection to the test database (outside any test's schema)."""
    import psycopg

    return psycopg.connect(
        POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"),
        autocommit=True,
        connect_timeout=10,
    )


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    try:
        with _postgres_admin():
            return True
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        if IN_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required under CI=true: {error}")
        return False


def postgres_schema_uri(schema: str) -> str:
    """The test database's URL with ``search_path`` set to ``schema``."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URI whose tables live in a new schema, dropped (with all sessions closed)
    on exit."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_uri(schema)
    finally:
        close_all()
        with _postgres_admin() as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def backend_store(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    """A fresh store of ``backend`` (one of :data:`BACKENDS` or :data:`HTTP_BACKENDS`): a
    SQLite file in ``folder``, or a PostgreSQL schema of its own (the test skips when
    PostgreSQL is not reachable), or the URL of a server of one of them."""
    if backend.startswith("http-"):
        with backend_store(request, backend.removeprefix("http-"), folder) as store_uri:
            with serving(store_uri) as url:
                yield url
        return
    if backend == "sqlite":
        yield str(folder / "store.db")
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if not request.getfixturevalue("postgres_available"):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    with postgres_schema() as uri:
        yield uri


#: The store behind each server that :func:`serving` runs, by the server's URL.
_SERVED: dict[str, str] = {}


def store_behind(uri: str) -> str:
    """The store a URI reaches: itself, or the store behind a server of :func:`serving`
    (for tests that look at the database itself)."""
    return _SERVED.get(uri, uri)


@contextmanager
def serving(store_uri: str, **options: Any) -> Iterator[str]:
    """The URL of a tracking server of ``store_uri`` running in this process until exit."""
    from mltracker.server.serve import ServerThread, prepared_store

    store = prepared_store(store_uri)
    server = ServerThread(store, **options)
    _SERVED[server.url] = store_uri
    try:
        yield server.url
    finally:
        del _SERVED[server.url]
        # Its thread ends on its own within 0.2 s, after the requests in progress (a client
        # may have given up on one), and then closes the store.
        server.stop(wait=False, then=store.close)


@pytest.fixture
def postgres_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL URI whose tables live in a schema of this test's own."""
    with backend_store(request, "postgresql", tmp_path) as uri:
        yield uri


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    """A SQLite file (not yet created) in this test's own folder."""
    return str(tmp_path / "store.db")


@pytest.fixture(params=BACKENDS)
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each backend."""
    with backend_store(request, request.param, tmp_path) as uri:
        yield uri


@pytest.fixture
def tracker(uri: str) -> Iterator[mltracker.Connection]:
    """An open connection to a fresh store of each backend."""
    with mltracker.connect(uri) as connection:
        yield connection


@pytest.fixture(scope="module", params=BACKENDS)
def module_uri(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh store of each backend, shared by the tests of one module."""
    with backend_store(request, request.param, tmp_path_factory.mktemp("module-store")) as uri:
        yield uri


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    """Every test leaves SIGTERM and SIGINT as it found them: a handler left installed by one
    test would be inherited by the pool workers of the next (which then cannot be ended)."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        if signal.getsignal(signum) is not handler and handler is not None:
            signal.signal(signum, handler)


@pytest.fixture(autouse=True)
def _close_sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts with no open session and the default store in its own folder."""
    monkeypatch.delenv("MLTRACKER_URI", raising=False)
    monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.chdir(tmp_path)
    yield
    close_all()
