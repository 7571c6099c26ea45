"""The ids of applied step increments: noted with the increment, forgotten after a week."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import maintenance
from mltracker.backends.sql.schema import step_operations
from mltracker.connect import close_all, resolve_uri


@pytest.fixture
def engine(uri: str) -> Iterator[sa.Engine]:
    engine = engines.create_engine(resolve_uri(uri))
    yield engine
    engine.dispose()


def _noted(engine: sa.Engine) -> list[tuple[uuid.UUID, int]]:
    statement = sa.select(step_operations.c.id, step_operations.c.step).order_by(
        step_operations.c.step
    )
    return engines.run(engine, lambda c: [tuple(r) for r in c.execute(statement)], write=False)


def test_increment_with_an_id_is_noted_with_the_step_it_made(uri: str, engine: sa.Engine) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        first, second = uuid.uuid4(), uuid.uuid4()
        tracker.store.add_step(model.id, 2, op_id=first)
        tracker.store.add_step(model.id, 3, op_id=second)
        tracker.store.add_step(model.id, 3, op_id=second)
        tracker.store.add_step(model.id, 1)  # no id: not noted

    assert _noted(engine) == [(first, 2), (second, 5)]


def test_vacuum_forgets_only_operation_ids_older_than_a_week(uri: str, engine: sa.Engine) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        ids = [uuid.uuid4() for _ in range(3)]
        for op_id in ids:
            tracker.store.add_step(model.id, 1, op_id=op_id)
    close_all()
    old = time.time() - (maintenance.BATCH_ID_DAYS + 1) * 86400
    update = sa.update(step_operations).where(step_operations.c.id == ids[0])
    engines.run(engine, lambda c: c.execute(update.values(applied_at=old)), write=True)

    report = maintenance.vacuum(engine)

    assert report.operation_ids_forgotten == 1
    assert _noted(engine) == [(ids[1], 2), (ids[2], 3)]
