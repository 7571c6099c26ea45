"""``mltracker experiments list|show|rename|delete``."""

from __future__ import annotations

import pytest

import mltracker

from .helpers import (
    FIRST_HASH,
    SECOND_HASH,
    THIRD_HASH,
    Contents,
    Run,
    assert_error,
    parse_json,
    table_header,
    table_rows,
)


def names(uri: str) -> list[str]:
    with mltracker.connect(uri) as tracker:
        return [experiment.name for experiment in tracker.experiments.list()]


def test_list_prints_table_of_experiments(run: Run, filled: Contents) -> None:
    result = run("experiments", "list")

    assert result.exit_code == 0
    assert table_header(result.stdout) == ["name", "models", "id"]
    rows = table_rows(result.stdout)
    assert [row[:2] for row in rows] == [["mnist", "3"], ["empty", "0"]]
    assert rows[0][2] == filled.experiment_id


def test_list_json_gives_id_name_and_model_count(run: Run, filled: Contents) -> None:
    result = run("--json", "experiments", "list")

    rows = parse_json(result.stdout)
    assert [(row["name"], row["models"]) for row in rows] == [("mnist", 3), ("empty", 0)]
    assert rows[0]["id"] == filled.experiment_id


def test_list_of_empty_store_is_empty_json_list(run_sqlite: Run, sqlite_uri: str) -> None:
    assert run_sqlite("db", "upgrade").exit_code == 0  # a store without experiments

    assert parse_json(run_sqlite("--json", "experiments", "list").stdout) == []


def test_show_prints_one_row_per_model_with_latest_metrics(run: Run, filled: Contents) -> None:
    result = run("experiments", "show", "mnist")

    assert result.exit_code == 0
    header = table_header(result.stdout)
    assert header == [
        "hash",
        "name",
        "step",
        "loss/train",
        "accuracy/validation",
        "grad_norm",
        "peak",
        "trough",
        "count/train",
        "config",
    ]
    rows = [dict(zip(header, row, strict=True)) for row in table_rows(result.stdout)]
    assert [row["hash"] for row in rows] == [FIRST_HASH, SECOND_HASH, THIRD_HASH]
    assert rows[0] == {
        "hash": FIRST_HASH,
        "name": "mlp",
        "step": "3",
        "loss/train": "0.333333",
        "accuracy/validation": "0.83",
        "grad_norm": "NaN",
        "peak": "Infinity",
        "trough": "-Infinity",
        "count/train": "7",
        "config": '{"depth": 2, "tags": ["a", "b"]}',
    }
    assert rows[1]["loss/train"] == "0.5" and rows[1]["grad_norm"] == ""
    assert rows[2]["name"] == "" and rows[2]["step"] == "0"


def test_show_json_gives_latest_points_of_each_model(run: Run, filled: Contents) -> None:
    result = run("--json", "experiments", "show", "mnist")

    document = parse_json(result.stdout)
    assert document["name"] == "mnist"
    models = document["models"]
    assert [(m["hash"], m["name"], m["step"]) for m in models] == [
        (FIRST_HASH, "mlp", 3),
        (SECOND_HASH, "cnn", 0),
        (THIRD_HASH, None, 0),
    ]
    latest = {(p["name"], p["phase"]): (p["step"], p["value"]) for p in models[0]["latest"]}
    assert latest == {
        ("loss", "train"): (3, pytest.approx(1 / 3)),
        ("accuracy", "validation"): (3, pytest.approx(0.83)),
        ("grad_norm", None): (4, "NaN"),
        ("peak", None): (4, "Infinity"),
        ("trough", None): (4, "-Infinity"),
        ("count", "train"): (4, 7),
        ("config", None): (None, {"depth": 2, "tags": ["a", "b"]}),
    }
    assert models[2]["latest"] == []


def test_show_missing_experiment_exits_1(run: Run, filled: Contents) -> None:
    assert_error(run("experiments", "show", "cifar"), "no experiment named 'cifar'")


def test_rename_changes_name_keeping_models(run: Run, filled: Contents) -> None:
    result = run("experiments", "rename", "mnist", "digits")

    assert result.exit_code == 0
    assert "Renamed experiment 'mnist' to 'digits'" in result.stdout
    assert names(filled.uri) == ["digits", "empty"]
    assert parse_json(run("--json", "experiments", "list").stdout)[0]["models"] == 3


def test_rename_json_reports_id_and_both_names(run: Run, filled: Contents) -> None:
    document = parse_json(run("--json", "experiments", "rename", "empty", "void").stdout)

    assert document["name"] == "void" and document["previous_name"] == "empty"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        pytest.param("cifar", "x", "no experiment named 'cifar'", id="missing"),
        pytest.param("mnist", "empty", "exists already", id="taken"),
        pytest.param("mnist", "", "must not be empty", id="empty-name"),
    ],
)
def test_rename_refused_exits_1_and_changes_nothing(
    run: Run, filled: Contents, old: str, new: str, fragment: str
) -> None:
    assert_error(run("experiments", "rename", old, new), fragment)
    assert names(filled.uri) == ["mnist", "empty"]


def test_delete_with_yes_deletes_without_asking(run: Run, filled: Contents) -> None:
    result = run("experiments", "delete", "mnist", "--yes")

    assert result.exit_code == 0
    assert "[y/N]" not in result.output
    assert "Deleted experiment 'mnist' and its 3 models." in result.stdout
    assert names(filled.uri) == ["empty"]


def test_delete_confirmed_deletes(run: Run, filled: Contents) -> None:
    result = run("experiments", "delete", "mnist", input="y\n")

    assert result.exit_code == 0
    assert "Delete experiment 'mnist' and its 3 models? [y/N]" in result.stderr
    assert names(filled.uri) == ["empty"]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("n\n", id="declined"),
        pytest.param("\n", id="default"),
        pytest.param(None, id="no-stdin"),
    ],
)
def test_delete_not_confirmed_aborts_and_keeps_experiment(
    run_sqlite: Run, filled_sqlite: Contents, answer: str | None
) -> None:
    result = run_sqlite("experiments", "delete", "mnist", input=answer)

    assert_error(result, "aborted")
    assert names(filled_sqlite.uri) == ["mnist", "empty"]


def test_delete_json_prints_only_json_on_stdout(run: Run, filled: Contents) -> None:
    result = run("--json", "experiments", "delete", "mnist", input="y\n")

    assert parse_json(result.stdout) == {
        "id": filled.experiment_id,
        "name": "mnist",
        "deleted": True,
        "models": 3,
    }


def test_delete_missing_experiment_exits_1(run: Run, filled: Contents) -> None:
    assert_error(run("experiments", "delete", "cifar", "--yes"), "no experiment named 'cifar'")
