"""Fixtures shared by every test: a store URI for each backend, isolated per test.

PostgreSQL comes from ``MLTRACKER_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each test gets a schema of its own. Where
PostgreSQL cannot be reached the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

import mltracker
from mltracker.connect import close_all

POSTGRES_URL = os.environ.get(
    "MLTRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"),
        autocommit=True,
        connect_timeout=5,
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
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_uri(postgres_available: bool) -> Iterator[str]:
    """A PostgreSQL URI whose tables live in a schema of this test's own."""
    if not postgres_available:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_uri(schema)
    finally:
        close_all()
        with _postgres_admin() as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def uri(request: pytest.FixtureRequest) -> str:
    """A fresh store of each backend."""
    fixture = {"sqlite": "sqlite_uri", "postgresql": "postgres_uri"}[request.param]
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def tracker(uri: str) -> Iterator[mltracker.Connection]:
    """An open connection to a fresh store of each backend."""
    with mltracker.connect(uri) as connection:
        yield connection


@pytest.fixture(autouse=True)
def _close_sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts with no open session and the default store in its own folder."""
    monkeypatch.delenv("MLTRACKER_URI", raising=False)
    monkeypatch.setenv("MLTRACKER_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.chdir(tmp_path)
    yield
    close_all()
