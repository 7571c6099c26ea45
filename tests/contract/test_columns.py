"""Columnar reads: ``to_arrow()`` and ``to_pandas()`` give what ``list()`` gives, on every
backend, read in bulk where the ``arrow`` extra is installed."""

from __future__ import annotations

import math
import multiprocessing
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas
import pyarrow as pa
import pytest

import mltracker
from mltracker import Model
from mltracker.ports.metrics import NO_PHASE
from mltracker.ports.store import MetricFilter
from mltracker.views import columns_to_pandas

#: Values of every kind a metric can hold, with the kind the export names.
MIXED: list[tuple[Any, str]] = [
    (0.25, "float"),
    (float("nan"), "float"),
    (float("inf"), "float"),
    (float("-inf"), "float"),
    (-0.0, "float"),
    (3, "int"),
    (2**60 + 1, "int"),
    (-(2**63), "int"),
    (True, "bool"),
    (False, "bool"),
    ("text", "str"),
    ({"a": [1, None, float("nan")]}, "json"),
    ([1, 2], "json"),
]


@pytest.fixture
def model(connection: mltracker.Connection) -> Model:
    return connection.experiments.create(f"e-{uuid.uuid4()}").models.create("h")


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or (
            left == right and math.copysign(1, left) == math.copysign(1, right)
        )
    return type(left) is type(right) and left == right


def _without_arrow_driver(connection: mltracker.Connection, model: Model) -> pandas.DataFrame:
    """What ``to_pandas`` gives where the columnar path is not installed."""
    store = connection.store
    return columns_to_pandas(pandas, store.metric_columns(model.id, MetricFilter()))


def test_to_arrow_has_the_columns_of_the_parquet_export(model: Model) -> None:
    model.metrics.log("loss", 0.5, step=3, phase="train", timestamp=1_700_000_000.25)

    table = model.metrics.to_arrow()

    assert table.schema.names == [
        "name",
        "phase",
        "step",
        "kind",
        "value",
        "value_text",
        "timestamp",
    ]
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist()[0]["timestamp"].timestamp() == 1_700_000_000.25
    assert [row["value"] for row in table.to_pylist()] == [0.5]


def test_to_arrow_keeps_every_kind_of_value(model: Model) -> None:
    for step, (value, _kind) in enumerate(MIXED):
        model.metrics.log("m", value, step=step)

    rows = model.metrics.to_arrow().to_pylist()

    assert [row["kind"] for row in rows] == [kind for _, kind in MIXED]
    assert [row["step"] for row in rows] == list(range(len(MIXED)))
    assert _same(rows[1]["value"], math.nan) and _same(rows[4]["value"], -0.0)
    assert rows[6]["value_text"] == str(2**60 + 1) and rows[5]["value_text"] is None
    assert rows[8]["value"] == 1.0 and rows[9]["value"] == 0.0
    assert rows[10]["value"] is None and rows[10]["value_text"] == "text"
    assert rows[11]["value_text"] == '{"a": [1, null, "NaN"]}'


def test_to_arrow_of_a_model_without_points_is_empty(model: Model) -> None:
    assert model.metrics.to_arrow().num_rows == 0


def test_to_pandas_values_equal_list(model: Model) -> None:
    for step, (value, _kind) in enumerate(MIXED):
        model.metrics.log("m", value, step=step, phase="p" if step % 2 else None)

    frame = model.metrics.to_pandas()

    listed = model.metrics.list()
    assert all(_same(a, b.value) for a, b in zip(frame["value"], listed, strict=True))
    assert frame["step"].tolist() == list(range(len(MIXED)))
    assert frame["step"].dtype == "Int64"


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.5, 1.5, float("nan"), -0.0, float("inf")], id="floats"),
        pytest.param([1, 2, 2**62], id="ints"),
        pytest.param([True, False], id="bools"),
        pytest.param([1, 2.5], id="ints-and-floats"),
        pytest.param([1, 2**60 + 1, 2.5], id="big-int-and-float"),
        pytest.param([1, True], id="int-and-bool"),
        pytest.param(["a", {"b": 1}, 0.5], id="json"),
    ],
)
def test_to_pandas_equals_the_frame_read_point_by_point(
    connection: mltracker.Connection, model: Model, values: list[Any]
) -> None:
    for step, value in enumerate(values):
        model.metrics.log("m", value, step=step if step else None, phase="train")
    model.metrics.log("other", 1.0, step=1)

    frame = model.metrics.to_pandas()

    pandas.testing.assert_frame_equal(frame, _without_arrow_driver(connection, model))


def test_to_pandas_of_a_model_without_points_equals_the_frame_read_point_by_point(
    connection: mltracker.Connection, model: Model
) -> None:
    pandas.testing.assert_frame_equal(
        model.metrics.to_pandas(), _without_arrow_driver(connection, model)
    )


def test_to_pandas_and_to_arrow_filter_like_list(model: Model) -> None:
    for step in range(6):
        model.metrics.log("loss", float(step), step=step, phase="train" if step % 2 else None)
        model.metrics.log("acc", float(-step), step=step)

    frame = model.metrics.to_pandas("loss", phase=NO_PHASE, start_step=1, stop_step=5)
    table = model.metrics.to_arrow("loss", phase=NO_PHASE, start_step=1, stop_step=5)

    assert frame["value"].tolist() == [2.0, 4.0]
    assert table.column("value").to_pylist() == [2.0, 4.0]


def test_to_arrow_interleaves_series_in_logged_order(model: Model) -> None:
    for step in range(4):
        model.metrics.log("loss", float(step), step=step, phase="train")
        model.metrics.log("loss", float(step) + 0.5, step=step, phase="eval")
        model.metrics.log("acc", step, step=step)

    table = model.metrics.to_arrow()

    listed = model.metrics.list()
    assert table.column("name").to_pylist() == [point.name for point in listed]
    assert table.column("phase").to_pylist() == [point.phase for point in listed]
    assert table.column("value").to_pylist() == [float(point.value) for point in listed]


def test_columnar_reads_from_many_threads_agree(model: Model) -> None:
    for step in range(2000):
        model.metrics.log("loss", step / 7, step=step)
    expected = model.metrics.to_arrow()

    with ThreadPoolExecutor(max_workers=6) as pool:
        tables = list(pool.map(lambda _: model.metrics.to_arrow(), range(24)))

    assert all(table.equals(expected) for table in tables)


def _read_in_child(uri: str, experiment: str, queue: Any) -> None:
    found = mltracker.connect(uri).experiments.read(experiment)
    assert found is not None
    model = found.models.read("h")
    assert model is not None
    queue.put(model.metrics.to_arrow().column("value").to_pylist())


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method")
def test_a_forked_child_reads_columns_on_connections_of_its_own(
    connection: mltracker.Connection,
) -> None:
    name = f"e-{uuid.uuid4()}"
    model = connection.experiments.create(name).models.create("h")
    for step in range(10):
        model.metrics.log("loss", float(step), step=step)
    assert model.metrics.to_arrow().num_rows == 10  # the parent holds a connection now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    child = context.Process(target=_read_in_child, args=(connection.uri, name, queue))
    child.start()
    values = queue.get(timeout=60)
    child.join(timeout=60)

    assert child.exitcode == 0 and values == [float(step) for step in range(10)]
    assert model.metrics.to_arrow().num_rows == 10  # and the parent's still works
