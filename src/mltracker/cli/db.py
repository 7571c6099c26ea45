"""``mltracker db``: upgrade the schema of a SQL store explicitly, vacuum it, check its
integrity."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import maintenance, migrations, schema
from mltracker.cli.context import CliError, State, json_option, pass_state
from mltracker.cli.output import display_uri
from mltracker.connect import resolve_uri, sqlite_path
from mltracker.errors import BackendError


@click.group()
def db() -> None:
    """Upgrade, vacuum or check the store (SQLite or PostgreSQL)."""


@db.command("upgrade")
@click.option(
    "--adopt",
    is_flag=True,
    help="Also add MLTracker's tables to a database that holds tables of another "
    "application (refused if one of them has the name of one of MLTracker's).",
)
@json_option
@pass_state
def upgrade(state: State, adopt: bool) -> None:
    """Create or upgrade the store's schema to this MLTracker's version.

    Prints the schema version before and after. The first write to a store does the same
    implicitly; reading never does. A store written by a newer MLTracker is refused, and so
    is a database with tables of another application, unless --adopt is given.
    """
    uri = resolve_uri(state.uri)
    engine = _engine(uri)
    try:
        with _located(uri):
            before = migrations.inspect_store(engine, adopt=adopt)
            foreign = before is None and adopt and _has_tables(engine)
            migrations.ensure_schema(engine, adopt=adopt)
            after = engines.run(engine, migrations.read_version, write=False)
    finally:
        engine.dispose()
    if before is None:
        outcome = "adopted" if foreign else "created"
    elif before == after:
        outcome = "already current"
    else:
        outcome = "upgraded"
    shown = "none" if before is None else str(before)
    state.emit(
        {"uri": display_uri(uri), "before": before, "after": after, "outcome": outcome},
        f"{display_uri(uri)}: schema version {shown} -> {after} ({outcome})",
    )


@db.command("vacuum")
@json_option
@pass_state
def vacuum(state: State) -> None:
    """Give back the space of deleted rows and forget metric batch ids older than 7 days.

    SQLite: VACUUM, then the write-ahead log is truncated (the file shrinks). PostgreSQL:
    VACUUM (ANALYZE) of MLTracker's tables. Other processes may keep using the store; on
    SQLite they wait while it runs.
    """
    uri = resolve_uri(state.uri)
    engine = _engine(uri)
    try:
        with _located(uri):
            report = maintenance.vacuum(engine)
    finally:
        engine.dispose()
    state.emit(
        {
            "uri": display_uri(uri),
            "bytes_before": report.bytes_before,
            "bytes_after": report.bytes_after,
            "batch_ids_forgotten": report.batch_ids_forgotten,
        },
        f"{display_uri(uri)}: {_size(report.bytes_before)} -> {_size(report.bytes_after)}"
        f" ({report.batch_ids_forgotten} old batch ids forgotten)",
    )


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


@db.command("check")
@json_option
@pass_state
def check(state: State) -> None:
    """Check the store's integrity: prints "ok", or the problems and exits with 1.

    SQLite: PRAGMA integrity_check and foreign_key_check on a read-only connection (so it
    also works on a store this user may read but not write).
    PostgreSQL: counts the rows that refer to missing rows. Both check the schema version.
    """
    uri = resolve_uri(state.uri)
    path = sqlite_path(uri)
    if path is not None:
        version, problems = _check_sqlite(Path(path))
    else:
        engine = _engine(uri)
        try:
            version, problems = engines.run(engine, _check_sql, write=False)
        finally:
            engine.dispose()
    document = {
        "uri": display_uri(uri),
        "schema_version": version,
        "ok": not problems,
        "problems": problems,
    }
    state.emit(document, *(problems or ["ok"]))
    if problems:
        count = len(problems)
        raise CliError(f"{count} problem{'s' if count > 1 else ''} found in {display_uri(uri)}")


@contextmanager
def _located(uri: str) -> Iterator[None]:
    """Name the store in the message of a backend error raised inside."""
    try:
        yield
    except BackendError as error:
        raise type(error)(f"{display_uri(uri)}: {error}") from error.__cause__


def _has_tables(engine: Engine) -> bool:
    path = engines.sqlite_file(engine)
    if path is not None and not os.path.exists(path):
        return False
    return engines.run(
        engine, lambda connection: bool(sa.inspect(connection).get_table_names()), write=False
    )


def _engine(uri: str) -> Engine:
    scheme = uri.partition("://")[0].split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise CliError(f"db commands work on SQLite and PostgreSQL stores, not {scheme}://")
    return engines.create_engine(uri)


def _version_problems(version: int | None) -> list[str]:
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


def _check_sqlite(path: Path) -> tuple[int | None, list[str]]:
    if not path.is_file():
        raise CliError(f"no store at {path}")
    try:
        connection = engines.connect_sqlite_file(str(path))
    except sqlite3.Error as error:
        raise CliError(f"cannot open {path}: {error}") from None
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
        raise CliError(f"{path} is not a usable SQLite database: {error}") from None
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
    return (
        sa.select(sa.func.count())
        .select_from(child.table)
        .where(child.is_not(None), ~target.exists())
    )


def _orphan_problem(count: int, child: sa.Column[Any], parent: sa.Column[Any]) -> str:
    return (
        f"{_rows(count)} of {child.table.name} {_refer(count)} to missing "
        f"rows of {parent.table.name} ({child.name})"
    )


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _refer(count: int) -> str:
    return "refers" if count == 1 else "refer"
