"""Property-based fuzzing of the REST API from its own OpenAPI description (schemathesis):
no answer is a 5xx, and every 4xx carries the error envelope.

The server runs in a thread of the test process over a fresh SQLite store that holds one
experiment with one model, iteration and module; half of the generated ids are replaced by
those, so that requests reach the store and not only the 404 of an unknown id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

import mltracker
from mltracker.connect import close_all
from mltracker.server.serve import ServerThread, prepared_store

from .helpers import Answer, assert_envelope

#: Examples per operation and mode: the whole run stays within a few seconds.
EXAMPLES = 15


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("fuzz") / "store.db"
    with mltracker.connect(str(path)) as tracker:
        experiment = tracker.experiments.create("fuzz")
        model = experiment.models.create("m")
        model.metrics.log("loss", 0.5, step=0)
        model.modules.log("layer", {"width": 3})
        iteration = model.iterations.create(1)
        iteration.modules.log("optimizer", {"lr": 0.1})
    close_all()
    store = prepared_store(str(path))
    server = ServerThread(store)
    try:
        yield {
            "schema": schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json"),
            "ids": {
                "experiment_id": str(experiment.id),
                "model_id": str(model.id),
                "owner_id": str(model.id),
                "iteration_id": str(iteration.id),
            },
        }
    finally:
        server.stop()
        store.close()


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_answer_is_a_5xx_and_every_4xx_has_the_envelope(
    fuzzed: dict[str, Any], mode: GenerationMode
) -> None:
    """Valid requests (positive) and requests that break the description (negative)."""
    ids = fuzzed["ids"]
    tried: list[str] = []
    for operation in operations(fuzzed["schema"]):

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode), known=st.booleans())
        def check(case: Any, known: bool) -> None:
            if known and case.path_parameters:
                for name in case.path_parameters:
                    if name in ids:
                        case.path_parameters[name] = ids[name]
            response = case.call(timeout=60)
            where = (case.method, case.formatted_path, case.query, case.body)
            assert response.status_code < 500, (where, response.content[:500])
            if response.status_code >= 400:
                headers = {name.lower(): values[0] for name, values in response.headers.items()}
                answer = Answer(response.status_code, headers, response.content)
                assert_envelope(answer, response.status_code)

        try:
            check()
        except Unsatisfiable:  # no request breaks its description (nothing to break)
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        tried.append(operation.label)
    assert len(tried) > 20, tried
