"""Requests that create a module or an iteration, or add to a step, carry the id that makes
them repeatable: a repeat is answered as the first time and stores nothing. A request
without the id (from a client that predates it) gets one made by the server, as before."""

from __future__ import annotations

import uuid

from mltracker.errors import InvalidArgumentError

from .conftest import Serve, Served
from .helpers import assert_envelope, call, row_counts


def _model(served: Served) -> str:
    experiment = call("POST", f"{served.api}/experiments", {"name": "e"}).json["id"]
    answer = call("POST", f"{served.api}/experiments/{experiment}/models", {"hash": "h"})
    return str(answer.json["id"])


def test_repeated_requests_with_an_id_are_answered_alike_and_stored_once(serve: Serve) -> None:
    served = serve()
    model = _model(served)
    module_body = {"name": "layer", "attributes_json": '{"units": 8}', "id": str(uuid.uuid4())}
    iteration_body = {"step": 3, "id": str(uuid.uuid4())}
    step_body = {"delta": 2, "op_id": str(uuid.uuid4())}

    answers = [
        [
            call("POST", f"{served.api}/models/{model}/modules", module_body),
            call("POST", f"{served.api}/models/{model}/iterations", iteration_body),
            call("POST", f"{served.api}/models/{model}/step/add", step_body),
        ]
        for _ in range(2)
    ]

    assert [[a.status for a in each] for each in answers] == [[201, 201, 200]] * 2
    assert [[a.json for a in each] for each in answers][0] == [
        [a.json for a in each] for each in answers
    ][1]
    assert answers[0][0].json["id"] == module_body["id"]
    assert answers[0][1].json["id"] == iteration_body["id"]
    assert answers[0][2].json == {"step": 2}
    counts = row_counts(served.path)
    assert (counts["modules"], counts["iterations"]) == (1, 1)
    assert call("GET", f"{served.api}/models/{model}/step").json == {"step": 2}


def test_requests_without_an_id_are_each_applied(serve: Serve) -> None:
    served = serve()
    model = _model(served)

    for _ in range(2):
        module = call("POST", f"{served.api}/models/{model}/modules", {"name": "layer"})
        iteration = call("POST", f"{served.api}/models/{model}/iterations", {"step": 3})
        step = call("POST", f"{served.api}/models/{model}/step/add", {"delta": 2})
        assert (module.status, iteration.status, step.status) == (201, 201, 200)
        uuid.UUID(module.json["id"])
        uuid.UUID(iteration.json["id"])

    counts = row_counts(served.path)
    assert (counts["modules"], counts["iterations"]) == (2, 2)
    assert call("GET", f"{served.api}/models/{model}/step").json == {"step": 4}


def test_a_request_whose_id_is_not_a_uuid_is_refused(serve: Serve) -> None:
    served = serve()
    model = _model(served)

    answer = call("POST", f"{served.api}/models/{model}/modules", {"name": "x", "id": "nope"})

    error = assert_envelope(answer, 422, InvalidArgumentError.code)
    assert "body.id" in error["message"]
    assert row_counts(served.path)["modules"] == 0
