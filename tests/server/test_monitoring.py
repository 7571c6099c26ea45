"""``GET /metrics``, for Prometheus: guarded like the API (any token of the file reads it,
none is refused), requests counted by route template and status (guards' refusals too),
points written, the wait of each batch for its turn, batches sent again after they were
written; each application counts in a registry of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

import mltracker

from .conftest import Serve, Served
from .helpers import ServerProcess, assert_envelope, call
from .test_security import fill, point_batch
from .test_tokens import ALICE, BOB, tokens_file

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: bytes) -> Samples:
    """Every sample of an exposition in Prometheus's text format, by name and labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(text.decode("utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(url: str, token: str | None = None) -> Samples:
    answer = call("GET", url + "/metrics", token=token, headers={"accept": "text/plain"})
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["content-type"].startswith("text/plain"), answer.headers
    return samples(answer.body)


def requests_of(found: Samples, method: str, route: str, status: int) -> float:
    labels = (("method", method), ("route", route), ("status", str(status)))
    return found.get(("mltracker_http_requests_total", labels), 0.0)


def value(found: Samples, name: str) -> float:
    return found.get((name, ()), 0.0)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process of a tokens file: alice writes, bob reads."""
    tokens = tokens_file(tmp_path / "tokens.jsonl", ("alice", "write", ALICE), ("bob", "read", BOB))
    with ServerProcess(
        str(tmp_path / "store.db"), "--tokens", str(tokens), log=tmp_path / "server.log"
    ) as server:
        yield server


def test_a_read_token_reads_the_metrics_and_no_token_is_refused(team: ServerProcess) -> None:
    assert scrape(team.url, BOB)  # a read token
    assert scrape(team.url, ALICE)  # a write token reads too
    assert_envelope(call("GET", team.url + "/metrics"), 401, "backend.access_denied")
    assert_envelope(call("GET", team.url + "/metrics", token="not-a-token-of-the-file-0123"), 401)
    # A browser without its cookie is sent to the login form, as for any page.
    browser = call("GET", team.url + "/metrics", headers={"accept": "text/html"})
    assert browser.status == 303 and browser.headers["location"].startswith("/login")


def test_requests_are_counted_by_route_template_and_status(team: ServerProcess) -> None:
    ids = fill(team.url, ALICE)
    api = team.url + "/api/v1"
    for _ in range(3):
        answer = call("GET", api + f"/models/{ids['m']}/metrics", token=BOB)
        assert answer.status == 200
    call("GET", api + f"/models/{uuid.uuid4()}/metrics", token=BOB)  # another model
    refused = call("GET", api + f"/models/{ids['m']}/metrics")  # no token: 401
    assert refused.status == 401
    assert call("POST", api + "/experiments", {"name": "x"}, token=BOB).status == 403
    assert call("GET", team.url + "/no/such/page", token=BOB).status == 404
    for word in ("BREW", "WHEN"):  # any word is a method to HTTP: none is a series of its own
        assert call(word, api + "/experiments", token=BOB).status == 403

    found = scrape(team.url, BOB)
    route = "/api/v1/models/{model_id}/metrics"
    assert requests_of(found, "GET", route, 200) == 4
    assert requests_of(found, "GET", route, 401) == 1
    assert requests_of(found, "POST", "/api/v1/experiments", 403) == 1
    assert requests_of(found, "POST", "/api/v1/experiments", 201) == 1  # fill's
    assert requests_of(found, "GET", "other", 404) == 1
    assert requests_of(found, "other", "/api/v1/experiments", 403) == 2
    routes = {dict(labels)["route"] for (name, labels) in found if name.endswith("requests_total")}
    assert not any(ids["m"] in route for route in routes), routes  # no id, only templates


def test_points_batches_and_turn_waits_are_counted(team: ServerProcess) -> None:
    with mltracker.connect(team.url, token=ALICE) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        for step in range(2_500):
            model.metrics.log("loss", float(step), step=step)
        tracker.flush()
    found = scrape(team.url, BOB)
    assert value(found, "mltracker_points_written_total") == 2_500
    batches = requests_of(found, "POST", "/api/v1/points", 200)
    assert batches >= 1
    assert value(found, "mltracker_batch_turn_wait_seconds_count") == batches
    assert value(found, "mltracker_batches_replayed_total") == 0
    infinite = ("mltracker_batch_turn_wait_seconds_bucket", (("le", "+Inf"),))
    assert found[infinite] == batches


def test_a_batch_sent_again_after_it_was_written_counts_as_replayed(serve: Serve) -> None:
    served = serve()
    ids = fill(served.url)
    batch = orjson.dumps(point_batch(ids["m"], range(10, 20)))
    for _ in range(3):  # a batch written, then twice again (a lost answer, a spool replay)
        assert call("POST", served.api + "/points", raw=batch).json == {"written": 10}
    found = scrape(served.url)
    assert value(found, "mltracker_batches_replayed_total") == 2
    assert value(found, "mltracker_points_written_total") == 1 + 10  # fill's point, then 10
    assert value(found, "mltracker_batch_turn_wait_seconds_count") == 4


def test_the_wait_of_every_batch_is_observed_when_they_come_together(serve: Serve) -> None:
    served = serve()
    ids = fill(served.url)
    bodies = [
        orjson.dumps(point_batch(ids["m"], range(n * 5_000, (n + 1) * 5_000))) for n in range(8)
    ]
    start = threading.Barrier(len(bodies))

    def post(body: bytes) -> None:
        start.wait()
        assert call("POST", served.api + "/points", raw=body).status == 200

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = scrape(served.url)
    assert value(found, "mltracker_batch_turn_wait_seconds_count") == 1 + len(bodies)
    assert value(found, "mltracker_points_written_total") == 1 + 8 * 5_000


def test_each_application_counts_its_own(serve: Serve) -> None:
    first, second = serve(), serve()
    fill(first.url)
    found = scrape(second.url)
    assert value(found, "mltracker_points_written_total") == 0
    assert requests_of(found, "POST", "/api/v1/experiments", 201) == 0
    assert value(scrape(first.url), "mltracker_points_written_total") == 1


def test_openmetrics_is_given_to_who_asks_for_it(server: Served) -> None:
    answer = call(
        "GET", server.url + "/metrics", headers={"accept": "application/openmetrics-text"}
    )
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.body.rstrip().endswith(b"# EOF")
