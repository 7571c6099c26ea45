"""Metric points as columns: the columnar read path (``pip install 'mltracker[arrow]'``).

A store reads points into an Arrow table of :func:`store_schema` (``Store.metric_table``);
this module turns it into what a user asks for, in bulk, without a Python object per point:
``metrics.to_arrow()`` (:func:`to_arrow`, the columns of the Parquet export) and
``metrics.to_pandas()`` (:func:`to_pandas`). Only the rare values that a float cannot hold
(ints beyond 2**53, JSON values) are decoded one by one.

The columns of :func:`store_schema`, in logged order:

=========  ==============================================================================
name       the metric's name (dictionary-encoded)
phase      its phase, null for none (dictionary-encoded)
step       its step, null for none
kind       how the value was logged: ``mltracker.values`` FLOAT, INT, BOOL or JSON
value      the value as a float: NaN, infinities and -0.0 as such, ints rounded to the
           nearest float, bools as 0 and 1, null for JSON values
text       the exact text where ``value`` is not the value: ints beyond 2**53 (decimal) and
           JSON values (JSON text, NaN and infinities allowed); else null
timestamp  seconds since the epoch
=========  ==============================================================================
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltracker import values
from mltracker.codec import json_safe
from mltracker.errors import MLTrackerError

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from mltracker.entities import Metric

__all__ = [
    "ARROW_INSTALL",
    "EXTRA_FLAG",
    "from_metrics",
    "from_storage",
    "has_flag",
    "pyarrow_module",
    "store_schema",
    "to_arrow",
    "to_pandas",
]

#: What installs the columnar path.
ARROW_INSTALL = "pip install 'mltracker[arrow]'"
#: The export's names of the kinds of :mod:`mltracker.values` (a JSON string is ``str``).
_KIND_NAMES = ("float", "int", "bool", "json")


def pyarrow_module() -> Any:
    """pyarrow, or the error that says how to install it.

    Raises:
        MLTrackerError: pyarrow is not installed.
    """
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        raise MLTrackerError(f"columnar reads need pyarrow: {ARROW_INSTALL}") from None


def _compute() -> Any:
    pyarrow_module()
    return importlib.import_module("pyarrow.compute")


def store_schema() -> pyarrow.Schema:
    """The schema of ``Store.metric_table`` (see the module docstring)."""
    pa = pyarrow_module()
    text = pa.dictionary(pa.int32(), pa.string())
    return pa.schema(
        [
            ("name", text),
            ("phase", text),
            ("step", pa.int64()),
            ("kind", pa.int8()),
            ("value", pa.float64()),
            ("text", pa.string()),
            ("timestamp", pa.float64()),
        ]
    )


#: Added to a point's kind in the ``code`` column of a SQL read when its ``extra`` is set.
EXTRA_FLAG = 4


def from_storage(
    columns: pyarrow.Table, series: dict[int, tuple[str, str | None]], extras: Any = None
) -> pyarrow.Table:
    """The table of :func:`store_schema` for points read from SQL storage.

    ``columns`` holds ``step``, ``value`` (any number for a NULL), ``timestamp``, ``code``
    (the kind, plus :data:`EXTRA_FLAG` for a point whose ``extra`` column is set) and, for
    several series, ``series_pk``, in logged order, as the SQL store keeps them
    (``mltracker.values``); ``series`` maps each series key to its name and phase;
    ``extras`` is a table of one column: the ``extra`` texts of the flagged points, in the
    same order (``None`` if there are none).
    """
    pa = pyarrow_module()
    pc = _compute()
    rows = columns.num_rows
    if "series_pk" in columns.column_names:
        keys = pa.array(list(series), pa.int64())
        index = pc.cast(pc.index_in(columns["series_pk"], value_set=keys), pa.int32())
    else:
        index = pa.array(_zeros(rows), pa.int32())
    code = pc.cast(columns["code"], pa.int8())
    value = pc.cast(columns["value"], pa.float64())
    flagged = pc.greater_equal(code, EXTRA_FLAG)
    kind = code
    text = pa.nulls(rows, pa.string())
    if rows and pc.any(flagged).as_py():
        kind = pc.if_else(flagged, pc.subtract(code, pa.scalar(EXTRA_FLAG, pa.int8())), code)
        # The flagged points' texts, put in their places (the others are null).
        places = pc.cumulative_sum(pc.cast(flagged, pa.int32()))
        texts = _cast(extras.column(0), pa.string())
        taken = texts.take(pc.max_element_wise(pc.subtract(places, 1), 0))
        text = pc.if_else(flagged, taken, text)
        # FLOAT with an extra: NaN or -0.0, which the float column cannot keep.
        exact_float = pc.and_(flagged, pc.equal(kind, values.FLOAT))
        parsed = pc.cast(pc.if_else(exact_float, text, "0"), pa.float64())
        value = pc.if_else(exact_float, parsed, value)
        text = pc.if_else(exact_float, pa.scalar(None, pa.string()), text)
    value = pc.if_else(pc.equal(kind, values.JSON), pa.scalar(None, pa.float64()), value)
    return _assemble(index, series, columns["step"], kind, value, text, columns["timestamp"])


def has_flag(columns: pyarrow.Table) -> bool:
    """Whether some point of a SQL read (see :func:`from_storage`) has its ``extra`` set."""
    pc = _compute()
    if columns.num_rows == 0:
        return False
    return bool(pc.max(columns["code"]).as_py() >= EXTRA_FLAG)


def _zeros(count: int) -> Any:
    """``count`` zeros (int32), without a Python object each."""
    import numpy

    return numpy.zeros(count, dtype=numpy.int32)


def _assemble(
    index: Any,
    series: dict[int, tuple[str, str | None]],
    step: Any,
    kind: Any,
    value: Any,
    text: Any,
    timestamp: Any,
) -> pyarrow.Table:
    pa = pyarrow_module()
    index = _combined(index)
    return pa.Table.from_arrays(
        [
            _dictionary([name for name, _ in series.values()], index),
            _dictionary([phase for _, phase in series.values()], index),
            _cast(step, pa.int64()),
            _cast(kind, pa.int8()),
            _cast(value, pa.float64()),
            _cast(text, pa.string()),
            _cast(timestamp, pa.float64()),
        ],
        schema=store_schema(),
    )


def _dictionary(labels: list[str | None], index: Any) -> Any:
    """A dictionary column: ``labels[index[i]]`` for each row, ``None`` labels as nulls."""
    pa = pyarrow_module()
    distinct = list(dict.fromkeys(label for label in labels if label is not None))
    position = {label: i for i, label in enumerate(distinct)}
    codes = pa.array([None if label is None else position[label] for label in labels], pa.int32())
    return pa.DictionaryArray.from_arrays(codes.take(index), pa.array(distinct, pa.string()))


def _combined(array: Any) -> Any:
    """A chunked array as one array (dictionary arrays take plain indices)."""
    return array.combine_chunks() if hasattr(array, "combine_chunks") else array


def _cast(array: Any, type_: Any) -> Any:
    """``array`` (chunked or not) as one array of ``type_``."""
    pc = _compute()
    return _combined(pc.cast(array, type_))


def from_metrics(metrics: Sequence[Metric]) -> pyarrow.Table:
    """The table of :func:`store_schema` for points already built as objects (what a store
    behind a server reads through its JSON columns)."""
    pa = pyarrow_module()
    series: dict[tuple[str, str | None], int] = {}
    index: list[int] = []
    kinds: list[int] = []
    numbers: list[float | None] = []
    texts: list[str | None] = []
    for metric in metrics:
        key = (metric.name, metric.phase)
        position = series.get(key)
        if position is None:
            position = series[key] = len(series)
        index.append(position)
        kind, number, text = values.encode_value(metric.value)
        if kind == values.FLOAT:
            number, text = metric.value, None
        kinds.append(kind)
        numbers.append(number)
        texts.append(text)
    return _assemble(
        pa.array(index, pa.int32()),
        {position: key for key, position in series.items()},
        pa.array([metric.step for metric in metrics], pa.int64()),
        pa.array(kinds, pa.int8()),
        pa.array(numbers, pa.float64()),
        pa.array(texts, pa.string()),
        pa.array([metric.timestamp for metric in metrics], pa.float64()),
    )


def to_arrow(table: pyarrow.Table) -> pyarrow.Table:
    """The user's table of points: ``name``, ``phase``, ``step``, ``kind``, ``value``,
    ``value_text`` and ``timestamp``, as the Parquet export writes them
    (:mod:`mltracker.export`): ``kind`` is float, int, bool, str or json; ``value`` a
    float64 (null for str and json); ``value_text`` the exact text where the float cannot
    hold the value (str, json, ints beyond 2**53); ``timestamp`` a UTC timestamp in
    microseconds."""
    pa = pyarrow_module()
    pc = _compute()
    kind = table["kind"]
    text = table["text"]
    kind_name = pa.array(_KIND_NAMES).take(pc.cast(kind, pa.int32()))
    is_json = pc.equal(kind, values.JSON)
    value_text = text
    if pc.any(is_json).as_py():
        decoded = [
            None if item is None else _export_text(values.loads_json(item))
            for item in pc.if_else(is_json, text, pa.scalar(None, pa.string())).to_pylist()
        ]
        is_str = pc.and_(is_json, pc.starts_with(pc.fill_null(text, ""), '"'))
        kind_name = pc.if_else(is_str, "str", kind_name)
        value_text = pc.if_else(is_json, pa.array(decoded, pa.string()), text)
    micros = pc.floor(pc.add(pc.multiply(table["timestamp"], 1_000_000.0), 0.5))
    stamps = pc.cast(pc.cast(micros, pa.int64()), pa.timestamp("us", tz="UTC"))
    return pa.Table.from_arrays(
        [
            pc.cast(table["name"], pa.string()),
            pc.cast(table["phase"], pa.string()),
            table["step"],
            pc.cast(kind_name, pa.string()),
            table["value"],
            pc.cast(value_text, pa.string()),
            stamps,
        ],
        names=["name", "phase", "step", "kind", "value", "value_text", "timestamp"],
    )


def _export_text(value: Any) -> str:
    """A JSON value's exact text as the export writes it: a string as it is, anything else
    as strict JSON (see :mod:`mltracker.export`)."""
    import json

    if isinstance(value, str):
        return value
    return json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False)


def to_pandas(table: pyarrow.Table) -> pandas.DataFrame:
    """The DataFrame of ``metrics.to_pandas()``: ``name``, ``phase``, ``step`` (``Int64``),
    ``value`` and ``timestamp`` (UTC). ``value`` has the dtype pandas gives the values
    themselves: float64 for floats (and ints mixed with floats), int64 for ints, bool for
    bools, object when kinds are mixed otherwise or JSON values are present."""
    import numpy
    import pandas

    pc = _compute()
    if table.num_rows == 0:  # as pandas makes it of empty lists
        return pandas.DataFrame(
            {
                "name": [],
                "phase": [],
                "step": pandas.array([], dtype="Int64"),
                "value": [],
                "timestamp": pandas.to_datetime([], unit="s", utc=True),
            }
        )
    names = _labels(table["name"], numpy)
    phases = _labels(table["phase"], numpy)
    step = _combined(table["step"])
    mask = numpy.asarray(step.is_null(), dtype=bool)
    steps = numpy.asarray(step.fill_null(0), dtype=numpy.int64)
    stamps = numpy.asarray(table["timestamp"], dtype=numpy.float64)
    return pandas.DataFrame(
        {
            "name": names,
            "phase": phases,
            "step": pandas.arrays.IntegerArray(steps, mask),
            "value": _pandas_values(table, numpy, pc),
            "timestamp": pandas.to_datetime(stamps, unit="s", utc=True),
        }
    )


def _labels(column: Any, numpy: Any) -> Any:
    """A dictionary column as pandas makes a list of its ``str`` (or ``None``) values: its
    string dtype where pandas infers one (built from the Arrow strings directly), else an
    object array of the column's few ``str`` objects."""
    import pandas

    pa = pyarrow_module()
    array = _combined(column)
    inferred = pandas.Series(["x", None]).dtype
    if array.null_count < len(array) and inferred != numpy.dtype(object):
        return pandas.array(array.cast(pa.string()), dtype=inferred)
    labels = numpy.array(array.dictionary.to_pylist() + [None], dtype=object)
    indices = numpy.asarray(array.indices.fill_null(len(array.dictionary)), dtype=numpy.int64)
    return labels[indices]


