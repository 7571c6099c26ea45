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
from mltracker.backends.sql.check import check_store
from mltracker.backends.sql.store import SqlStore
from mltracker.connect import close_all, resolve_uri
from mltracker.ports.store import Series
from mltracker.values import FLOAT, encode_value


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


def _version_6_tables() -> sa.MetaData:
    """The tables of a store of version 6, the last without runs: the current ones, but for
    ``series``, ``iterations`` and ``modules`` as they were (no ``run_pk``; a series unique
    per model, name and phase) and no ``runs`` (nor the tables of rewinds, of version 8)."""
    meta = sa.MetaData()
    later = ("runs", "series", "iterations", "modules", "run_rewinds", "superseded_metrics")
    for table in schema.metadata.sorted_tables:
        if table.name not in later:
            table.to_metadata(meta)
    key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    def owner(table: str, column: str, nullable: bool = False) -> sa.Column[int]:
        reference = sa.ForeignKey(f"{table}.pk", ondelete="CASCADE")
        return sa.Column(column, key, reference, nullable=nullable)

    sa.Table(
        "series",
        meta,
        sa.Column("pk", key, primary_key=True, autoincrement=True),
        owner("models", "model_pk"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.UniqueConstraint("model_pk", "name", "phase"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "iterations",
        meta,
        sa.Column("pk", key, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        owner("models", "model_pk"),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Double),
        sa.Index("ix_iterations_model_step", "model_pk", "step"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "modules",
        meta,
        sa.Column("pk", key, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        owner("models", "model_pk", nullable=True),
        owner("iterations", "iteration_pk", nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double),
        sa.CheckConstraint(
            "(model_pk IS NULL) <> (iteration_pk IS NULL)", name="ck_modules_one_owner"
        ),
        sa.Index("ix_modules_model", "model_pk"),
        sa.Index("ix_modules_iteration", "iteration_pk"),
        sqlite_autoincrement=True,
    )
    return meta


#: What the version 6 store of :func:`_fill_version_6` holds: per model hash, its points
#: (name, phase, step, value, timestamp), its own modules and its iterations' steps (each
#: with a module).
_BEFORE_RUNS = {
    "a": (
        [
            ("loss", "train", 1, 0.5, 1_000.0),
            ("acc", None, 1, 7, 1_001.0),
            ("loss", "train", 2, float("nan"), 1_002.0),
            ("loss", "validation", 2, 0.25, 1_003.0),
        ],
        ["encoder", "decoder"],
        [1, 2],
    ),
    "b": ([("loss", "train", None, -0.0, 2_000.0)], ["head"], [5]),
    "c": ([], [], []),
}


def _fill_version_6(engine: sa.Engine) -> None:
    """A store of version 6, made as that version made them, holding :data:`_BEFORE_RUNS`
    in experiment "old" (models created at 900.0, 1900.0 and 2900.0)."""
    meta = _version_6_tables()
    tables = meta.tables
    engines.prepare_for_writing(engine)  # a SQLite file may be created
    with engine.begin() as connection:
        meta.create_all(connection)
        connection.execute(sa.insert(tables["mltracker_schema"]).values(version=6))
        connection.execute(sa.insert(tables["mltracker_store"]).values(id=str(uuid.uuid4())))
        experiment_pk = connection.execute(
            sa.insert(tables["experiments"])
            .values(id=uuid.uuid4(), name="old", created_at=800.0)
            .returning(tables["experiments"].c.pk)
        ).scalar_one()
        for number, (hash, (points, own_modules, steps)) in enumerate(_BEFORE_RUNS.items()):
            created = 900.0 + 1_000 * number
            model_pk = connection.execute(
                sa.insert(tables["models"])
                .values(id=uuid.uuid4(), experiment_pk=experiment_pk, hash=hash, created_at=created)
                .returning(tables["models"].c.pk)
            ).scalar_one()
            series_pks: dict[tuple[str, str | None], int] = {}
            for name, phase, step, value, timestamp in points:
                if (name, phase) not in series_pks:
                    series_pks[name, phase] = connection.execute(
                        sa.insert(tables["series"])
                        .values(model_pk=model_pk, name=name, phase=phase or "")
                        .returning(tables["series"].c.pk)
                    ).scalar_one()
                kind, number_value, extra = encode_value(value)
                connection.execute(
                    sa.insert(tables["metrics"]).values(
                        series_pk=series_pks[name, phase],
                        step=step,
                        kind=kind,
                        value=number_value,
                        extra=extra,
                        timestamp=timestamp,
                    )
                )
            for name in own_modules:
                connection.execute(
                    sa.insert(tables["modules"]).values(
                        id=uuid.uuid4(),
                        model_pk=model_pk,
                        name=name,
                        attributes='{"units": 8}',
                        created_at=created,
                    )
                )
            for step in steps:
                iteration_pk = connection.execute(
                    sa.insert(tables["iterations"])
                    .values(id=uuid.uuid4(), model_pk=model_pk, step=step, created_at=created)
                    .returning(tables["iterations"].c.pk)
                ).scalar_one()
                connection.execute(
                    sa.insert(tables["modules"]).values(
                        id=uuid.uuid4(),
                        iteration_pk=iteration_pk,
                        name="optimizer",
                        attributes='{"lr": 0.1}',
                        created_at=created,
                    )
                )


def _contents(uri: str) -> dict[str, tuple[list[tuple[object, ...]], list[str], list[int]]]:
    """Per model hash of experiment "old": its points (id, name, phase, step, value as
    text, timestamp), its own modules' names and its iterations' steps, as read."""
    found = {}
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        for model in experiment.models.list():
            points = [
                (p.id, p.name, p.phase, p.step, repr(p.value), p.timestamp)
                for p in model.metrics.list()
            ]
            modules = [module.name for module in model.modules.list()]
            steps = [iteration.step for iteration in model.iterations.list()]
            found[model.hash] = (points, modules, steps)
    return found


def test_a_store_before_runs_gives_each_model_that_holds_anything_one_finished_run(
    uri: str, engine: sa.Engine
) -> None:
    _fill_version_6(engine)
    before = _contents(uri)  # read as it is
    assert version_rows(engine) == [6]  # reading upgraded nothing
    assert {
        hash: ([(p[1], p[2], p[3], p[4], p[5]) for p in points], modules, steps)
        for hash, (points, modules, steps) in before.items()
    } == {
        hash: ([(n, ph, s, repr(v), t) for n, ph, s, v, t in points], modules, steps)
        for hash, (points, modules, steps) in _BEFORE_RUNS.items()
    }

    assert migrations.ensure_schema(engine) == 6
    close_all()

    assert version_rows(engine) == [schema.SCHEMA_VERSION]
    assert _contents(uri) == before  # the same points, ids and order; modules; iterations
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        models = {model.hash: model for model in experiment.models.list()}
        assert models["c"].runs.list() == []  # it held nothing
        for hash, created, last in (("a", 900.0, 1_003.0), ("b", 1_900.0, 2_000.0)):
            [run] = models[hash].runs.list()
            assert (run.name, run.status, run.exit) == ("before runs", "finished", None)
            assert (run.started_at, run.ended_at) == (created, last)
            points, modules, steps = before[hash]
            # Everything the model held belongs to its run.
            assert [p.id for p in run.metrics.list()] == [point[0] for point in points]
            assert [module.name for module in run.modules.list()] == modules
            assert [iteration.step for iteration in run.iterations.list()] == steps
            for iteration in run.iterations.list():
                assert [module.name for module in iteration.modules.list()] == ["optimizer"]
    with engine.connect() as connection:
        for table in ("series", "iterations"):
            orphans = connection.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE run_pk IS NULL")
            ).scalar()
            assert orphans == 0, table
        model_modules_without_run = connection.execute(
            sa.text("SELECT count(*) FROM modules WHERE model_pk IS NOT NULL AND run_pk IS NULL")
        ).scalar()
        assert model_modules_without_run == 0


def test_a_store_before_rewinds_reads_as_it_is_and_rewinds_once_upgraded(
    uri: str, engine: sa.Engine
) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("old").models.create("m")
        with model.runs.start(name="crashed") as run:
            for step in range(6):
                run.metrics.log("loss", float(step), step=step)
        run_id = run.id
    close_all()
    with engine.begin() as connection:  # what a store of version 7 looks like
        connection.execute(sa.text("DROP TABLE superseded_metrics"))
        connection.execute(sa.text("DROP TABLE run_rewinds"))
        connection.execute(sa.update(schema.schema_version).values(version=7))

    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("old")
        assert experiment is not None
        model = experiment.models.read("m")  # type: ignore[assignment]
        every = model.metrics.list("loss", superseded=True)  # read as it is: none superseded
        assert [(p.step, p.superseded) for p in every] == [(s, False) for s in range(6)]
        assert version_rows(engine) == [7]
        with model.runs.start(resume=run_id, rewind=4) as again:  # a write upgrades it
            again.metrics.log("loss", 40.0, step=4)
        assert [(p.step, p.value) for p in model.metrics.list("loss")] == [
            *[(s, float(s)) for s in range(4)],
            (4, 40.0),
        ]
        superseded = [p.step for p in model.metrics.list("loss", superseded=True) if p.superseded]
        assert superseded == [4, 5]
    assert version_rows(engine) == [schema.SCHEMA_VERSION]
    assert check_store(uri).ok
