"""``mltracker.export``: the rows of an export and their writers, called as a library."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mltracker
from mltracker import InvalidArgumentError, MLTrackerError
from mltracker.codec import iso_time, metric_value
from mltracker.export import (
    COLUMNS,
    PARQUET_INSTALL,
    Row,
    export_lines,
    export_rows,
    require_pyarrow,
    write_rows,
)

VALUES: list[Any] = [math.nan, -math.inf, -0.0, 2**63 - 1, 2**60 + 1, True, "NaN", [1, {"a": 2}]]


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[mltracker.Connection]:
    with mltracker.connect(tmp_path / "store.db") as connection:
        yield connection


@pytest.fixture
def rows(tracker: mltracker.Connection) -> list[Row]:
    """The rows of experiment "mnist": model "a" with every value of VALUES, then "b"."""
    experiment = tracker.experiments.create("mnist")
    first = experiment.models.create("a", name="mlp")
    for step, value in enumerate(VALUES):
        first.metrics.log("loss", value, step=step, phase="train" if step % 2 else None)
    second = experiment.models.create("b")
    second.metrics.log("acc", 0.5)
    return list(export_rows(experiment, experiment.models.list()))


def same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    return type(left) is type(right) and left == right


def test_export_rows_are_the_points_model_by_model_in_logged_order(
    tracker: mltracker.Connection, rows: list[Row]
) -> None:
    assert [(row.model_hash, row.name, row.step) for row in rows] == [
        *(("a", "loss", step) for step in range(len(VALUES))),
        ("b", "acc", None),
    ]
    assert {row.experiment for row in rows} == {"mnist"}
    assert [row.model_name for row in rows] == ["mlp"] * len(VALUES) + [None]
    assert [row.phase for row in rows[:2]] == [None, "train"]
    # Each point names the run that logged it: here each model's implicit run.
    experiment = tracker.experiments.read("mnist")
    assert experiment is not None
    runs = {model.hash: model.runs.list() for model in experiment.models.list()}
    assert [len(found) for found in runs.values()] == [1, 1]
    assert [row.run for row in rows] == [runs["a"][0].id] * len(VALUES) + [runs["b"][0].id]
    assert all(same(row.value, value) for row, value in zip(rows, VALUES, strict=False))


def test_export_rows_reads_a_model_when_the_rows_reach_it(tracker: mltracker.Connection) -> None:
    experiment = tracker.experiments.create("mnist")
    model = experiment.models.create("a")
    model.metrics.log("loss", 1.0)
    rows = export_rows(experiment, [model])
    model.metrics.log("loss", 2.0)

    assert [row.value for row in rows] == [1.0, 2.0]


def test_jsonl_lines_read_back_exactly(rows: list[Row]) -> None:
    lines = list(export_lines(rows, "jsonl"))

    assert len(lines) == len(rows)
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    documents = [json.loads(line, parse_constant=pytest.fail) for line in lines]
    assert [list(document) for document in documents] == [list(COLUMNS)] * len(rows)
    for document, row in zip(documents, rows, strict=True):
        assert same(metric_value(document["kind"], document["value"]), row.value)
        assert document["timestamp"] == iso_time(row.timestamp)


def test_csv_lines_start_with_the_header_and_quote_what_needs_it(rows: list[Row]) -> None:
    lines = list(export_lines(rows, "csv"))
    records = list(csv.reader(io.StringIO("".join(lines))))

    assert len(lines) == len(rows) + 1
    assert records[0] == list(COLUMNS)
    assert [record[7:9] for record in records[1 : len(VALUES) + 1]] == [
        ["float", "nan"],
        ["float", "-inf"],
        ["float", "-0.0"],
        ["int", str(2**63 - 1)],
        ["int", str(2**60 + 1)],
        ["bool", "true"],
        ["str", "NaN"],
        ["json", '[1, {"a": 2}]'],
    ]
    assert records[-1][:7] == ["mnist", "b", "", str(rows[-1].run), "acc", "", ""]


def test_a_point_of_no_run_has_an_empty_run_in_every_format(tmp_path: Path) -> None:
    row = Row("mnist", "a", None, "loss", None, 1, 0.5, 0.0)  # run: None

    [jsonl_line] = export_lines([row], "jsonl")

    assert next(csv.DictReader(io.StringIO("".join(export_lines([row], "csv")))))["run"] == ""
    assert json.loads(jsonl_line)["run"] is None
    pq = pytest.importorskip("pyarrow.parquet")
    write_rows([row], "parquet", tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").to_pylist()[0]["run"] is None


def test_export_lines_refuses_parquet() -> None:
    with pytest.raises(InvalidArgumentError, match="not a text format"):
        export_lines([], "parquet")


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_write_rows_to_a_stream_and_to_a_path_give_the_lines(
    rows: list[Row], format: Any, tmp_path: Path
) -> None:
    stream = io.StringIO()
    path = tmp_path / f"out.{format}"

    assert write_rows(rows, format, stream) == len(rows)
    assert write_rows(iter(rows), format, path) == len(rows)
    expected = "".join(export_lines(rows, format))
    assert stream.getvalue() == expected
    assert path.read_bytes() == expected.encode()


def test_write_rows_of_nothing_writes_the_csv_header_only() -> None:
    stream = io.StringIO()

    assert write_rows([], "csv", stream) == 0
    assert stream.getvalue() == ",".join(COLUMNS) + "\n"


def test_write_rows_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown export format 'xlsx'"):
        write_rows([], "xlsx", tmp_path / "out.xlsx")  # type: ignore[arg-type]
    assert not (tmp_path / "out.xlsx").exists()


def test_write_rows_as_parquet_to_a_path_and_a_binary_stream(
    rows: list[Row], tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "out.parquet"
    stream = io.BytesIO()

    assert write_rows(rows, "parquet", path) == len(rows)
    assert write_rows(rows, "parquet", stream) == len(rows)
    table = pq.read_table(path)
    from_stream = pq.read_table(io.BytesIO(stream.getvalue()))
    assert repr(from_stream.to_pylist()) == repr(table.to_pylist())  # NaN == NaN here
    assert table.column_names == [*COLUMNS, "value_text"]
    records = table.to_pylist()
    assert [record["kind"] for record in records[: len(VALUES)]] == [
        "float",
        "float",
        "float",
        "int",
        "int",
        "bool",
        "str",
        "json",
    ]
    assert records[3]["value_text"] == str(2**63 - 1)
    assert records[6]["value"] is None
    assert records[6]["value_text"] == "NaN"


def test_write_rows_refuses_parquet_into_a_text_stream() -> None:
    pytest.importorskip("pyarrow")

    with pytest.raises(InvalidArgumentError, match="parquet is binary"):
        write_rows([], "parquet", io.StringIO())


def test_parquet_without_pyarrow_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)

    with pytest.raises(MLTrackerError, match="needs pyarrow") as caught:
        require_pyarrow()
    assert PARQUET_INSTALL in str(caught.value)
    with pytest.raises(MLTrackerError, match="needs pyarrow"):
        write_rows([], "parquet", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
