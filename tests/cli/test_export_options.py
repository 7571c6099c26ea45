"""``mltracker export``: --json, output to a folder, no stray files; PostgreSQL URLs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from .helpers import FIRST_HASH, Contents, Run, assert_error, invoke, parse_json


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["export", "mnist", "--json"], id="after"),
        pytest.param(["--json", "export", "mnist"], id="before"),
    ],
)
def test_json_flag_exports_json_lines(
    run_sqlite: Run, filled_sqlite: Contents, args: list[str]
) -> None:
    result = run_sqlite(*args)

    assert result.exit_code == 0, result.output
    points = [parse_json(line) for line in result.stdout.splitlines()]
    assert len(points) == 12
    assert points[0]["model_hash"] == FIRST_HASH and points[0]["kind"] == "float"


def test_json_flag_with_csv_format_writes_csv(run_sqlite: Run, filled_sqlite: Contents) -> None:
    result = run_sqlite("--json", "export", "mnist", "--format", "csv")

    assert result.exit_code == 0
    assert next(csv.reader(io.StringIO(result.stdout)))[0] == "experiment"


def test_json_flag_with_output_file_prints_a_json_summary(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path
) -> None:
    target = tmp_path / "points.csv"

    result = run_sqlite("export", "mnist", "--json", "-o", str(target))

    assert parse_json(result.stdout)["format"] == "csv"
    assert target.read_text().startswith("experiment,")


@pytest.mark.parametrize("slash", [pytest.param("/", id="slash"), pytest.param("", id="no-slash")])
def test_output_to_a_folder_is_a_clear_error_and_leaves_nothing(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path, slash: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()

    result = run_sqlite("export", "mnist", "-o", f"{folder}{slash}")

    assert_error(result, f"{folder}{slash} is a folder: give the file to write, e.g. ")
    assert list(folder.iterdir()) == []


def test_output_to_a_folder_that_does_not_exist_yet_is_refused(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path
) -> None:
    result = run_sqlite("export", "mnist", "-o", f"{tmp_path}/new/")

    assert_error(result, "is a folder")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["store.db"]


@pytest.mark.parametrize("format_", ["csv", "jsonl", "parquet"])
def test_export_over_an_existing_file_leaves_no_temporary_file(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path, format_: str
) -> None:
    target = tmp_path / f"points.{format_}"
    target.write_text("old")

    result = run_sqlite("export", "mnist", "-o", str(target))

    assert result.exit_code == 0, result.output
    assert target.read_bytes() != b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [target.name, "store.db", "store.db-shm", "store.db-wal"]
    ) or sorted(path.name for path in tmp_path.iterdir()) == sorted([target.name, "store.db"])


def test_failed_export_keeps_the_existing_file(
    run_sqlite: Run, filled_sqlite: Contents, tmp_path: Path
) -> None:
    target = tmp_path / "points.csv"
    target.write_text("old")

    assert_error(run_sqlite("export", "cifar", "-o", str(target)), "no experiment")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "scheme", ["postgresql+psycopg2", "postgres+psycopg2", "postgresql+asyncpg"]
)
def test_url_with_another_postgres_driver_says_psycopg_3_is_used(scheme: str) -> None:
    result = invoke("--uri", f"{scheme}://user@localhost/db", "experiments", "list")

    assert_error(result, "MLTracker talks to PostgreSQL through psycopg 3")
    assert "postgresql+psycopg://" in result.stderr
    assert "psycopg2'" not in result.stderr


def test_url_with_another_driver_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACKER_URI", "postgresql+psycopg2://user@localhost/db")

    assert_error(invoke("experiments", "list"), "through psycopg 3")


def test_url_with_the_psycopg_driver_is_used(postgres_uri: str) -> None:
    uri = postgres_uri.replace("postgresql://", "postgresql+psycopg://", 1)

    result = invoke("--uri", uri, "--json", "experiments", "list")

    assert result.exit_code == 0, result.output
    assert parse_json(result.stdout) == []
