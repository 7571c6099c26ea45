"""The runs of a SQL store (since schema version 7): their rows, and the run a point,
module or iteration names.

The functions take the connection of a transaction that the store opened. A store older than
version 7 that is only read has no ``runs`` table: its reads answer no runs.
"""

from __future__ import annotations

import weakref
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltracker.backends.sql import engine as engines
from mltracker.backends.sql import rewinds
from mltracker.backends.sql.engine import uuid_from_driver
from mltracker.backends.sql.schema import models, pk_of, runs
from mltracker.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from mltracker.ports.store import Rewind, RunRow, RunStart, RunStatus
from mltracker.values import loads_json

#: The statuses that end a run.
ENDED: frozenset[str] = frozenset({"finished", "failed", "killed"})

#: A run's own fields, in the order of :class:`RunRow` after its two ids.
FIELDS = (
    runs.c.name,
    runs.c.status,
    runs.c.started_at,
    runs.c.ended_at,
    runs.c.heartbeat_at,
    runs.c.timeout,
    runs.c.params,
    runs.c.context,
    runs.c.exit,
)
_COLUMNS = (runs.c.id, models.c.id, *FIELDS)
_SELECT = sa.select(*_COLUMNS).select_from(runs.join(models, models.c.pk == runs.c.model_pk))


def row_of(found: Any) -> RunRow:
    """A run of a row of its id, its model's id and :data:`FIELDS`."""
    run_id, model_id = uuid_from_driver(found[0]), uuid_from_driver(found[1])
    assert run_id is not None and model_id is not None
    return RunRow(
        run_id,
        model_id,
        found[2],
        found[3],
        found[4],
        found[5],
        found[6],
        found[7],
        loads_json(found[8]),
        loads_json(found[9]),
        found[10],
    )


def has_runs(connection: Connection) -> bool:
    """Whether the store has the runs table (version 7 or later)."""
    return sa.inspect(connection).has_table(runs.name)


#: The schema version that added runs.
RUNS_VERSION = 7

#: The engines whose store was seen with runs: a schema is never downgraded, so that it
#: is not looked up again (a look-up costs about 0.3 ms, and a statement).
_WITH_RUNS: weakref.WeakSet[Engine] = weakref.WeakSet()


def note_version(engine: Engine, version: int | None) -> None:
    """What a store knows of its schema version: from :data:`RUNS_VERSION` on, its reads of
    points take each one's run without looking the table up."""
    if version is not None and version >= RUNS_VERSION:
        _WITH_RUNS.add(engine)


def keeps_runs(connection: Connection) -> bool:
    """:func:`has_runs`, remembered per engine once true (for the reads of points, which
    name each one's run where the store keeps them)."""
    engine = connection.engine
    if engine in _WITH_RUNS:
        return True
    if not has_runs(connection):
        return False
    _WITH_RUNS.add(engine)
    return True


def read_run(connection: Connection, run_id: UUID) -> RunRow | None:
    if not keeps_runs(connection):
        return None
    found = connection.execute(_SELECT.where(runs.c.id == run_id)).first()
    return None if found is None else row_of(found)


def list_runs(connection: Connection, model_id: UUID) -> list[RunRow]:
    if not keeps_runs(connection):
        return []
    statement = _SELECT.where(models.c.id == model_id).order_by(runs.c.pk)
    return [row_of(found) for found in connection.execute(statement)]


def list_experiment_runs(connection: Connection, experiment_pk: Any) -> list[RunRow]:
    if not keeps_runs(connection):
        return []
    statement = _SELECT.where(models.c.experiment_pk == experiment_pk).order_by(runs.c.pk)
    return [row_of(found) for found in connection.execute(statement)]


