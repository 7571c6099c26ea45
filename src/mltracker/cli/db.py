"""``mltracker db``: upgrade the schema of a SQL store explicitly, vacuum it, check its
integrity."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import maintenance, migrations
from mltracker.backends.sql.check import check_store
from mltracker.cli.context import CliError, State, json_option, pass_state
from mltracker.cli.output import display_uri
from mltracker.connect import resolve_uri
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
    _require_sql(uri)
    report = check_store(uri)
    problems = list(report.problems)
    document = {
        "uri": display_uri(uri),
        "schema_version": report.schema_version,
        "ok": report.ok,
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
    _require_sql(uri)
    return engines.create_engine(uri)


def _require_sql(uri: str) -> None:
    scheme = uri.partition("://")[0].split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise CliError(f"db commands work on SQLite and PostgreSQL stores, not {scheme}://")
