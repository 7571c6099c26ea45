"""The grammar of run searches (``experiment.runs.search``): a tokenizer and a recursive-descent
parser that turn a condition (``where``) or an order (``order_by``) into a small tree, which a
store compiles into one query (``mltracker.backends.sql.search``). Nothing is evaluated here.

Grammar (keywords in any case; a name that is not an identifier goes in backquotes, a
backquote in it doubled)::

    condition  := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | "(" or ")" | predicate
    predicate  := field ( op literal
                        | ["NOT"] "IN" "(" literal ("," literal)* ")"
                        | ["NOT"] "LIKE" string
                        | "IS" ["NOT"] "NULL" )
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := string | ["-"] number | ["-"] "inf" | "nan"
    order      := field ["ASC" | "DESC"] ("," field ["ASC" | "DESC"])*
    field      := "params" ("." key)+
                | "modules" "." module "." attribute ("." key)*
                | "metrics" "." name ["@" phase] "." aggregate
                | "run" "." ("status" | "name" | "host" | "started_at" | "ended_at" | "duration")
                | "model" "." ("hash" | "name" | "description" | "step")
                | "experiment" "." "name"

Strings are in single or double quotes (the quote doubled inside; a backslash is a backslash);
numbers are written as Python writes them (``3``, ``-0.5``, ``1e-05``, ``1_000``, ``inf``).

Every error is an :class:`~mltracker.errors.InvalidArgumentError` that names the position
(counted in characters from 0) where the text went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

from mltracker.errors import InvalidArgumentError, InvalidTypeError

#: The aggregates of a series that a search reads (see ``mltracker.entities.Summary``).
AGGREGATES = ("first", "last", "min", "max", "count", "nan_count", "argmin", "argmax")
RUN_ATTRIBUTES = ("status", "name", "host", "started_at", "ended_at", "duration")
MODEL_ATTRIBUTES = ("hash", "name", "description", "step")
EXPERIMENT_ATTRIBUTES = ("name",)

Namespace = Literal["params", "modules", "metrics", "run", "model", "experiment"]
Operator = Literal["=", "!=", "<", "<=", ">", ">="]
#: A literal: a string, an int or a float (NaN and infinities included).
Value: TypeAlias = str | int | float


@dataclass(frozen=True, slots=True)
class Field:
    """What a condition reads of a run. ``path``: the keys of a parameter (``params``), the
    module's name then the attribute's keys (``modules``), the series' name (``metrics``), or
    the attribute (``run``, ``model``, ``experiment``)."""

    namespace: Namespace
    path: tuple[str, ...]
    phase: str | None = None
    aggregate: str | None = None

    def __str__(self) -> str:
        parts = [self.namespace, *(_quoted_name(part) for part in self.path)]
        text = ".".join(parts)
        if self.namespace == "metrics":
            if self.phase is not None:
                text += "@" + _quoted_name(self.phase)
            text += f".{self.aggregate}"
        return text


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    operator: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class In:
    field: Field
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Like:
    field: Field
    pattern: str


@dataclass(frozen=True, slots=True)
class IsNull:
    field: Field


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Condition, ...]


Condition: TypeAlias = Compare | In | Like | IsNull | Not | And | Or


@dataclass(frozen=True, slots=True)
class OrderKey:
    field: Field
    descending: bool = False


def fields_of(condition: Condition | None) -> list[Field]:
    """Every field a condition reads, in the order written."""
    if condition is None:
        return []
    if isinstance(condition, Not):
        return fields_of(condition.operand)
    if isinstance(condition, And | Or):
        return [field for operand in condition.operands for field in fields_of(operand)]
    return [condition.field]


# Tokens -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["name", "quoted", "string", "number", "symbol", "end"]
    text: str
    position: int
    value: Value = ""


_NUMBER = re.compile(
    r"(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYMBOLS = ("<=", ">=", "!=", "<>", "=", "<", ">", "(", ")", ",", ".", "@", "-")


def _fail(source: str, what: str, message: str, position: int) -> InvalidArgumentError:
    shown = source if len(source) <= 120 else source[:117] + "..."
    return InvalidArgumentError(f"bad {what}: {message} at position {position} in {shown!r}")


def _tokens(source: str, what: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    size = len(source)
    while position < size:
        char = source[position]
        if char.isspace():
            position += 1
            continue
        start = position
        previous = found[-1] if found else None
        after_name = previous is not None and (
            previous.kind in ("name", "quoted") or previous.text == ")"
        )
        if char.isdigit() or (
            char == "." and not after_name and source[start + 1 : start + 2].isdigit()
        ):
            match = _NUMBER.match(source, position)
            assert match is not None
            text = match.group()
            position = match.end()
            if position < size and (source[position].isalnum() or source[position] in "_."):
                raise _fail(
                    source, what, f"a malformed number {source[start : position + 1]!r}", start
                )
            number: Value = float(text) if any(c in text for c in ".eE") else int(text)
            found.append(_Token("number", text, start, number))
            continue
        if char == "_" or char.isalpha():
            match = _NAME.match(source, position)
            if match is None:
                raise _fail(source, what, f"unexpected {char!r}", start)
            position = match.end()
            found.append(_Token("name", match.group(), start))
            continue
        if char in "'\"`":
            text, position = _quoted(source, position, what)
            found.append(
                _Token("quoted" if char == "`" else "string", source[start:position], start, text)
            )
            continue
        for symbol in _SYMBOLS:
            if source.startswith(symbol, position):
                position += len(symbol)
                found.append(_Token("symbol", "!=" if symbol == "<>" else symbol, start))
                break
        else:
            raise _fail(source, what, f"unexpected {char!r}", start)
    found.append(_Token("end", "", size))
    return found


def _quoted(source: str, position: int, what: str) -> tuple[str, int]:
    """The text of a quoted string or name that starts at ``position`` (its quote doubled
    inside it stands for one), and where it ends."""
    quote = source[position]
    start = position
    position += 1
    parts: list[str] = []
    while True:
        end = source.find(quote, position)
        if end < 0:
            kind = "name" if quote == "`" else "string"
            raise _fail(source, what, f"an unterminated {kind}", start)
        parts.append(source[position:end])
        if source.startswith(quote, end + 1):
            parts.append(quote)
            position = end + 2
            continue
        return "".join(parts), end + 1


# Parsing ------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, source: str, what: str) -> None:
        self.source = source
        self.what = what
        self.tokens = _tokens(source, what)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def error(self, message: str, token: _Token | None = None) -> InvalidArgumentError:
        token = token or self.token
        return _fail(self.source, self.what, message, token.position)

    def unexpected(self, wanted: str) -> InvalidArgumentError:
        token = self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return self.error(f"expected {wanted}, found {found}")

    def keyword(self, *words: str) -> str | None:
        token = self.token
        if token.kind == "name" and token.text.upper() in words:
            self.index += 1
            return token.text.upper()
        return None

    def symbol(self, *symbols: str) -> str | None:
        token = self.token
        if token.kind == "symbol" and token.text in symbols:
            self.index += 1
            return token.text
        return None

    def expect_symbol(self, symbol: str) -> None:
        if self.symbol(symbol) is None:
            self.unexpected_raise(repr(symbol))

    def unexpected_raise(self, wanted: str) -> None:
        raise self.unexpected(wanted)

    def end(self) -> None:
        if self.token.kind != "end":
            raise self.unexpected(
                "AND, OR or the end" if self.what == "where" else "',' or the end"
            )

    # condition

    def condition(self) -> Condition:
        operands = [self.conjunction()]
        while self.keyword("OR"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Condition:
        operands = [self.negation()]
        while self.keyword("AND"):
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def negation(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self.negation())
        if self.symbol("("):
            inner = self.condition()
            self.expect_symbol(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        field = self.field()
        operator = self.symbol("=", "!=", "<", "<=", ">", ">=")
        if operator is not None:
            return Compare(field, operator, self.literal())  # type: ignore[arg-type]
        if self.keyword("IS"):
            negated = self.keyword("NOT") is not None
            if self.keyword("NULL") is None:
                raise self.unexpected("NULL")
            found: Condition = IsNull(field)
            return Not(found) if negated else found
        negated = self.keyword("NOT") is not None
        if self.keyword("IN"):
            self.expect_symbol("(")
            values = [self.literal()]
            while self.symbol(","):
                values.append(self.literal())
            self.expect_symbol(")")
            found = In(field, tuple(values))
        elif self.keyword("LIKE"):
            token = self.token
            if token.kind != "string":
                raise self.unexpected("a quoted pattern")
            self.index += 1
            found = Like(field, str(token.value))
        else:
            wanted = "IN or LIKE" if negated else "an operator (= != < <= > >= IN LIKE IS)"
            raise self.unexpected(wanted)
        return Not(found) if negated else found

    def literal(self) -> Value:
        token = self.token
        if token.kind == "string":
            self.index += 1
            return str(token.value)
        negative = self.symbol("-") is not None
        token = self.token
        if token.kind == "number":
            self.index += 1
            return -token.value if negative else token.value  # type: ignore[operator]
        if token.kind == "name" and token.text.lower() in ("inf", "infinity", "nan"):
            self.index += 1
            number = float(token.text.lower())
            return -number if negative else number
        raise self.unexpected("a number or a quoted string")

    # fields

    def name(self, what: str) -> str:
        token = self.token
        if token.kind == "name":
            self.index += 1
            return token.text
        if token.kind == "quoted":
            self.index += 1
            if not token.value:
                raise self.error(f"{what} is empty", token)
            return str(token.value)
        raise self.unexpected(what)

    def field(self) -> Field:
        token = self.token
        if token.kind != "name":
            raise self.unexpected("a field (params., modules., metrics., run., model.)")
        namespace = token.text.lower()
        self.index += 1
        if namespace == "params":
            self.expect_symbol(".")
            keys = [self.name("a parameter name")]
            while self.symbol("."):
                keys.append(self.name("a key"))
            return Field("params", tuple(keys))
        if namespace == "modules":
            self.expect_symbol(".")
            module = self.name("a module name")
            self.expect_symbol(".")
            keys = [self.name("an attribute name")]
            while self.symbol("."):
                keys.append(self.name("a key"))
            return Field("modules", (module, *keys))
        if namespace == "metrics":
            self.expect_symbol(".")
            name = self.name("a metric name")
            phase = self.name("a phase") if self.symbol("@") else None
            self.expect_symbol(".")
            aggregate = self.choice(AGGREGATES, "an aggregate")
            return Field("metrics", (name,), phase, aggregate)
        choices = {
            "run": RUN_ATTRIBUTES,
            "model": MODEL_ATTRIBUTES,
            "experiment": EXPERIMENT_ATTRIBUTES,
        }.get(namespace)
        if choices is None:
            raise self.error(
                f"unknown field {token.text!r} (params., modules., metrics., run., model., "
                "experiment.)",
                token,
            )
        self.expect_symbol(".")
        return Field(namespace, (self.choice(choices, f"a {namespace} attribute"),))  # type: ignore[arg-type]

    def choice(self, choices: tuple[str, ...], what: str) -> str:
        token = self.token
        if token.kind == "name" and token.text.lower() in choices:
            self.index += 1
            return token.text.lower()
        raise self.unexpected(f"{what} ({', '.join(choices)})")

    def order(self) -> list[OrderKey]:
        keys = []
        while True:
            field = self.field()
            direction = self.keyword("ASC", "DESC")
            keys.append(OrderKey(field, direction == "DESC"))
            if not self.symbol(","):
                return keys


def parse_where(text: object) -> Condition | None:
    """The condition of a search; ``None`` (or an empty text) selects every run.

    Raises:
        InvalidTypeError: ``text`` is not a string.
        InvalidArgumentError: It does not parse (the message names the position).
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidTypeError(f"a search condition must be a str, not {type(text).__name__}")
    if not text.strip():
        return None
    parser = _Parser(text, "where")
    condition = parser.condition()
    parser.end()
    return condition


def parse_order(text: object) -> list[OrderKey]:
    """The order of a search: fields, each ``ASC`` (the default) or ``DESC``.

    Raises:
        InvalidTypeError: ``text`` is not a string.
        InvalidArgumentError: It does not parse (the message names the position).
    """
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidTypeError(f"order_by must be a str, not {type(text).__name__}")
    if not text.strip():
        return []
    parser = _Parser(text, "order_by")
    keys = parser.order()
    parser.end()
    return keys


def check_limit(limit: object) -> int | None:
    """A search's limit: ``None`` or an int >= 0."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidTypeError(f"limit must be an int or None, not {type(limit).__name__}")
    if limit < 0:
        raise InvalidArgumentError(f"limit must be at least 0, not {limit}")
    return int(limit)


def _quoted_name(name: str) -> str:
    if _NAME.fullmatch(name):
        return name
    return "`" + name.replace("`", "``") + "`"
