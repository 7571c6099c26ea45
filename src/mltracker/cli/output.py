"""Printing for people (rich tables) and for scripts (one JSON document).

``--json`` output is made of the documents of :mod:`mltracker.codec`, in its strict JSON:
NaN and the infinities are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, a
metric value comes with its ``kind``, times are ISO 8601 in UTC. Tables show times in UTC.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from rich.box import HEAVY_HEAD
from rich.cells import cell_len, get_character_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table

from mltracker.codec import INFINITY, NAN, NEGATIVE_INFINITY, dumps
from mltracker.connect import sqlite_path
from mltracker.ports.metrics import Metric

JSON_HELP = (
    "Print one JSON document instead of tables. NaN and infinities are written as the "
    'strings "NaN", "Infinity" and "-Infinity", and a metric value comes with its kind '
    "(float, int, bool, str, json); times are ISO 8601 in UTC."
)


def display_uri(uri: str) -> str:
    """A normalised store URI for people: a SQLite file's path, other URLs without password."""
    path = sqlite_path(uri)
    if path is not None:
        return path
    from sqlalchemy.engine import make_url  # here: ``mltracker --help`` needs no SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri


def table_time(timestamp: float) -> str:
    """Seconds since the epoch as ``2024-05-01 12:00:00`` (UTC), for tables."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float) -> str:
    """A duration for a table: ``42.5s``, ``4m 05s``, ``2h 03m 04s``, ``3d 02h 10m``."""
    if seconds < 60:
        return f"{math.floor(seconds * 10) / 10:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def format_value(value: Any) -> str:
    """A metric value for a table: floats to 6 significant digits, other values exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return NAN
        if math.isinf(value):
            return INFINITY if value > 0 else NEGATIVE_INFINITY
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def format_json(value: Any) -> str:
    """A JSON value (module attributes) on one line, for a table."""
    return json.dumps(value, ensure_ascii=False)


def series_label(name: str, phase: str | None) -> str:
    """The column title of a metric series: ``loss/train``, or ``loss`` without a phase."""
    return name if phase is None else f"{name}/{phase}"


def table(*columns: str, right: Iterable[str] = ()) -> Table:
    """A table with the given column titles; those in ``right`` are right-aligned."""
    aligned = set(right)
    result = _Table()
    for column in columns:
        result.add_column(column, justify="right" if column in aligned else "left")
    return result


class _Table(Table):
    """A rich table that prints as :class:`~rich.table.Table` does, with a short cut for the
    usual case: a table of one-line text cells that fits the width is laid out here, a line
    per row, instead of cell by cell (10,000 rows of 4 columns: 0.1 s instead of 3.5 s).
    Any other table (a cell that would wrap, a newline or control character, spaces at
    either end of a cell, options that :func:`table` does not set) is left to rich."""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        cells = self._plain_cells(console)
        if cells is None:
            return super().__rich_measure__(console, options)
        widths = _natural_widths(cells)
        extra = self._extra_width
        if sum(widths) + extra > options.max_width:
            return super().__rich_measure__(console, options)
        minimum = sum(
            max(
                max((cell_len(word) for word in cell.split()), default=cell_len(cell))
                for cell in column
            )
            + 2
            for column in cells
        )
        return Measurement(minimum + extra, sum(widths) + extra)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cells = self._plain_cells(console)
        widths = None if cells is None else _natural_widths(cells)
        if (
            cells is None
            or widths is None
            or self.box is None
            or sum(widths) + self._extra_width > options.max_width
        ):
            yield from super().__rich_console__(console, options)
            return
        safe = console.safe_box if self.safe_box is None else self.safe_box
        box = self.box.substitute(options, safe=safe)
        border = console.get_style(self.style or "") + console.get_style(self.border_style or "")
        header = console.get_style(self.header_style or "")
        justify = [column.justify == "right" for column in self.columns]
        new_line = Segment.line()

        def padded(text: str, width: int, right: bool) -> str:
            spaces = " " * (width - 2 - cell_len(text))
            return f" {spaces}{text} " if right else f" {text}{spaces} "

        yield Segment(box.get_top(widths), border)
        yield new_line
        for index, column in enumerate(self.columns):
            yield Segment(box.head_left if index == 0 else box.head_vertical, border)
            style = header + console.get_style(column.header_style or "")
            yield Segment(padded(cells[index][0], widths[index], justify[index]), style)
        yield Segment(box.head_right, border)
        yield new_line
        yield Segment(box.get_row(widths, "head"), border)
        yield new_line
        separator = box.get_row(widths, "row")
        rows = list(zip(*(column[1:] for column in cells), strict=True))
        for number, (row, info) in enumerate(zip(rows, self.rows, strict=True)):
            last = number == len(rows) - 1
            line = box.foot_vertical if last else box.mid_vertical
            inner = line.join(
                padded(text, width, right)
                for text, width, right in zip(row, widths, justify, strict=True)
            )
            left, right = (box.foot_left, box.foot_right) if last else (box.mid_left, box.mid_right)
            yield Segment(f"{left}{inner}{right}", border)
            yield new_line
            if info.end_section and not last:
                yield Segment(separator, border)
                yield new_line
        yield Segment(box.get_bottom(widths), border)
        yield new_line

    def _plain_cells(self, console: Console) -> list[list[str]] | None:
        """Each column's title and cells, if this is a table the short cut lays out (on a
        console of :func:`make_console`, which prints text as given)."""
        if not isinstance(console, _Console) or not self._plain_options():
            return None
        cells: list[list[str]] = []
        for column in self.columns:
            texts = [column.header, *column.cells]
            if not all(type(text) is str and _plain(text) for text in texts):
                return None
            cells.append(cast(list[str], texts))
        return cells

    def _plain_options(self) -> bool:
        plain_columns = all(
            not column.style
            and not column.footer
            and column.width is None
            and column.min_width is None
            and column.max_width is None
            and column.ratio is None
            and column.justify in ("left", "right")
            and not column.highlight
            for column in self.columns
        )
        return (
            plain_columns
            and bool(self.columns)
            and self.box is not None
            and self.show_header
            and self.show_edge
            and not self.show_footer
            and not self.show_lines
            and not self.leading
            and not self.title
            and not self.caption
            and not self.expand
            and not self.highlight
            and self.width is None
            and self.min_width is None
            and tuple(self.padding) == (0, 1, 0, 1)
            and self.pad_edge
            and not self.collapse_padding
            and not self.row_styles
            and not any(row.style for row in self.rows)
        )


