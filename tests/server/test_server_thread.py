"""``ServerThread.stop``: a store closed by ``then`` is closed after the requests in
progress, so that no connection of theirs is dropped unclosed (PostgreSQL's driver warns of
a connection deleted while open, and the test run fails on the warning)."""

from __future__ import annotations

import gc
import threading

import psycopg
import pytest
import urllib3

import mltracker
from mltracker.server.serve import ServerThread, prepared_store


def test_a_store_closed_by_then_waits_for_the_request_in_progress(postgres_uri: str) -> None:
    store = prepared_store(postgres_uri)
    with mltracker.connect(postgres_uri) as tracker:
        tracker.experiments.create("e")
    server = ServerThread(store)
    answers: list[int] = []
    schema = postgres_uri.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(postgres_uri.split("?")[0], autocommit=False) as blocker:
        blocker.execute(f'LOCK TABLE "{schema}".experiments IN ACCESS EXCLUSIVE MODE')
        request = threading.Thread(
            target=lambda: answers.append(
                urllib3.request("GET", server.url + "/api/v1/experiments", timeout=60).status
            )
        )
        request.start()
        _wait_for_a_waiting_query(blocker, schema)
        closed = threading.Event()

        def close() -> None:
            store.close()
            closed.set()

        server.stop(wait=False, then=close)
        assert not closed.wait(0.5), "the store was closed under a request in progress"
        blocker.rollback()  # the request goes on, is answered, and then the store closes
    request.join(60)
    assert closed.wait(60)
    assert answers == [200]
    gc.collect()  # a connection left unclosed would warn here


@pytest.mark.parametrize("wait", [True, False])
def test_then_is_called_once_whether_or_not_stop_waits(wait: bool, sqlite_uri: str) -> None:
    store = prepared_store(sqlite_uri)
    server = ServerThread(store)
    calls: list[str] = []
    done = threading.Event()
    server.stop(wait=wait, then=lambda: (calls.append("closed"), done.set()))
    assert done.wait(30)
    server.stop(wait=True)  # a second stop: nothing more
    assert calls == ["closed"]
    store.close()


def _wait_for_a_waiting_query(blocker: psycopg.Connection[tuple[object, ...]], schema: str) -> None:
    """Until another session waits for the lock ``blocker`` holds."""
    with psycopg.connect(blocker.info.dsn, autocommit=True) as observer:
        for _ in range(600):
            waiting = observer.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
            if waiting is not None and waiting[0] > 0:
                return
            threading.Event().wait(0.05)
    pytest.fail("the request never reached the database")