def start_run(connection: Connection, start: RunStart) -> RunRow:
    model_pk = connection.execute(sa.select(pk_of(models, start.model_id))).scalar()
    if model_pk is None:
        raise NotFoundError(f"model {start.model_id} not found")
    found = connection.execute(
        sa.select(runs.c.model_pk, runs.c.started_at).where(runs.c.id == start.id)
    ).first()
    fields = {
        "name": start.name,
        "params": start.params_json,
        "context": start.context_json,
        "timeout": start.timeout,
    }
    if found is None:
        insert = sa.insert(runs).values(
            id=start.id,
            model_pk=model_pk,
            status="running",
            started_at=start.started_at,
            heartbeat_at=start.started_at,
            **fields,
        )
        try:
            connection.execute(insert)
        except sa.exc.IntegrityError as error:
            if engines.is_foreign_key_violation(error):  # the model was just deleted
                raise NotFoundError(f"model {start.model_id} not found") from None
            raise
    elif found[0] != model_pk:
        raise AlreadyExistsError(f"a run of id {start.id} exists already, of another model")
    else:  # a retry, a replay, or the bare run of points that arrived first
        started_at = min(found[1], start.started_at)
        connection.execute(
            sa.update(runs).where(runs.c.id == start.id).values(started_at=started_at, **fields)
        )
    row = read_run(connection, start.id)
    assert row is not None
    return row


def resume_run(
    connection: Connection,
    run_id: UUID,
    at: float,
    timeout: float | None,
    rewind: Rewind | None = None,
) -> RunRow:
    """The run ``running`` again; with ``rewind``, its points from a step on superseded in
    the same transaction (``rewinds.rewind_run``)."""
    done = connection.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(status="running", ended_at=None, exit=None, heartbeat_at=at, timeout=timeout)
        .returning(runs.c.pk)
    )
    run_pk = done.scalar()
    if run_pk is None:
        raise NotFoundError(f"run {run_id} not found")
    if rewind is not None:
        rewinds.rewind_run(connection, int(run_pk), rewind, at)
    row = read_run(connection, run_id)
    assert row is not None
    return row


def heartbeat_run(connection: Connection, run_id: UUID, at: float) -> None:
    connection.execute(
        sa.update(runs)
        .where(
            runs.c.id == run_id,
            sa.or_(runs.c.heartbeat_at.is_(None), runs.c.heartbeat_at < at),
        )
        .values(heartbeat_at=at)
    )


def end_run(
    connection: Connection, run_id: UUID, status: RunStatus, exit: str | None, at: float
) -> None:
    if status not in ENDED:
        raise InvalidArgumentError(f"a run ends finished, failed or killed, not {status!r}")
    done = connection.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, exit=exit, ended_at=at, heartbeat_at=at)
    )
    if done.rowcount == 0:
        raise NotFoundError(f"run {run_id} not found")


def run_key(connection: Connection, model_pk: int, run_id: UUID, now: float) -> int:
    """The key of a model's run, for a row that belongs to it; a run the store has not seen
    yet is started bare (``running``, no name: its start fills it in).

    Raises:
        InvalidArgumentError: The run is another model's.
    """
    found = connection.execute(
        sa.select(runs.c.pk, runs.c.model_pk).where(runs.c.id == run_id)
    ).first()
    if found is None:
        insert = (
            sa.insert(runs)
            .values(
                id=run_id,
                model_pk=model_pk,
                status="running",
                started_at=now,
                heartbeat_at=now,
                params="{}",
                context="{}",
            )
            .returning(runs.c.pk)
        )
        try:
            with connection.begin_nested():
                return int(connection.execute(insert).scalar_one())
        except sa.exc.IntegrityError as error:  # made by another writer meanwhile?
            if engines.is_foreign_key_violation(error):  # no: its model was just deleted
                raise NotFoundError(f"the model of run {run_id} not found") from None
            found = connection.execute(
                sa.select(runs.c.pk, runs.c.model_pk).where(runs.c.id == run_id)
            ).first()
            if found is None:
                raise
    if found[1] != model_pk:
        raise InvalidArgumentError(f"run {run_id} is a run of another model")
    return int(found[0])