def _pandas_values(table: pyarrow.Table, numpy: Any, pc: Any) -> Any:
    """The ``value`` column: the values in bulk where their kinds allow it, else objects."""
    if table.num_rows == 0:
        return []
    kinds = set(pc.unique(table["kind"]).to_pylist())
    has_text = pc.any(pc.is_valid(table["text"])).as_py()
    number = numpy.asarray(table["value"].fill_null(math.nan), dtype=numpy.float64)
    if kinds <= {values.FLOAT, values.INT} and not (has_text and values.FLOAT in kinds):
        if kinds == {values.INT}:
            ints = number.astype(numpy.int64)
            if has_text:
                for position, text in _texts(table, pc):
                    ints[position] = int(text)
            return ints
        return number
    if kinds == {values.BOOL}:
        return number != 0.0
    # Mixed kinds or JSON values: the few that are not floats are decoded one by one.
    return [
        values.decode_value(kind, value, text)
        for kind, value, text in zip(
            table["kind"].to_pylist(), number.tolist(), table["text"].to_pylist(), strict=True
        )
    ]


def _texts(table: pyarrow.Table, pc: Any) -> list[tuple[int, str]]:
    """The positions and texts of the points that have one."""
    valid = pc.is_valid(table["text"])
    positions = pc.indices_nonzero(valid).to_pylist()
    texts = pc.filter(table["text"], valid).to_pylist()
    return list(zip(positions, texts, strict=True))
