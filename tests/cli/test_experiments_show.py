"""``mltracker experiments show``: picking series, and a long table where a wide one won't fit."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner, Result

import mltracker
from mltracker.cli import cli

from .helpers import FIRST_HASH, Contents, Run, parse_json, table_header, table_rows

LONG_HEADER = ["hash", "name", "step", "metric", "phase", "value"]


def run_at_width(uri: str, columns: int, *args: str) -> Result:
    runner = CliRunner(env={"COLUMNS": str(columns)})
    return runner.invoke(cli, ["--uri", uri, *args], catch_exceptions=False)


@pytest.fixture
def many_series(sqlite_uri: str) -> list[str]:
    """Experiment "wide": three models with long hashes and 25 series each."""
    hashes = [hashlib.sha256(str(index).encode()).hexdigest() for index in range(3)]
    with mltracker.connect(sqlite_uri) as tracker:
        experiment = tracker.experiments.create("wide")
        for index, hash in enumerate(hashes):
            model = experiment.models.create(hash, name=f"model-{index}")
            for series in range(25):
                phase = "train" if series % 2 else "validation"
                model.metrics.log(f"metric_{series:02d}", 0.1234567 * series, step=1, phase=phase)
    return hashes


def test_metric_option_picks_series_in_the_given_order(run: Run, filled: Contents) -> None:
    result = run("experiments", "show", "mnist", "--metric", "accuracy", "-m", "loss")

    assert result.exit_code == 0, result.output
    assert table_header(result.stdout) == [
        "hash",
        "name",
        "step",
        "accuracy/validation",
        "loss/train",
    ]
    assert table_rows(result.stdout)[0][3:] == ["0.83", "0.333333"]


def test_phase_option_picks_series_of_those_phases(run: Run, filled: Contents) -> None:
    result = run("experiments", "show", "mnist", "--phase", "train")

    assert table_header(result.stdout)[3:] == ["loss/train", "count/train"]


def test_json_has_only_the_picked_series(run: Run, filled: Contents) -> None:
    result = run("--json", "experiments", "show", "mnist", "-m", "loss", "-p", "train")

    models = parse_json(result.stdout)["models"]
    assert [[(p["name"], p["phase"]) for p in m["latest"]] for m in models] == [
        [("loss", "train")],
        [("loss", "train")],
        [],
    ]


def test_no_matching_series_says_so(run: Run, filled: Contents) -> None:
    result = run("experiments", "show", "mnist", "-m", "bleu")

    assert result.exit_code == 0
    assert table_header(result.stdout) == ["hash", "name", "step"]
    assert "No series matches --metric/--phase." in result.stderr


def test_table_too_wide_for_the_terminal_becomes_one_row_per_model_and_series(
    sqlite_uri: str, many_series: list[str]
) -> None:
    result = run_at_width(sqlite_uri, 100, "experiments", "show", "wide")

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert table_header(result.stdout) == LONG_HEADER
    rows = table_rows(result.stdout)
    assert [row[3] for row in rows if row[3]] == [f"metric_{n:02d}" for n in range(25)] * 3
    assert [row[5] for row in rows if row[3] == "metric_02"] == ["0.246913"] * 3
    hashes = "".join(row[0] for row in rows)
    assert all(hash in hashes for hash in many_series)
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_table_that_fits_stays_one_row_per_model(sqlite_uri: str, many_series: list[str]) -> None:
    result = run_at_width(sqlite_uri, 200, "experiments", "show", "wide", "-m", "metric_01")

    assert table_header(result.stdout) == ["hash", "name", "step", "metric_01/train"]
    assert [row[0] for row in table_rows(result.stdout)] == many_series


def test_long_flag_forces_one_row_per_model_and_series(run: Run, filled: Contents) -> None:
    result = run("experiments", "show", "mnist", "--long")

    assert table_header(result.stdout) == LONG_HEADER
    rows = table_rows(result.stdout)
    assert rows[0] == [FIRST_HASH, "mlp", "3", "loss", "train", "0.333333"]
    assert rows[1][:3] == ["", "", ""] and rows[1][3:5] == ["accuracy", "validation"]
    assert len(rows) == 7 + 1 + 1  # the first model's series, then one row each for the others
