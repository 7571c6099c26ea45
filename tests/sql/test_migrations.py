"""Schema versions: creation, upgrade and refusal, also with many processes at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import mltracker
from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import migrations, schema
from mltracker.backends.sql.store import SqlStore
from mltracker.connect import close_all, resolve_uri
from mltracker.ports.store import Series
from mltracker.values import FLOAT


@pytest.fixture
def engine(uri: str) -> Iterator[sa.Engine]:
    engine = engines.create_engine(resolve_uri(uri))
    yield engine
    engine.dispose()


def version_rows(engine: sa.Engine) -> list[int]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(sa.select(schema.schema_version.c.version))]


def test_fresh_store_is_created_at_the_current_version_by_the_first_write(
    uri: str, engine: sa.Engine
) -> None:
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("first")
    assert version_rows(engine) == [schema.SCHEMA_VERSION]


def test_store_of_a_newer_version_is_refused_and_left_alone(uri: str, engine: sa.Engine) -> None:
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("kept")
    close_all()
    with engine.begin() as connection:
        connection.execute(sa.update(schema.schema_version).values(version=99))
    with pytest.raises(mltracker.SchemaVersionError, match="schema version 99"):
        mltracker.connect(uri)
    with engine.connect() as connection:
        names = connection.execute(sa.select(schema.experiments.c.name)).scalars().all()
    assert names == ["kept"]
    assert version_rows(engine) == [99]


def test_older_store_is_upgraded_once_and_keeps_its_data(
    uri: str, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("m")
        model.metrics.log("loss", 0.5, step=1)
    close_all()

    runs: list[int] = []

    def add_notes(connection: sa.Connection) -> None:
        runs.append(1)
        connection.execute(sa.text("ALTER TABLE experiments ADD COLUMN notes TEXT"))

    monkeypatch.setitem(migrations.UPGRADES, schema.SCHEMA_VERSION, add_notes)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    found = migrations.ensure_schema(engine, schema.SCHEMA_VERSION)
    assert found == schema.SCHEMA_VERSION - 1
    assert migrations.ensure_schema(engine, schema.SCHEMA_VERSION) == schema.SCHEMA_VERSION
    assert runs == [1]
    assert version_rows(engine) == [schema.SCHEMA_VERSION]
    # Asking for an older version never takes a store back.
    migrations.ensure_schema(engine, schema.SCHEMA_VERSION - 1)
    assert version_rows(engine) == [schema.SCHEMA_VERSION]
    with engine.connect() as connection:
        notes = connection.execute(sa.text("SELECT name, notes FROM experiments")).all()
    assert [tuple(row) for row in notes] == [("old", None)]


def test_version_1_store_gets_the_batch_table_and_keeps_its_data(
    uri: str, engine: sa.Engine
) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("m")
        model.metrics.log("loss", 0.5, step=1)
    close_all()
    with engine.begin() as connection:  # what a store of version 1 looks like
        connection.execute(sa.text("DROP TABLE write_batches"))
        connection.execute(sa.text("DROP TABLE step_operations"))  # added in version 4
        for table in ("iterations", "modules"):  # added in version 3
            connection.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN created_at"))
        connection.execute(sa.update(schema.schema_version).values(version=1))

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        model = experiment.models.read("m")  # type: ignore[assignment]
        assert [(p.step, p.value) for p in model.metrics.list()] == [(1, 0.5)]
        model.metrics.log("loss", 0.25, step=2)
    assert version_rows(engine) == [schema.SCHEMA_VERSION]
    assert sa.inspect(engine).has_table("write_batches")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM write_batches")).scalar() == 1


def test_version_3_store_gets_the_step_operations_table_and_keeps_its_data(
    uri: str, engine: sa.Engine
) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("m")
        model.step = 5
        model.modules.log("layer", {"units": 8})
    close_all()
    with engine.begin() as connection:  # what a store of version 3 looks like
        connection.execute(sa.text("DROP TABLE step_operations"))
        connection.execute(sa.update(schema.schema_version).values(version=3))

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        model = experiment.models.read("m")  # type: ignore[assignment]
        assert model.step == 5
        assert version_rows(engine) == [3]  # reading upgraded nothing
        op_id = uuid.uuid4()
        assert tracker.store.add_step(model.id, 1, op_id=op_id) == 6
        assert tracker.store.add_step(model.id, 1, op_id=op_id) == 6
        assert [m.attributes for m in model.modules.list()] == [{"units": 8}]
    assert version_rows(engine) == [schema.SCHEMA_VERSION]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM step_operations")).scalar() == 1


def test_a_store_before_the_writers_of_batches_gets_them_and_is_read_as_it_is(
    uri: str, engine: sa.Engine
) -> None:
    before = next(  # the version that the upgrade adding ``write_batches.writer`` starts from
        version
        for version, upgrade in migrations.UPGRADES.items()
        if upgrade is migrations._add_batch_writers
    )
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("m")
        model.metrics.log("loss", 0.5, step=1)
    close_all()
    with engine.begin() as connection:  # what a store of that version looks like
        connection.execute(sa.text("ALTER TABLE write_batches DROP COLUMN writer"))
        connection.execute(sa.update(schema.schema_version).values(version=before))

    with mltracker.connect(uri) as tracker:
        [old] = tracker.store.list_batches()
        assert old.writer is None
        assert tracker.store.list_batches(writer="alice") == []
        assert version_rows(engine) == [before]  # reading upgraded nothing
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        model = experiment.models.read("m")  # type: ignore[assignment]
        tracker.store.write_points(
            [(Series(model.id, "loss", None), 2, FLOAT, 0.25, None, 1.0)], uuid.uuid4(), writer="a"
        )
        assert [batch.writer for batch in tracker.store.list_batches()] == ["a", None]
        assert [(p.step, p.value) for p in model.metrics.list()] == [(1, 0.5), (2, 0.25)]
    assert version_rows(engine) == [schema.SCHEMA_VERSION]


def _stored_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(sa.select(schema.store_identity.c.id))]


def test_a_store_gets_a_random_id_when_created_and_keeps_it(uri: str, engine: sa.Engine) -> None:
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("first")
    ids = _stored_ids(engine)
    assert len(ids) == 1 and uuid.UUID(ids[0])
    store = SqlStore(resolve_uri(uri))
    try:
        assert store.store_id() == ids[0]
        assert store.identity() == (ids[0], schema.SCHEMA_VERSION)
        store.close()  # forgets what it read; the store keeps it
        assert store.store_id() == ids[0]
    finally:
        store.close()


def test_two_stores_have_two_ids(tmp_path: Path) -> None:
    found = []
    for name in ("a.db", "b.db"):
        store = SqlStore(resolve_uri(str(tmp_path / name)))
        try:
            store.prepare()
            found.append(store.store_id())
        finally:
            store.close()
    assert found[0] != found[1]


def test_an_older_store_gets_its_id_on_upgrade_and_reads_without_one(
    uri: str, engine: sa.Engine
) -> None:
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("old")
    close_all()
    with engine.begin() as connection:  # what a store of version 3 looks like
        connection.execute(sa.text("DROP TABLE mltracker_store"))
        connection.execute(sa.update(schema.schema_version).values(version=3))
    engine.dispose()

    store = SqlStore(resolve_uri(uri))
    try:
        before = store.store_id()  # read only: a stable stand-in, nothing written
        assert before.startswith("uri-") and store.store_id() == before
        assert version_rows(engine) == [3]
        store.prepare()  # the upgrade gives it its id
        after = store.store_id()
        assert _stored_ids(engine) == [after] and uuid.UUID(after)
        assert version_rows(engine) == [schema.SCHEMA_VERSION]
    finally:
        store.close()
