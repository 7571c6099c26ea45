"""A training loop whose server's answers are lost now and then: the server applied the
request, the client never heard so and repeats it. Nothing raises, and everything is stored
once: each module, iteration, step increment and metric point.

A real server (uvicorn over SQLite or PostgreSQL, on a port of this process) sits behind a
real TCP proxy on 127.0.0.1 that loses every 7th answer, whatever the request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from conftest import serving

import mltracker

from .dropping_proxy import DroppingProxy

EPOCHS = 150
EVERY = 7


def test_training_loop_through_lost_answers_stores_each_write_once(uri: str) -> None:
    with serving(uri) as url:
        port = urlsplit(url).port
        assert port is not None
        with DroppingProxy(port, EVERY) as proxy:
            with mltracker.connect(proxy.url) as tracker:
                model = tracker.experiments.get_or_create("lossy").models.get_or_create("h")
                for epoch in range(EPOCHS):
                    model.modules.log("layer", {"epoch": epoch})
                    model.iterations.create(epoch)
                    model.step += 1
                    model.metrics.log("loss", 1 / (epoch + 1), step=epoch)
            answered, dropped = proxy.answered, proxy.dropped

    # Each epoch makes at least 4 requests (module, iteration, step read, increment).
    assert answered >= 4 * EPOCHS
    assert dropped == answered // EVERY
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("lossy")
        assert experiment is not None
        [stored] = experiment.models.list()
        assert [m.attributes["epoch"] for m in stored.modules.list()] == list(range(EPOCHS))
        assert [i.step for i in stored.iterations.list()] == list(range(EPOCHS))
        assert stored.step == EPOCHS
        assert [p.step for p in stored.metrics.list()] == list(range(EPOCHS))
        assert [e.name for e in tracker.experiments.list()] == ["lossy"]
