"""The rewind of a resumed run over the wire: ``POST /runs/{id}/resume`` with ``rewind``,
applied once per id, refused with 422 when it is not valid, and ``?superseded=true`` on the
read of points. Over a real server (uvicorn in a thread) of a real SQLite store."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from typing import Any

import pytest

import mltracker

from .conftest import Served
from .helpers import assert_envelope, call, row_counts


def _logged(url: str) -> tuple[str, str]:
    """A model with a run that logged steps 0 to 4: their ids."""
    with mltracker.connect(url) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        with model.runs.start(name="first") as run:
            for step in range(5):
                run.metrics.log("loss", float(step), step=step)
    return str(model.id), str(run.id)


def _rewinds(server: Served) -> tuple[int, int]:
    """How many rewinds and superseded points the store holds."""
    with closing(sqlite3.connect(server.path)) as connection:
        rewinds = connection.execute("SELECT count(*) FROM run_rewinds").fetchone()[0]
        points = connection.execute("SELECT count(*) FROM superseded_metrics").fetchone()[0]
    return rewinds, points


def _steps(server: Served, model: str, query: str = "") -> dict[str, Any]:
    answer = call("GET", server.api + f"/models/{model}/metrics{query}")
    assert answer.status == 200, answer.body[:500]
    document: dict[str, Any] = answer.json
    return document


def test_a_resumption_with_rewind_applies_once_and_its_points_read_on_demand(
    server: Served,
) -> None:
    model, run = _logged(server.url)
    body = {"at": 2_000_000_000.0, "rewind": {"id": str(uuid.uuid4()), "step": 3}}
    assert call("POST", server.api + f"/runs/{run}/resume", body).status == 200
    with mltracker.connect(server.url) as tracker:  # a new value of step 3
        again = tracker.experiments.read("e").models.read("m").runs.start(resume=run)  # type: ignore[union-attr]
        again.metrics.log("loss", 30.0, step=3)
        again.finish()
    assert call("POST", server.api + f"/runs/{run}/resume", body).status == 200  # a repeat

    plain = _steps(server, model)
    assert plain["step"] == [0, 1, 2, 3] and plain["value"][-1] == 30.0
    assert "superseded" not in plain
    every = _steps(server, model, "?superseded=true")
    assert every["step"] == [0, 1, 2, 3, 4, 3]
    assert every["superseded"] == [3, 4]
    assert _rewinds(server) == (1, 2)


@pytest.mark.parametrize(
    "rewind",
    [
        {"id": "x", "step": 1},
        {"step": 1},
        {"id": str(uuid.uuid4()), "step": -1},
        {"id": str(uuid.uuid4()), "step": 1.5},
        {"id": str(uuid.uuid4()), "step": "1"},
        {"id": str(uuid.uuid4()), "step": 2**63},
        {"id": str(uuid.uuid4()), "step": 1, "since": "now"},
    ],
)
def test_a_bad_rewind_gets_422_and_changes_nothing(server: Served, rewind: Any) -> None:
    model, run = _logged(server.url)
    before = row_counts(server.path)
    body = {"at": 2_000_000_000.0, "rewind": rewind}
    answer = call("POST", server.api + f"/runs/{run}/resume", body)
    assert_envelope(answer, 422, "invalid_argument")
    assert row_counts(server.path) == before
    assert _rewinds(server) == (0, 0)
    assert _steps(server, model)["step"] == [0, 1, 2, 3, 4]


def test_superseded_points_are_not_thinned_by_a_budget(server: Served) -> None:
    model, _run = _logged(server.url)
    answer = call("GET", server.api + f"/models/{model}/metrics?superseded=true&budget=5")
    assert_envelope(answer, 422, "invalid_argument")
