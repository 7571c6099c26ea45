"""``mltracker export``: CSV, JSON Lines and Parquet."""

from __future__ import annotations

import csv
import io
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import mltracker

from .helpers import (
    FIRST_HASH,
    SECOND_HASH,
    Contents,
    Run,
    assert_error,
    assert_usage_error,
    parse_json,
)

COLUMNS = [
    "experiment",
    "model_hash",
    "model_name",
    "run",
    "name",
    "phase",
    "step",
    "kind",
    "value",
    "timestamp",
]


def test_csv_of_one_model_to_stdout(run: Run, filled: Contents) -> None:
    result = run("export", "mnist", FIRST_HASH)

    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == COLUMNS
    assert rows[1][:3] == ["mnist", FIRST_HASH, "mlp"]
    assert rows[1][4:9] == ["loss", "train", "1", "float", "1.0"]
    assert [row[7:9] for row in rows[7:]] == [
        ["float", "nan"],
        ["float", "inf"],
        ["float", "-inf"],
        ["int", "7"],
        ["json", '{"depth": 2, "tags": ["a", "b"]}'],
    ]
    assert rows[-1][5:7] == ["", ""]
    assert datetime.fromisoformat(rows[1][9]).tzinfo == UTC
    assert len(rows) == 1 + 11


def test_csv_of_every_model_of_experiment(run: Run, filled: Contents) -> None:
    result = run("export", "mnist", "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["model_hash"] for row in rows] == [FIRST_HASH] * 11 + [SECOND_HASH]
    assert rows[-1]["model_name"] == "cnn" and rows[-1]["value"] == "0.5"


def test_csv_of_experiment_without_models_is_header_only(
    run_sqlite: Run, filled_sqlite: Contents
) -> None:
    assert run_sqlite("export", "empty").stdout == ",".join(COLUMNS) + "\n"


def test_jsonl_writes_one_strict_json_object_per_point(run: Run, filled: Contents) -> None:
    result = run("export", "mnist", FIRST_HASH, "--format", "jsonl")

    points = [parse_json(line) for line in result.stdout.splitlines()]
    assert list(points[0]) == COLUMNS
    assert points[0]["value"] == 1.0 and points[0]["step"] == 1
    assert [(p["kind"], p["value"]) for p in points[6:]] == [
        ("float", "NaN"),
        ("float", "Infinity"),
        ("float", "-Infinity"),
        ("int", 7),
        ("json", {"depth": 2, "tags": ["a", "b"]}),
    ]
    assert points[-1]["phase"] is None and points[-1]["step"] is None


def test_output_file_format_from_suffix_and_summary_on_stderr(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path
) -> None:
    target = tmp_path / "points.jsonl"

    result = run_sqlite("export", "mnist", "--output", str(target))

    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"Exported 12 metric points to {target} (jsonl)." in result.stderr
    assert len(target.read_text().splitlines()) == 12


def test_output_file_json_summary(run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path) -> None:
    target = tmp_path / "points.csv"

    result = run_sqlite("--json", "export", "mnist", SECOND_HASH, "-o", str(target))

    assert parse_json(result.stdout) == {
        "experiment": "mnist",
        "format": "csv",
        "output": str(target),
        "rows": 1,
    }
    with mltracker.connect(filled_sqlite.uri) as tracker:
        model = tracker.experiments.read("mnist").models.read(SECOND_HASH)  # type: ignore[union-attr]
        assert model is not None
        [run] = model.runs.list()
    assert (
        target.read_text()
        .splitlines()[1]
        .startswith(f"mnist,{SECOND_HASH},cnn,{run.id},loss,train,1,float,0.5,")
    )


def test_each_point_names_its_run(run: Run, filled: Contents) -> None:
    with mltracker.connect(filled.uri) as tracker:
        model = tracker.experiments.read("mnist").models.read(SECOND_HASH)  # type: ignore[union-attr]
        assert model is not None
        with model.runs.start("again") as again:
            model.metrics.log("loss", 0.25, step=2, phase="train")
        first, second = model.runs.list()
        assert second == again

    result = run("export", "mnist", SECOND_HASH, "--format", "jsonl")

    points = [parse_json(line) for line in result.stdout.splitlines()]
    assert [(point["run"], point["value"]) for point in points] == [
        (str(first.id), 0.5),
        (str(again.id), 0.25),
    ]


def test_parquet_has_typed_columns(run: Run, filled: Contents, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    target = tmp_path / "points.parquet"

    result = run("export", "mnist", "-o", str(target))

    assert result.exit_code == 0
    table = pq.read_table(target)
    assert table.column_names == [*COLUMNS, "value_text"]
    assert str(table.schema.field("step").type) == "int64"
    assert str(table.schema.field("value").type) == "double"
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    rows = table.to_pylist()
    assert len(rows) == 12
    assert rows[0]["value"] == 1.0 and rows[0]["timestamp"].year >= 2024
    assert math.isnan(rows[6]["value"]) and rows[7]["value"] == math.inf
    assert (rows[9]["kind"], rows[9]["value"], rows[9]["value_text"]) == ("int", 7.0, None)
    assert (rows[10]["kind"], rows[10]["value"], rows[10]["value_text"]) == (
        "json",
        None,
        '{"depth": 2, "tags": ["a", "b"]}',
    )
    assert rows[10]["step"] is None and rows[10]["phase"] is None


def test_parquet_to_stdout_is_usage_error(run_sqlite: Run, filled_sqlite: Contents) -> None:
    assert_usage_error(run_sqlite("export", "mnist", "--format", "parquet"), "give --output FILE")


def test_parquet_without_pyarrow_exits_1_with_install_command(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)

    result = run_sqlite("export", "mnist", "-o", str(tmp_path / "points.parquet"))

    assert_error(result, "pip install 'mltracker[parquet]'")
    assert not (tmp_path / "points.parquet").exists()


@pytest.mark.parametrize("format_", ["csv", "jsonl"])
def test_csv_and_jsonl_work_without_pandas(
    run_sqlite: Run, filled_sqlite: Contents, monkeypatch: pytest.MonkeyPatch, format_: str
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)

    result = run_sqlite("export", "mnist", "--format", format_)

    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == {"csv": 13, "jsonl": 12}[format_]


def test_unwritable_output_exits_1(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path
) -> None:
    target = tmp_path / "missing-folder" / "points.csv"

    assert_error(run_sqlite("export", "mnist", "-o", str(target)), f"cannot write {target}")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["cifar"], "no experiment named 'cifar'", id="experiment"),
        pytest.param(["mnist", "zz"], "no model with hash 'zz'", id="model"),
    ],
)
def test_unknown_experiment_or_model_exits_1_before_writing(
    run_sqlite: Run, filled_sqlite: Contents, args: list[str], fragment: str
) -> None:
    result = run_sqlite("export", *args)

    assert_error(result, fragment)
    assert result.stdout == ""


def test_unknown_format_is_usage_error(run_sqlite: Run, filled_sqlite: Contents) -> None:
    assert_usage_error(run_sqlite("export", "mnist", "--format", "xml"), "'xml' is not one of")
