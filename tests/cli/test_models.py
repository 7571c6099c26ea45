"""``mltracker models list|show|rename|delete``."""

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


def model_names(uri: str) -> dict[str, str | None]:
    with mltracker.connect(uri) as tracker:
        experiment = tracker.experiments.read("mnist")
        assert experiment is not None
        return {model.hash: model.name for model in experiment.models.list()}


def test_list_prints_hash_name_step_description(run: Run, filled: Contents) -> None:
    result = run("models", "list", "mnist")

    assert result.exit_code == 0
    assert table_header(result.stdout) == ["hash", "name", "step", "description"]
    assert table_rows(result.stdout) == [
        [FIRST_HASH, "mlp", "3", "two layers"],
        [SECOND_HASH, "cnn", "0", ""],
        [THIRD_HASH, "", "0", ""],
    ]


def test_list_json(run: Run, filled: Contents) -> None:
    rows = parse_json(run("--json", "models", "list", "mnist").stdout)

    assert rows[0] == {
        "id": filled.first_id,
        "hash": FIRST_HASH,
        "name": "mlp",
        "description": "two layers",
        "step": 3,
    }
    assert [row["hash"] for row in rows] == [FIRST_HASH, SECOND_HASH, THIRD_HASH]


def test_list_of_missing_experiment_exits_1(run: Run, filled: Contents) -> None:
    assert_error(run("models", "list", "cifar"), "no experiment named 'cifar'")


def test_show_prints_details_modules_and_latest_metrics(run: Run, filled: Contents) -> None:
    result = run("models", "show", "mnist", FIRST_HASH)

    assert result.exit_code == 0
    details = dict(line.split(None, 1) for line in result.stdout.splitlines()[:6])
    assert details == {
        "experiment": "mnist",
        "hash": FIRST_HASH,
        "name": "mlp",
        "description": "two layers",
        "step": "3",
        "iterations": "3",
    }
    rows = table_rows(result.stdout)
    assert rows[0] == ["layers.0", '{"type": "Linear", "in_features": 784, "out_features": 128}']
    assert rows[1] == ["loss", '{"type": "CrossEntropyLoss"}']
    assert rows[2][:4] == ["loss", "train", "3", "0.333333"]
    assert ["grad_norm", "", "4", "NaN"] in [row[:4] for row in rows]


def test_show_json(run: Run, filled: Contents) -> None:
    document = parse_json(run("--json", "models", "show", "mnist", FIRST_HASH).stdout)

    assert {key: document[key] for key in ("hash", "name", "description", "step")} == {
        "hash": FIRST_HASH,
        "name": "mlp",
        "description": "two layers",
        "step": 3,
    }
    assert document["iterations"] == 3
    assert [(m["name"], m["attributes"]) for m in document["modules"]] == [
        ("layers.0", {"type": "Linear", "in_features": 784, "out_features": 128}),
        ("loss", {"type": "CrossEntropyLoss"}),
    ]
    assert [(p["name"], p["value"]) for p in document["latest"]][2:5] == [
        ("grad_norm", "NaN"),
        ("peak", "Infinity"),
        ("trough", "-Infinity"),
    ]


def test_show_accepts_unique_hash_prefix(run: Run, filled: Contents) -> None:
    document = parse_json(run("--json", "models", "show", "mnist", "b").stdout)

    assert document["hash"] == THIRD_HASH


@pytest.mark.parametrize(
    ("experiment", "hash", "fragment"),
    [
        pytest.param("mnist", "zz", "no model with hash 'zz' in experiment 'mnist'", id="missing"),
        pytest.param("mnist", "a1", "'a1' is the start of 2 model hashes", id="ambiguous"),
        pytest.param("cifar", FIRST_HASH, "no experiment named 'cifar'", id="no-experiment"),
        pytest.param("empty", FIRST_HASH, "in experiment 'empty'", id="other-experiment"),
    ],
)
def test_show_unknown_model_exits_1(
    run: Run, filled: Contents, experiment: str, hash: str, fragment: str
) -> None:
    assert_error(run("models", "show", experiment, hash), fragment)


def test_rename_sets_name_keeping_hash(run: Run, filled: Contents) -> None:
    result = run("models", "rename", "mnist", SECOND_HASH, "resnet")

    assert result.exit_code == 0
    assert f"Renamed model {SECOND_HASH} of 'mnist' to 'resnet'." in result.stdout
    assert model_names(filled.uri) == {FIRST_HASH: "mlp", SECOND_HASH: "resnet", THIRD_HASH: None}


def test_rename_json(run: Run, filled: Contents) -> None:
    document = parse_json(run("--json", "models", "rename", "mnist", THIRD_HASH, "x").stdout)

    assert (document["hash"], document["name"], document["previous_name"]) == (
        THIRD_HASH,
        "x",
        None,
    )


def test_rename_to_empty_name_exits_1(run: Run, filled: Contents) -> None:
    assert_error(run("models", "rename", "mnist", FIRST_HASH, ""), "must not be empty")
    assert model_names(filled.uri)[FIRST_HASH] == "mlp"


def test_delete_with_yes_deletes_model_only(run: Run, filled: Contents) -> None:
    result = run("models", "delete", "mnist", FIRST_HASH, "--yes")

    assert result.exit_code == 0
    assert f"Deleted model {FIRST_HASH} (mlp) of experiment 'mnist'." in result.stdout
    assert model_names(filled.uri) == {SECOND_HASH: "cnn", THIRD_HASH: None}


def test_delete_confirmed_deletes(run_sqlite: Run, filled_sqlite: Contents) -> None:
    result = run_sqlite("models", "delete", "mnist", THIRD_HASH, input="yes\n")

    assert result.exit_code == 0
    assert f"Delete model {THIRD_HASH} of experiment 'mnist'? [y/N]" in result.stderr
    assert THIRD_HASH not in model_names(filled_sqlite.uri)


@pytest.mark.parametrize(
    "answer", [pytest.param("n\n", id="declined"), pytest.param(None, id="no-stdin")]
)
def test_delete_not_confirmed_aborts(
    run_sqlite: Run, filled_sqlite: Contents, answer: str | None
) -> None:
    assert_error(run_sqlite("models", "delete", "mnist", FIRST_HASH, input=answer), "aborted")
    assert FIRST_HASH in model_names(filled_sqlite.uri)


def test_delete_json(run: Run, filled: Contents) -> None:
    result = run("--json", "models", "delete", "mnist", FIRST_HASH, "-y")

    assert parse_json(result.stdout) == {
        "id": filled.first_id,
        "hash": FIRST_HASH,
        "name": "mlp",
        "deleted": True,
    }


def test_delete_missing_model_exits_1(run: Run, filled: Contents) -> None:
    assert_error(run("models", "delete", "mnist", "zz", "--yes"), "no model with hash 'zz'")