def _plain(text: str) -> bool:
    """Whether rich prints ``text`` in a cell as it is, given room: one line of printable
    characters each at least one cell wide, no spaces at either end (rich would strip them
    in a right-aligned column)."""
    return (
        text.isprintable()
        and text == text.strip()
        and (text.isascii() or all(get_character_cell_size(char) > 0 for char in text))
    )


def _natural_widths(cells: list[list[str]]) -> list[int]:
    """Each column's width with its padding, no cell wrapped."""
    return [max(map(cell_len, column)) + 2 for column in cells]


def make_console(*, stderr: bool = False) -> Console:
    """A console that prints text as given (no markup, emoji or highlighting).

    Written to a pipe or a file, tables are plain text as wide as ``$COLUMNS``, else 160.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not _is_terminal(stream):
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else 160
    return _Console(
        stderr=stderr, width=width, markup=False, emoji=False, highlight=False, soft_wrap=False
    )


class _Console(Console):
    """A console whose closed pipe raises ``BrokenPipeError`` (rich would exit with 1), so
    that the CLI ends there quietly with exit code 0 (see ``mltracker.cli.pipes``)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def shows_progress(console: Console) -> bool:
    """Whether progress bars go to ``console``: only to a terminal, never into a pipe or log."""
    return console.is_terminal


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def stream_table(
    console: Console,
    titles: Sequence[str],
    pages: Iterable[Sequence[Sequence[str]]],
    *,
    right: Iterable[str] = (),
) -> None:
    """Print a table page by page, as its rows are read, in constant memory.

    A table whose rows all come in the first page is printed by :func:`table`, as any other.
    Else the columns take the widths of the first page (and of the titles), and a later
    cell that is wider widens its column from that row on; rows are written a page at a
    time, straight to the console's file.
    """
    iterator = iter(pages)
    first = list(next(iterator, []))
    following = next(iterator, None)
    aligned = set(right)
    if following is None:
        output = table(*titles, right=aligned)
        for row in first:
            output.add_row(*row)
        console.print(output)
        return
    justify = [title in aligned for title in titles]
    widths = [cell_len(title) + 2 for title in titles]
    for row in first:
        widths = [max(width, cell_len(cell) + 2) for width, cell in zip(widths, row, strict=True)]
    box = HEAVY_HEAD.substitute(console.options, safe=console.safe_box)
    file = console.file

    def lines(rows: Iterable[Sequence[str]]) -> str:
        nonlocal widths
        written: list[str] = []
        for row in rows:
            widths = [
                max(width, cell_len(cell) + 2) for width, cell in zip(widths, row, strict=True)
            ]
            inner = box.mid_vertical.join(
                _padded(cell, width, flush)
                for cell, width, flush in zip(row, widths, justify, strict=True)
            )
            written.append(f"{box.mid_left}{inner}{box.mid_right}\n")
        return "".join(written)

    header = box.head_vertical.join(
        _padded(title, width, flush)
        for title, width, flush in zip(titles, widths, justify, strict=True)
    )
    file.write(f"{box.get_top(widths)}\n{box.head_left}{header}{box.head_right}\n")
    file.write(f"{box.get_row(widths, 'head')}\n")
    file.write(lines(first))
    for page in itertools.chain([following], iterator):
        file.write(lines(page))
        file.flush()
    file.write(f"{box.get_bottom(widths)}\n")
    file.flush()


def _padded(text: str, width: int, right: bool) -> str:
    spaces = " " * (width - 2 - cell_len(text))
    return f" {spaces}{text} " if right else f" {text}{spaces} "


def stream_json_array(documents: Iterable[Any], write: Callable[[str], None]) -> None:
    """Write a JSON array of ``documents`` as they come, in the text :func:`dumps` gives the
    whole list (indent 2), so that a long listing needs no more memory than a document."""
    started = False
    for document in documents:
        text = dumps(document).replace("\n", "\n  ")
        write(("[\n  " if not started else ",\n  ") + text)
        started = True
    write("\n]" if started else "[]")


def latest_metrics_table(latest: Iterable[Metric]) -> Table:
    """The latest point of each series, a row each (``models show``, ``runs show``)."""
    metric_table = table("metric", "phase", "step", "value", "time (UTC)", right=["step", "value"])
    for metric in latest:
        metric_table.add_row(
            metric.name,
            metric.phase or "",
            "" if metric.step is None else str(metric.step),
            format_value(metric.value),
            table_time(metric.timestamp),
        )
    return metric_table
