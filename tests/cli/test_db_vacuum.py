"""``mltracker db vacuum``: deleted rows give their space back, old batch ids are forgotten,
and nothing else changes."""

from __future__ import annotations

import time

import sqlalchemy as sa

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import maintenance
from mltracker.backends.sql.schema import write_batches
from mltracker.connect import close_all, resolve_uri

from .helpers import Run, assert_error, parse_json


def _batch_ids(uri: str) -> int:
    engine = engines.create_engine(resolve_uri(uri))
    try:
        return int(
            engines.run(
                engine,
                lambda c: c.execute(sa.select(sa.func.count()).select_from(write_batches)).scalar(),
                write=False,
            )
        )
    finally:
        engine.dispose()


def test_vacuum_gives_back_the_space_of_a_deleted_experiment(run: Run, uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        kept = tracker.experiments.create("kept").models.create("k")
        kept.metrics.log("loss", 0.5, step=1)
        gone = tracker.experiments.create("gone")
        model = gone.models.create("g")
        for step in range(50_000):
            model.metrics.log("loss", step / 7, step=step)
        tracker.flush()
        tracker.experiments.delete(gone.id)
    close_all()

    document = parse_json(run("--json", "db", "vacuum").stdout)

    assert document["bytes_after"] < document["bytes_before"]
    with mltracker.connect(uri) as tracker:
        assert [e.name for e in tracker.experiments.list()] == ["kept"]
        experiment = tracker.experiments.read("kept")
        assert experiment is not None
        model = experiment.models.read("k")
        assert model is not None
        assert [(p.step, p.value) for p in model.metrics.list()] == [(1, 0.5)]


def test_vacuum_forgets_only_batch_ids_older_than_a_week(run: Run, uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("m")
        for step in range(3):
            model.metrics.log("loss", 1.0, step=step)
            tracker.flush()  # one batch id each
    engine = engines.create_engine(resolve_uri(uri))
    old = time.time() - (maintenance.BATCH_ID_DAYS + 1) * 86400
    try:
        engines.run(
            engine,
            lambda c: c.execute(
                sa.update(write_batches)
                .where(
                    write_batches.c.id == sa.select(write_batches.c.id).limit(1).scalar_subquery()
                )
                .values(written_at=old)
            ),
            write=True,
        )
    finally:
        engine.dispose()
    close_all()

    result = run("db", "vacuum")

    assert result.exit_code == 0, result.output
    assert "(1 old batch ids forgotten)" in result.stdout
    assert _batch_ids(uri) == 2


def test_vacuum_of_a_missing_store_exits_1_and_creates_nothing(
    run_sqlite: Run, sqlite_uri: str
) -> None:
    import os

    assert_error(run_sqlite("db", "vacuum"), "no store")
    assert not os.path.exists(sqlite_uri)
