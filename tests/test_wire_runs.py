"""The run of each series in the wire's read documents: a list of its own beside ``series``,
whose entries stay at three so that a client that predates runs reads them."""

from __future__ import annotations

import uuid

from mltracker import wire
from mltracker.entities import Metric

MODEL = uuid.uuid4()
RUN_A, RUN_B = uuid.uuid4(), uuid.uuid4()


def point(ordinal: int, run: uuid.UUID | None, phase: str | None = None) -> Metric:
    return Metric("loss", ordinal * 0.5, ordinal, phase, 1.0 + ordinal, ordinal, MODEL, None, run)


def test_a_name_logged_by_two_runs_is_a_series_each_with_its_run() -> None:
    points = [point(1, RUN_A), point(2, RUN_B), point(3, RUN_A), point(4, None)]

    document = wire.metrics_document(points)

    assert document["series"] == [[str(MODEL), "loss", None]] * 3
    assert document["runs"] == [str(RUN_A), str(RUN_B), None]
    assert document["s"] == [0, 1, 0, 2]
    back = wire.metrics_from_document(document)
    assert [(p.ordinal, p.run_id) for p in back] == [(1, RUN_A), (2, RUN_B), (3, RUN_A), (4, None)]


def test_points_of_no_run_make_the_document_they_made_before_runs() -> None:
    document = wire.metrics_document([point(1, None), point(2, None, "train")])

    assert "runs" not in document
    assert [p.run_id for p in wire.metrics_from_document(document)] == [None, None]


def test_a_client_that_predates_runs_reads_every_entry_as_before() -> None:
    document = wire.metrics_document([point(1, RUN_A), point(2, RUN_B)])

    # what such a client did with each entry
    series = [(uuid.UUID(model_id), name, phase) for model_id, name, phase in document["series"]]
    assert series == [(MODEL, "loss", None)] * 2
