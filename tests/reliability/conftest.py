"""A store that lives for a whole test module, on each backend (the root conftest's live
for one test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from mltracker.connect import close_all

POSTGRES_URL = os.environ.get(
    "MLTRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _admin_execute(sql: str) -> None:
    import psycopg

    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_uri(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh store of each backend, shared by the tests of one module."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("module-store") / "store.db")
        return
    if not request.getfixturevalue("postgres_available"):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _admin_execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        close_all()
        _admin_execute(f'DROP SCHEMA "{schema}" CASCADE')
