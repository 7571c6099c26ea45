"""Schema versions: a store is created at the current version or upgraded step by step.

``ensure_schema`` runs when a store is opened. Reading the version costs one query; only a
fresh or older store takes the lock (SQLite's write lock, a PostgreSQL advisory lock),
reads the version again, and creates or upgrades the schema in that one transaction. So when
many processes open a fresh or old store at once, exactly one of them does the work and the
others find it done. A store of a newer version is refused.

A fresh store gets the current tables of ``schema.py`` directly. An older one runs
``UPGRADES[v]`` for each version ``v`` it is behind: a function that takes the store from
``v`` to ``v + 1`` with explicit DDL (never the current ``schema.py``, which describes only
the newest version).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import schema
from mltracker.errors import SchemaVersionError


def _add_write_batches(connection: Connection) -> None:
    """Version 2: the table of written batch ids, for idempotent metric writes."""
    table = sa.Table(
        "write_batches",
        sa.MetaData(),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("written_at", sa.Double, nullable=False, index=True),
    )
    table.create(connection)


def _add_created_at(connection: Connection) -> None:
    """Version 3: when iterations and modules were created (NULL for the older rows)."""
    double = sa.Double().compile(dialect=connection.dialect)
    inspector = sa.inspect(connection)
    for table in ("iterations", "modules"):
        if "created_at" not in {column["name"] for column in inspector.get_columns(table)}:
            connection.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN created_at {double}"))


#: ``UPGRADES[v]`` takes a store from version ``v`` to ``v + 1``.
UPGRADES: dict[int, Callable[[Connection], None]] = {1: _add_write_batches, 2: _add_created_at}


def read_version(connection: Connection) -> int | None:
    """The store's schema version, or ``None`` for a store without MLTracker tables."""
    if not sa.inspect(connection).has_table(schema.schema_version.name):
        return None
    return connection.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()


def _refuse_newer(version: int | None) -> None:
    if version is not None and version > schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the store has schema version {version}, but this MLTracker knows versions up to "
            f"{schema.SCHEMA_VERSION}: upgrade MLTracker (pip install -U mltracker)"
        )


def ensure_schema(engine: Engine, target: int | None = None) -> int | None:
    """Create or upgrade the store's schema to ``target`` (default: the current version);
    return the version found before.

    Raises:
        SchemaVersionError: The store is newer than this code.
    """
    if target is None:
        target = schema.SCHEMA_VERSION
    found = engines.run(engine, read_version, write=False)
    _refuse_newer(found)
    if found == target:
        return found
    wanted = target
    return engines.run(engine, lambda connection: _migrate(connection, wanted), write=True)


def _migrate(connection: Connection, target: int) -> int | None:
    engines.lock_for_schema_change(connection)
    found = read_version(connection)
    _refuse_newer(found)
    if found is not None and found >= target:  # another process got there first
        return found
    if found is None:
        schema.metadata.create_all(connection)
        connection.execute(sa.insert(schema.schema_version).values(version=target))
        return found
    for version in range(found, target):
        UPGRADES[version](connection)
    connection.execute(sa.update(schema.schema_version).values(version=target))
    return found
