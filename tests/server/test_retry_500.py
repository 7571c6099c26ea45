"""A tracking server that answers 500 (an unexpected failure of its own) to a request that
can be repeated: the client asks again within its retry budget, as it does on 502/503/504.
``close()``, whose budget is capped, still delivers every point; a request that cannot be
repeated raises at once, and so does a 500 of a specific class; a 500 that stays is raised,
as the server's error, after a few tries (a bug of the server does not hold the caller for
the whole budget).

The server is ``mltracker server`` in a process of its own; a proxy in this process, over
real sockets, answers 500 in its place to the first requests of a kind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import mltracker
from mltracker import BackendError, BackendUnavailableError, SchemaVersionError

from .helpers import ServerProcess, stored_points
from .proxy import CRASHED, Failing, Proxy

POINTS = 3_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(str(tmp_path / "store.db"), log=tmp_path / "server.log") as running:
        yield running


def first(count: int, method: str, path: str, body: bytes = CRASHED) -> Failing:
    """Fail the first ``count`` requests of ``method`` to ``path`` with a 500 of ``body``."""
    left = [count]
    lock = threading.Lock()

    def failing(sent_method: str, sent_path: str) -> tuple[int, bytes] | None:
        if sent_method != method or sent_path.partition("?")[0] != path:
            return None
        with lock:
            if left[0] == 0:
                return None
            left[0] -= 1
        return 500, body

    return failing


def test_close_stores_every_point_through_500s_to_batch_posts(
    server: ServerProcess, tmp_path: Path
) -> None:
    with Proxy(server.url, first(3, "POST", "/api/v1/points")) as proxy:
        tracker = mltracker.connect(proxy.url)
        tracker.writer.interval = 3600.0  # no background flush: close() writes them all
        tracker.writer.max_pending = 10 * POINTS
        model = tracker.experiments.create("e").models.create("m")
        for step in range(POINTS):
            model.metrics.log("loss", float(step), step=step)
        tracker.close()

        assert proxy.failed == [("POST", "/api/v1/points")] * 3
    assert stored_points(tmp_path / "store.db", "m", "loss") == [
        (step, float(step)) for step in range(POINTS)
    ]
    assert not tracker.writer.spool_files
    assert not list((tmp_path / "spool").glob("*.spool")), "nothing was spooled"


def test_reads_are_asked_again_after_a_500(server: ServerProcess) -> None:
    with Proxy(server.url, first(2, "GET", "/api/v1/experiments")) as proxy:
        with mltracker.connect(proxy.url) as tracker:
            tracker.experiments.create("e")
            assert [experiment.name for experiment in tracker.experiments.list()] == ["e"]
        assert len(proxy.failed) == 2


def test_a_request_that_cannot_be_repeated_raises_at_once_on_a_500(
    server: ServerProcess,
) -> None:
    with Proxy(server.url, first(1, "POST", "/api/v1/experiments")) as proxy:
        with mltracker.connect(proxy.url) as tracker:
            with pytest.raises(BackendError, match=f"POST {proxy.url}/api/v1/experiments: "):
                tracker.experiments.create("e")
            assert proxy.failed == [("POST", "/api/v1/experiments")]
            assert tracker.experiments.list() == []  # the server never saw it


def test_a_500_of_a_specific_class_is_not_asked_again(server: ServerProcess) -> None:
    newer = b'{"error":{"code":"backend.schema_version","message":"written by a newer one"}}'
    with Proxy(server.url, first(5, "GET", "/api/v1/experiments", newer)) as proxy:
        with mltracker.connect(proxy.url) as tracker:
            with pytest.raises(SchemaVersionError, match="written by a newer one"):
                tracker.experiments.list()
        assert len(proxy.failed) == 1


def test_a_500_that_stays_is_raised_as_the_servers_error_after_a_few_tries(
    server: ServerProcess,
) -> None:
    with Proxy(server.url, first(1_000, "GET", "/api/v1/experiments")) as proxy:
        with mltracker.connect(proxy.url) as tracker:
            with pytest.raises(BackendError, match="internal error of the server") as raised:
                tracker.experiments.list()
        assert not isinstance(raised.value, BackendUnavailableError)
        assert len(proxy.failed) == 5  # the first answer, and four more tries
