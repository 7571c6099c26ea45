"""The CLI's tables print exactly as rich's ``Table`` does, whichever way they are laid out."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.measure import Measurement
from rich.table import Table

from mltracker.cli.output import _Console, table

ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: Characters that rich lays out in special ways: wide, zero-width, combining, control.
TRICKY = ["漢", "字", "🙂", "\u0301", "\u200b", "é", "\n", "\t", "\x1b", "\u2028", "\x85"]
#: Texts that rich prints as they are, given room (a table of them takes the short cut).
plain_texts = st.text(
    alphabet=st.sampled_from([*"abcxyz019.-_/ ", "漢", "🙂", "é", "\u0301"]), max_size=10
).map(str.strip)
texts = st.one_of(
    plain_texts,
    st.text(alphabet=st.sampled_from([*"abc ", *TRICKY]), max_size=10),
    st.text(max_size=10),
)


def console(width: int, color: bool = False) -> _Console:
    return _Console(
        file=io.StringIO(),
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
        color_system="truecolor" if color else None,
        force_terminal=color,
    )


def fill(
    output: Table, titles: list[str], right: list[bool], rows: list[tuple[list[str], bool]]
) -> Table:
    for title, is_right in zip(titles, right, strict=True):
        output.add_column(title, justify="right" if is_right else "left")
    for cells, end_section in rows:
        output.add_row(*cells, end_section=end_section)
    return output


def ours(titles: list[str], right: list[bool], rows: list[tuple[list[str], bool]]) -> Table:
    return fill(table(), titles, right, rows)


def richs(titles: list[str], right: list[bool], rows: list[tuple[list[str], bool]]) -> Table:
    return fill(Table(), titles, right, rows)


def printed(output: Table, width: int, color: bool = False) -> str:
    target = console(width, color)
    target.print(output)
    file = target.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@st.composite
def tables(draw: Any) -> tuple[list[str], list[bool], list[tuple[list[str], bool]]]:
    count = draw(st.integers(1, 5))
    texts_of = plain_texts if draw(st.booleans()) else texts
    titles = draw(st.lists(texts_of, min_size=count, max_size=count))
    right = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    rows = draw(
        st.lists(
            st.tuples(st.lists(texts_of, min_size=count, max_size=count), st.booleans()),
            max_size=6,
        )
    )
    return titles, right, rows


@settings(max_examples=400, deadline=None)
@given(tables(), st.integers(8, 160), st.booleans())
def test_a_table_prints_as_richs_table(
    contents: tuple[list[str], list[bool], list[tuple[list[str], bool]]], width: int, color: bool
) -> None:
    expected = printed(richs(*contents), width, color)
    got = printed(ours(*contents), width, color)

    assert ANSI.sub("", got) == ANSI.sub("", expected)


@settings(max_examples=200, deadline=None)
@given(tables(), st.integers(8, 400))
def test_a_table_measures_as_richs_table(
    contents: tuple[list[str], list[bool], list[tuple[list[str], bool]]], width: int
) -> None:
    target = console(width)
    options = target.options.update(width=width, max_width=width)

    expected = Measurement.get(target, options, richs(*contents))
    got = Measurement.get(target, options, ours(*contents))

    assert got == expected


def test_titles_are_bold_on_a_terminal() -> None:
    contents = (["hash", "step"], [False, True], [(["a1", "3"], False)])
    bold_title = re.compile(r"\x1b\[1m[^\x1b]*hash")

    assert bold_title.search(printed(richs(*contents), 80, color=True))
    assert bold_title.search(printed(ours(*contents), 80, color=True))
    assert "a1" not in "".join(bold_title.findall(printed(ours(*contents), 80, color=True)))


@pytest.mark.parametrize(
    ("cells", "width", "laid_out_by_rich"),
    [
        (["a1b2c3d4", "mlp", "3"], 80, False),
        (["a1b2c3d4", "two\nlines", "3"], 80, True),
        (["a1b2c3d4", "x" * 100, "3"], 80, True),
        (["a1b2c3d4", " padded", "3"], 80, True),
    ],
)
def test_rich_lays_out_only_what_needs_it(
    monkeypatch: pytest.MonkeyPatch, cells: list[str], width: int, laid_out_by_rich: bool
) -> None:
    calls: list[int] = []
    render = Table._render

    def counted(self: Table, *args: Any) -> Any:
        calls.append(1)
        return render(self, *args)

    monkeypatch.setattr(Table, "_render", counted)
    contents = (["hash", "name", "step"], [False, False, True], [(cells, False)])

    assert printed(ours(*contents), width) == printed(richs(*contents), width)
    assert len(calls) == 1 + laid_out_by_rich


def test_a_table_as_wide_as_the_console_takes_the_short_cut_and_one_wider_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contents = (["hash", "name"], [False, True], [(["a1b2c3d4", "mlp 漢字"], True)] * 3)
    width = Measurement.get(console(1000), console(1000).options, ours(*contents)).maximum
    calls: list[int] = []
    render = Table._render

    def counted(self: Table, *args: Any) -> Any:
        calls.append(1)
        return render(self, *args)

    monkeypatch.setattr(Table, "_render", counted)

    assert printed(ours(*contents), width) == printed(richs(*contents), width)
    assert len(calls) == 1
    assert printed(ours(*contents), width - 1) == printed(richs(*contents), width - 1)
    assert len(calls) == 3
