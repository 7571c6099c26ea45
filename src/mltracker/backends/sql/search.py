"""Run searches (``mltracker.search``) compiled into one SQLAlchemy Core query, every literal a
bound parameter, on SQLite and PostgreSQL alike.

Each field becomes three expressions (:class:`_Value`): ``present`` (whether the run has it),
``number`` (its value if it is a number: JSON numbers, bools as 0 and 1, numeric points) and
``text`` (its value if it is a string). The rules, which the README's "Sweeps" states:

- A condition on a field that a run lacks (no such parameter, series or module attribute, a
  JSON null, ``min`` of a series without numbers, ``ended_at`` of a run that has not ended) is
  unknown: neither it nor its ``NOT`` selects the run (SQL's NULL logic). ``IS NULL`` is true
  for exactly those.
- A value that is there compares as Python compares: numbers with numbers, strings with
  strings (by code point); a number and a string are never equal (``!=`` is true) and never
  less or greater; NaN equals nothing. ``LIKE`` matches strings only, case-sensitively, ``%``
  any text and ``_`` one character.
- An order puts numbers first (in their order), then strings, then other values (NaN, JSON
  lists and objects), then runs that lack the field, in both directions; ties go to the oldest
  run first.

Parameters and module attributes are JSON text, read with each database's JSON functions. A
NaN or an infinity (which MLTracker's JSON keeps, but the databases' parsers refuse) is first
rewritten in the text: an infinity as ``1e999`` (read as a float infinity) and NaN as ``[]``
(a value that is neither a number nor a string); both rewrites only ever change the inside of
a string when it holds those very characters, and never make the text invalid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mltracker import search as grammar
from mltracker.backends.sql import runs as sql_runs
from mltracker.backends.sql.schema import (
    SUMMARIES_VERSION,
    experiments,
    iterations,
    models,
    modules,
    runs,
    series,
    summaries,
)
from mltracker.errors import InvalidArgumentError, SchemaVersionError
from mltracker.ports.store import RunRow
from mltracker.values import JSON

_TRUE = sa.true()
_FALSE = sa.false()


@dataclass(frozen=True, slots=True)
class _Value:
    present: sa.ColumnElement[bool]
    number: sa.ColumnElement[Any] | None
    text: sa.ColumnElement[Any] | None


class _Compiler:
    def __init__(self, dialect: str, now: float) -> None:
        self.postgres = dialect == "postgresql"
        self.now = now
        self.joined: sa.FromClause = runs.join(models, models.c.pk == runs.c.model_pk).join(
            experiments, experiments.c.pk == models.c.experiment_pk
        )
        self.series: dict[tuple[str, str], sa.FromClause] = {}

    # Values

    def value(self, field: grammar.Field) -> _Value:
        namespace = field.namespace
        if namespace == "params":
            return self.json_value(runs.c.params, field.path)
        if namespace == "modules":
            return self.json_value(self.module_attributes(field.path[0]), field.path[1:])
        if namespace == "metrics":
            return self.metric_value(field)
        if namespace == "run":
            return self.run_value(field.path[0])
        if namespace == "model":
            attribute = field.path[0]
            if attribute == "step":
                return _Value(_TRUE, models.c.step, None)
            column = models.c[attribute]
            return _Value(column.is_not(None), None, column)
        return _Value(_TRUE, None, experiments.c.name)

    def status(self) -> sa.ColumnElement[Any]:
        """The status a reader shows (``crashed`` judged at the search's time)."""
        last = sa.func.coalesce(runs.c.heartbeat_at, runs.c.started_at)
        crashed = sa.and_(
            runs.c.status == "running",
            runs.c.timeout.is_not(None),
            sa.literal(self.now) - last > runs.c.timeout,
        )
        return sa.case((crashed, sa.literal("crashed")), else_=runs.c.status)

    def run_value(self, attribute: str) -> _Value:
        if attribute == "status":
            return _Value(_TRUE, None, self.status())
        if attribute == "name":
            return _Value(runs.c.name.is_not(None), None, runs.c.name)
        if attribute == "host":
            return self.json_value(runs.c.context, ("host",))
        if attribute == "started_at":
            return _Value(_TRUE, runs.c.started_at, None)
        if attribute == "ended_at":
            return _Value(runs.c.ended_at.is_not(None), runs.c.ended_at, None)
        end = sa.case(
            (runs.c.ended_at.is_not(None), runs.c.ended_at),
            (self.status() == "running", sa.literal(self.now)),
            else_=sa.func.coalesce(runs.c.heartbeat_at, runs.c.started_at),
        )
        duration = end - runs.c.started_at
        return _Value(_TRUE, sa.case((duration > 0.0, duration), else_=0.0), None)

    def module_attributes(self, name: str) -> sa.ColumnElement[Any]:
        """The attributes (JSON text) of the latest module of that name logged in the run (a
        module of its model or of one of its iterations), else of the model's latest."""
        own = modules.alias()
        of_run = (
            sa.select(own.c.attributes)
            .where(
                own.c.name == name,
                sa.or_(
                    own.c.run_pk == runs.c.pk,
                    own.c.iteration_pk.in_(
                        sa.select(iterations.c.pk)
                        .where(iterations.c.run_pk == runs.c.pk)
                        .correlate(runs)
                    ),
                ),
            )
            .order_by(own.c.pk.desc())
            .limit(1)
            .correlate(runs)
            .scalar_subquery()
        )
        any_run = modules.alias()
        of_model = (
            sa.select(any_run.c.attributes)
            .where(any_run.c.name == name, any_run.c.model_pk == runs.c.model_pk)
            .order_by(any_run.c.pk.desc())
            .limit(1)
            .correlate(runs)
            .scalar_subquery()
        )
        return sa.func.coalesce(of_run, of_model)

    def metric_value(self, field: grammar.Field) -> _Value:
        name = field.path[0]
        phase = "" if field.phase is None else field.phase
        summary = self.series.get((name, phase))
        if summary is None:
            chosen = series.alias(f"s{len(self.series)}")
            summary = summaries.alias(f"m{len(self.series)}")
            self.joined = self.joined.outerjoin(
                chosen,
                sa.and_(
                    chosen.c.run_pk == runs.c.pk, chosen.c.name == name, chosen.c.phase == phase
                ),
            ).outerjoin(summary, summary.c.series_pk == chosen.c.pk)
            self.series[name, phase] = summary
        column = summary.c
        aggregate = field.aggregate
        if aggregate in ("count", "nan_count"):
            return _Value(column.series_pk.is_not(None), column[aggregate], None)
        if aggregate in ("min", "max"):
            value = column[f"{aggregate}_value"]
            return _Value(value.is_not(None), value, None)
        if aggregate in ("argmin", "argmax"):
            step = column[f"{aggregate[3:]}_step"]
            return _Value(step.is_not(None), step, None)
        kind, value, extra = (column[f"{aggregate}_{part}"] for part in ("kind", "value", "extra"))
        string = sa.and_(kind == JSON, sa.func.substr(extra, 1, 1) == '"')
        if self.postgres:
            decoded: Any = sa.cast(extra, _jsonb()).op("#>>", return_type=sa.Text)(_WHOLE)
        else:
            decoded = sa.func.json_extract(extra, "$")
        return _Value(kind.is_not(None), value, sa.case((string, decoded)))

    def json_value(self, source: sa.ColumnElement[Any], keys: Sequence[str]) -> _Value:
        """A value inside a JSON object's text: ``keys`` lead to it."""
        for key in keys:
            if '"' in key or "\\" in key:
                raise InvalidArgumentError(
                    f"a key with a double quote or a backslash cannot be searched: {key!r}"
                )
        rewritten = source
        for bare, replacement in _REWRITES:
            rewritten = sa.func.replace(rewritten, bare, replacement)
        # The rewrites only run on a text that holds NaN or an infinity somewhere.
        unusual = sa.func.strpos if self.postgres else sa.func.instr
        text = sa.case(
            (unusual(source, "NaN") + unusual(source, "Infinity") == 0, source),
            else_=rewritten,
        )
        if self.postgres:
            element: Any = sa.cast(text, _jsonb())
            for key in keys:
                element = element.op("->")(sa.literal(key, sa.Text))
            kind = sa.func.jsonb_typeof(element)
            scalar = element.op("#>>", return_type=sa.Text)(_WHOLE)
            exact = sa.cast(element, sa.Numeric)
            finite = sa.case(
                (exact > _HUGE, sa.literal(math.inf, sa.Double)),
                (exact < -_HUGE, sa.literal(-math.inf, sa.Double)),
                else_=sa.cast(scalar, sa.Double),
            )
            truth = sa.case((scalar == "true", 1.0), else_=0.0)
            number = sa.case({"number": finite, "boolean": truth}, value=kind)
            string = sa.case({"string": scalar}, value=kind)
        else:
            path = "$" + "".join(f'."{key}"' for key in keys)
            kind = sa.func.json_type(text, path)
            extracted = sa.func.json_extract(text, path)
            number = sa.case(
                {"integer": extracted, "real": extracted, "true": 1.0, "false": 0.0}, value=kind
            )
            string = sa.case({"text": extracted}, value=kind)
        return _Value(sa.func.coalesce(kind, "null") != "null", number, string)

    # Conditions

    def text_order(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.collate(text, "C") if self.postgres else text

    def condition(self, condition: grammar.Condition) -> sa.ColumnElement[Any]:
        if isinstance(condition, grammar.And):
            return sa.and_(*(self.condition(operand) for operand in condition.operands))
        if isinstance(condition, grammar.Or):
            return sa.or_(*(self.condition(operand) for operand in condition.operands))
        if isinstance(condition, grammar.Not):
            return sa.not_(self.condition(condition.operand))
        value = self.value(condition.field)
        if isinstance(condition, grammar.IsNull):
            return sa.not_(value.present)
        if isinstance(condition, grammar.Like):
            if value.text is None:
                return sa.case((value.present, _FALSE))
            matched = self.like(value.text, condition.pattern)
            return sa.case((value.present, sa.func.coalesce(matched, _FALSE)))
        if isinstance(condition, grammar.In):
            tests = [self.equal(value, literal) for literal in condition.values]
            return sa.case((value.present, sa.func.coalesce(sa.or_(*tests), _FALSE)))
        assert isinstance(condition, grammar.Compare)
        operator, literal = condition.operator, condition.value
        if operator in ("=", "!="):
            equal = sa.func.coalesce(self.equal(value, literal), _FALSE)
            test = equal if operator == "=" else sa.not_(equal)
            return sa.case((value.present, test))
        if isinstance(literal, str):
            operand = None if value.text is None else self.text_order(value.text)
        elif math.isnan(literal):
            operand = None
        else:
            operand = value.number
        if operand is None:
            return sa.case((value.present, _FALSE))
        bound = sa.literal(literal, sa.Text if isinstance(literal, str) else sa.Double)
        compared = {
            "<": operand < bound,
            "<=": operand <= bound,
            ">": operand > bound,
            ">=": operand >= bound,
        }[operator]
        return sa.case((value.present, sa.func.coalesce(compared, _FALSE)))

    def equal(self, value: _Value, literal: grammar.Value) -> sa.ColumnElement[Any]:
        if isinstance(literal, str):
            if value.text is None:
                return _FALSE
            return self.text_order(value.text) == sa.literal(literal, sa.Text)
        if math.isnan(literal) or value.number is None:
            return _FALSE
        return value.number == sa.literal(float(literal), sa.Double)

    def like(self, text: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[Any]:
        if self.postgres:
            escaped = pattern.replace("\\", "\\\\")
            return self.text_order(text).like(sa.literal(escaped, sa.Text))
        glob = "".join(_GLOB.get(char, char) for char in pattern)
        return text.op("GLOB", is_comparison=True)(sa.literal(glob, sa.Text))

    # Orders

    def order(self, key: grammar.OrderKey) -> list[sa.ColumnElement[Any]]:
        value = self.value(key.field)
        rank_cases: list[tuple[sa.ColumnElement[bool], int]] = []
        if value.number is not None:
            rank_cases.append((value.number.is_not(None), 0))
        if value.text is not None:
            rank_cases.append((value.text.is_not(None), 1))
        rank_cases.append((value.present, 2))
        keys: list[sa.ColumnElement[Any]] = [sa.case(*rank_cases, else_=3)]
        for part in (value.number, None if value.text is None else self.text_order(value.text)):
            if part is not None:
                keys.append(part.desc() if key.descending else part.asc())
        return keys


#: Bare NaN and infinities in JSON text (after ``:``, ``[`` or ``,``), and what replaces them.
_REWRITES = [
    (f"{before}{token}", f"{before}{replacement}")
    for token, replacement in (("-Infinity", "-1e999"), ("Infinity", "1e999"), ("NaN", "[]"))
    for before in ":[,"
]
#: The largest float, as a PostgreSQL ``numeric`` (a JSON number beyond it is an infinity).
_HUGE = sa.cast(sa.literal("1.7976931348623157e308", sa.Text), sa.Numeric)
#: The path of a whole JSON value, for PostgreSQL's ``#>>``.
_WHOLE: sa.ColumnElement[Any] = sa.literal_column("'{}'")
_GLOB = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}


def _jsonb() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB


def check(where: str | None, order_by: str | None, limit: int | None) -> None:
    """Parse a search without running it, so that a bad one fails before any connection.

    Raises:
        InvalidArgumentError: The condition or order does not parse, or a bad limit.
    """
    grammar.parse_where(where)
    grammar.parse_order(order_by)
    grammar.check_limit(limit)


def search_runs(
    connection: Connection,
    experiment_id: UUID | None,
    where: str | None,
    order_by: str | None,
    limit: int | None,
) -> list[RunRow]:
    """The runs (of one experiment, or of every one) that ``where`` selects, in the order of
    ``order_by`` (then oldest first), at most ``limit`` of them, in one query.

    Raises:
        InvalidArgumentError: The condition or order does not parse (or names a key that
            cannot be searched).
    """
    condition = grammar.parse_where(where)
    order = grammar.parse_order(order_by)
    limit = grammar.check_limit(limit)
    if not sql_runs.keeps_runs(connection):
        return []
    used = grammar.fields_of(condition) + [key.field for key in order]
    if any(field.namespace == "metrics" for field in used) and not sa.inspect(connection).has_table(
        summaries.name
    ):
        raise SchemaVersionError(
            "this store is older than the summaries of series (schema version "
            f"{SUMMARIES_VERSION}): upgrade it (`mltracker db upgrade`, or any write) to "
            "search by metrics"
        )
    compiler = _Compiler(connection.dialect.name, time.time())
    filters = []
    if experiment_id is not None:
        filters.append(experiments.c.id == experiment_id)
    if condition is not None:
        filters.append(compiler.condition(condition))
    ordering = [part for key in order for part in compiler.order(key)]
    query = (
        sa.select(runs.c.id, models.c.id, *sql_runs.FIELDS)
        .select_from(compiler.joined)
        .where(*filters)
        .order_by(*ordering, runs.c.pk)
    )
    if limit is not None:
        query = query.limit(limit)
    return [sql_runs.row_of(found) for found in connection.execute(query)]
