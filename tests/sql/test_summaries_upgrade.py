"""The upgrade that adds the summaries of series (``schema.SUMMARIES_VERSION``) rebuilds them
from the points, and ``summaries.recompute`` gives what the writes kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import migrations, schema, summaries
from mltracker.connect import close_all, resolve_uri


@pytest.fixture
def engine(uri: str) -> Iterator[sa.Engine]:
    engine = engines.create_engine(resolve_uri(uri))
    yield engine
    engine.dispose()


def _rows(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        query = sa.select(schema.summaries).order_by(schema.summaries.c.series_pk)
        return [tuple(row) for row in connection.execute(query)]


def _fill(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.create("old")
        for index in range(3):
            model = experiment.models.create(f"m{index}")
            with model.runs.start(name=f"r{index}") as run:
                for step, value in enumerate([3.0, float("nan"), 1.0, "x", 1.0, 2**60, True]):
                    run.metrics.log("loss", value, step=step + index, phase="train")
                    run.metrics.log("acc", step * 0.1 - index, step=step)
                tracker.flush()
                run.metrics.log("loss", -1.0, step=99, phase="train")
        experiment.models.create("empty")
    close_all()


def test_an_older_store_gets_the_summaries_its_writes_would_have_kept(
    uri: str, engine: sa.Engine
) -> None:
    _fill(uri)
    kept = _rows(engine)
    assert len(kept) == 6
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE summaries"))
        connection.execute(
            sa.update(schema.schema_version).values(version=schema.SUMMARIES_VERSION - 1)
        )

    found = migrations.ensure_schema(engine)

    assert found == schema.SUMMARIES_VERSION - 1
    assert _rows(engine) == kept
    with mltracker.connect(uri) as tracker:
        (run, *_others) = tracker.runs.search("run.name = 'r0'")
        summary = run.summary("loss", phase="train")
    assert summary is not None and (summary.min, summary.argmin, summary.last) == (-1.0, 99, -1.0)


def test_recompute_reports_its_progress_and_matches_the_writes(uri: str, engine: sa.Engine) -> None:
    _fill(uri)
    kept = _rows(engine)
    told: list[tuple[int, int]] = []
    with engine.begin() as connection:
        connection.execute(sa.delete(schema.summaries))
        summaries.recompute(connection, progress=lambda done, total: told.append((done, total)))

    assert _rows(engine) == kept
    assert told == [(6, 6)]


def test_a_store_read_before_its_upgrade_searches_all_but_metrics(
    uri: str, engine: sa.Engine
) -> None:
    _fill(uri)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE summaries"))
        connection.execute(
            sa.update(schema.schema_version).values(version=schema.SUMMARIES_VERSION - 1)
        )

    with mltracker.connect(uri) as tracker:
        assert [run.name for run in tracker.runs.search("run.name != 'r1'")] == ["r0", "r2"]
        with pytest.raises(mltracker.SchemaVersionError, match="upgrade"):
            tracker.runs.search(order_by="metrics.loss@train.min")
        assert tracker.store.read_summaries([tracker.runs.list()[0].id]) == []
    with engine.connect() as connection:  # reading never upgraded it
        assert migrations.read_version(connection) == schema.SUMMARIES_VERSION - 1
