"""The grammar of run searches: what parses into what, and errors that name the position."""

from __future__ import annotations

import math

import pytest

from mltracker import search
from mltracker.errors import InvalidArgumentError, InvalidTypeError
from mltracker.search import And, Compare, Field, In, IsNull, Like, Not, Or, OrderKey


def test_the_examples_parse() -> None:
    assert search.parse_where("params.lr < 0.01 AND metrics.loss@validation.min < 0.3") == And(
        (
            Compare(Field("params", ("lr",)), "<", 0.01),
            Compare(Field("metrics", ("loss",), "validation", "min"), "<", 0.3),
        )
    )
    assert search.parse_where(
        "run.status IN ('finished', 'running') OR params.optimizer = 'adam'"
    ) == Or(
        (
            In(Field("run", ("status",)), ("finished", "running")),
            Compare(Field("params", ("optimizer",)), "=", "adam"),
        )
    )
    assert search.parse_where(
        "modules.encoder.hidden >= 64 AND NOT params.`batch size` = 32"
    ) == And(
        (
            Compare(Field("modules", ("encoder", "hidden")), ">=", 64),
            Not(Compare(Field("params", ("batch size",)), "=", 32)),
        )
    )


def test_precedence_parentheses_and_keywords_in_any_case() -> None:
    a = Compare(Field("params", ("a",)), "=", 1)
    b = Compare(Field("params", ("b",)), "=", 2)
    c = Compare(Field("params", ("c",)), "=", 3)
    assert search.parse_where("params.a = 1 or params.b = 2 AND params.c = 3") == Or(
        (a, And((b, c)))
    )
    assert search.parse_where("(params.a = 1 Or params.b = 2) and params.c = 3") == And(
        (Or((a, b)), c)
    )
    assert search.parse_where("not not params.a = 1") == Not(Not(a))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-3", -3),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-05", 1e-05),
        ("1E3", 1000.0),
        ("1_000", 1000),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'C:\\data'", "C:\\data"),
        ("''", ""),
    ],
)
def test_literals(text: str, value: object) -> None:
    assert search.parse_where(f"params.x = {text}") == Compare(Field("params", ("x",)), "=", value)  # type: ignore[arg-type]


def test_nan_is_a_literal() -> None:
    found = search.parse_where("params.x != nan")
    assert isinstance(found, Compare) and math.isnan(found.value)  # type: ignore[arg-type]


def test_every_predicate() -> None:
    x = Field("params", ("x",))
    assert search.parse_where("params.x IS NULL") == IsNull(x)
    assert search.parse_where("params.x is not null") == Not(IsNull(x))
    assert search.parse_where("params.x NOT IN (1, 'a')") == Not(In(x, (1, "a")))
    assert search.parse_where("params.x LIKE 'a%'") == Like(x, "a%")
    assert search.parse_where("params.x NOT LIKE 'a_'") == Not(Like(x, "a_"))
    assert search.parse_where("params.x <> 1") == Compare(x, "!=", 1)


def test_fields() -> None:
    assert search.parse_where("params.optim.lr = 1") == Compare(
        Field("params", ("optim", "lr")), "=", 1
    )
    assert search.parse_where("metrics.`val/loss`.nan_count = 0") == Compare(
        Field("metrics", ("val/loss",), None, "nan_count"), "=", 0
    )
    assert search.parse_where("run.duration > 10 AND model.hash = 'a'") is not None
    assert search.parse_where("experiment.name = 'e'") is not None
    assert search.parse_where("params.`a``b` = 1") == Compare(Field("params", ("a`b",)), "=", 1)


def test_orders() -> None:
    assert search.parse_order("metrics.loss@validation.min") == [
        OrderKey(Field("metrics", ("loss",), "validation", "min"))
    ]
    assert search.parse_order("params.lr DESC, run.started_at asc") == [
        OrderKey(Field("params", ("lr",)), True),
        OrderKey(Field("run", ("started_at",)), False),
    ]
    assert search.parse_order(None) == [] and search.parse_order("  ") == []
    assert search.parse_where(None) is None and search.parse_where("") is None


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("params.lr <", 11, "expected a number or a quoted string, found the end"),
        ("params.lr < AND", 12, "found 'AND'"),
        ("params.lr = 1 params.b = 2", 14, "expected AND, OR or the end"),
        ("(params.lr = 1", 14, "expected ')'"),
        ("params.lr = 'open", 12, "unterminated string"),
        ("params.`open = 1", 7, "unterminated name"),
        ("metrics.loss.mean < 1", 13, "an aggregate (first, last, min, max"),
        ("metrics.loss < 1", 13, "expected '.'"),
        ("run.owner = 'x'", 4, "a run attribute"),
        ("hyper.lr = 1", 0, "unknown field 'hyper'"),
        ("params.lr == 1", 11, "expected a number or a quoted string"),
        ("params.lr = 1x", 12, "malformed number"),
        ("params.lr ~ 1", 10, "unexpected '~'"),
        ("params.lr LIKE 3", 15, "a quoted pattern"),
        ("params.lr IS 3", 13, "expected NULL"),
        ("params.lr NOT = 3", 14, "expected IN or LIKE"),
        ("params.`` = 1", 7, "a parameter name is empty"),
        ("params = 1", 7, "expected '.'"),
    ],
)
def test_errors_name_the_position(text: str, position: int, words: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        search.parse_where(text)
    message = str(caught.value)
    assert f"at position {position} " in message
    assert words in message


def test_order_errors_and_types() -> None:
    with pytest.raises(InvalidArgumentError, match="at position 10"):
        search.parse_order("params.lr DOWN")
    with pytest.raises(InvalidTypeError):
        search.parse_where(3)
    with pytest.raises(InvalidTypeError):
        search.parse_order(["params.lr"])
    with pytest.raises(InvalidArgumentError):
        search.check_limit(-1)
    with pytest.raises(InvalidTypeError):
        search.check_limit(True)


def test_fields_print_as_they_are_written() -> None:
    assert str(Field("metrics", ("val loss",), "validation", "min")) == (
        "metrics.`val loss`@validation.min"
    )
    assert str(Field("params", ("a`b", "c"))) == "params.`a``b`.c"
