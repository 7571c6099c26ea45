"""The integrity check of a SQL store: what ``mltracker db check`` reports.

:func:`check_store` only reads. On SQLite it opens the file read-only with the plain driver
(so it also works on a store this user may read but not write, and never creates a file) and
runs ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``; on PostgreSQL it counts the
rows whose foreign keys name missing rows and the modules with no single owner. On both it
counts the rows of the references that are not foreign keys (``metrics.series_pk``) that
name missing rows, and it checks the schema version: a database without MLTracker's tables,
or written by a newer MLTracker, is a problem too.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import migrations, schema
from mltracker.errors import (
    BackendError,
    ForeignStoreError,
    InvalidArgumentError,
    NotFoundError,
)
from mltracker.schemes import resolve_uri, sqlite_path

__all__ = ["CheckReport", "check_store"]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :func:`check_store` found: the store's schema version (``None`` when it has
    none) and the problems, one sentence each (none when the store is sound)."""

    schema_version: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


def check_store(uri: str | os.PathLike[str] | None = None) -> CheckReport:
    """Check the integrity of the SQLite or PostgreSQL store at ``uri`` (a path or URL as
    for :func:`mltracker.connect`; by default ``$MLTRACKER_URI``, else ``./mltracker.db``).

    Reads only: nothing is created, upgraded or written, whatever is found.

    Raises:
        InvalidArgumentError: ``uri`` is not a SQLite or PostgreSQL store's.
        NotFoundError: There is no SQLite file at that path.
        ForeignStoreError: The file is not a usable SQLite database.
        BackendError: The SQLite file cannot be opened.
        BackendUnavailableError: PostgreSQL cannot be reached.
    """
    resolved = resolve_uri(uri)
    path = sqlite_path(resolved)
    if path is not None:
        version, problems = _check_sqlite(path)
    else:
        scheme = resolved.partition("://")[0].split("+")[0]
        if scheme not in ("postgresql", "postgres"):
            raise InvalidArgumentError(
                f"integrity checks work on SQLite and PostgreSQL stores, not {scheme}://"
            )
        engine = engines.create_engine(resolved)
        try:
            version, problems = engines.run(engine, _check_sql, write=False)
        finally:
            engine.dispose()
    return CheckReport(version, tuple(problems))


def _version_problems(version: int | None) -> list[str]:
    """The problem with a store of schema ``version`` (``None``: no MLTracker tables), if
    any: none for a version this MLTracker knows."""
    if version is None:
        return ["not an MLTracker store: it has no mltracker_schema table"]
    if version > schema.SCHEMA_VERSION:
        return [
            (
                f"schema version {version} is newer than this MLTracker knows "
                f"({schema.SCHEMA_VERSION}): pip install -U mltracker"
            )
        ]
    return []


def _check_sqlite(path: str) -> tuple[int | None, list[str]]:
    if not os.path.isfile(path):
        raise NotFoundError(f"no store at {path}")
    try:
        connection = engines.connect_sqlite_file(path)
    except sqlite3.Error as error:
        raise BackendError(f"cannot open {path}: {error}") from None
    try:
        problems = [
            f"integrity_check: {row[0]}"
            for row in connection.execute("PRAGMA integrity_check")
            if row[0] != "ok"
        ]
        missing: Counter[tuple[str, str]] = Counter(
            (table, parent)
            for table, _rowid, parent, _key in connection.execute("PRAGMA foreign_key_check")
        )
        problems += [
            f"{_rows(count)} of {table} {_refer(count)} to missing rows of {parent}"
            for (table, parent), count in missing.items()
        ]
        has_schema = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            (schema.schema_version.name,),
        ).fetchone()
        version = None
        if has_schema:
            version = connection.execute(
                f"SELECT max(version) FROM {schema.schema_version.name}"
            ).fetchone()[0]
            for child, parent in schema.UNENFORCED_REFERENCES:
                query = _orphans(child, parent).compile(
                    dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}
                )
                (orphans,) = connection.execute(str(query)).fetchone()
                if orphans:
                    problems.append(_orphan_problem(orphans, child, parent))
    except sqlite3.DatabaseError as error:
        raise ForeignStoreError(f"{path} is not a usable SQLite database: {error}") from None
    finally:
        connection.close()
    return version, _version_problems(version) + problems


def _check_sql(connection: Connection) -> tuple[int | None, list[str]]:
    version = migrations.read_version(connection)
    problems = _version_problems(version)
    if version is None:
        return version, problems
    references = [
        (key.parent, key.column)
        for table in schema.metadata.sorted_tables
        for key in sorted(table.foreign_keys, key=lambda each: each.parent.name)
    ]
    for child, parent in references + schema.UNENFORCED_REFERENCES:
        orphans = connection.execute(_orphans(child, parent)).scalar_one()
        if orphans:
            problems.append(_orphan_problem(orphans, child, parent))
    model, iteration = schema.modules.c.model_pk, schema.modules.c.iteration_pk
    both_or_neither = connection.execute(
        sa.select(sa.func.count())
        .select_from(schema.modules)
        .where(
            sa.or_(
                sa.and_(model.is_(None), iteration.is_(None)),
                sa.and_(model.is_not(None), iteration.is_not(None)),
            )
        )
    ).scalar_one()
    if both_or_neither:
        problems.append(f"{both_or_neither} modules have no single owner (model or iteration)")
    return version, problems


def _orphans(child: sa.Column[Any], parent: sa.Column[Any]) -> sa.Select[Any]:
    """Count the rows whose ``child`` column names no row of ``parent``."""
    target = sa.select(sa.literal(1)).select_from(parent.table).where(parent == child)
    found = (
        sa.select(sa.func.count())
        .select_from(child.table)
        .where(child.is_not(None), ~target.exists())
    )
    if child is schema.metrics.c.series_pk:  # the floor of ordinals is of no series
        found = found.where(child != schema.ORDINAL_FLOOR)
    return found


def _orphan_problem(count: int, child: sa.Column[Any], parent: sa.Column[Any]) -> str:
    return (
        f"{_rows(count)} of {child.table.name} {_refer(count)} to missing "
        f"rows of {parent.table.name} ({child.name})"
    )


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _refer(count: int) -> str:
    return "refers" if count == 1 else "refer"
