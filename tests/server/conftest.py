"""Fixtures of the server tests: a tracking server in a thread of the test process (a real
uvicorn on a free port of 127.0.0.1) over a fresh SQLite store.

``serve(**options)`` starts one (``token``, ``read_only``, ``max_body_bytes``,
``header_timeout``, ``body_timeout``; the SQLite ``path`` of its store, or a ``store`` of the
test's own) and returns a :class:`Served`; ``server`` is one with no options. Client
sessions are closed before the servers stop, so that no queued point waits for a server that
is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mltracker.connect import close_all
from mltracker.ports.store import Store
from mltracker.server.serve import ServerThread, prepared_store


@dataclass
class Served:
    """A running server: its URL, and the SQLite file of its store."""

    url: str
    path: Path
    store: Store

    @property
    def api(self) -> str:
        return self.url + "/api/v1"


Serve = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    running: list[tuple[ServerThread, Store]] = []

    def serve(*, path: Path | None = None, store: Store | None = None, **options: Any) -> Served:
        path = path or tmp_path / f"served-{len(running)}.db"
        if store is None:
            store = prepared_store(str(path))
        thread = ServerThread(store, **options)
        running.append((thread, store))
        return Served(thread.url, path, store)

    try:
        yield serve
    finally:
        try:
            close_all()
        finally:
            for thread, store in running:
                thread.stop()
                store.close()


@pytest.fixture
def server(serve: Serve) -> Served:
    """A server with no token over a fresh SQLite store."""
    return serve()
