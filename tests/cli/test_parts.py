"""``mltracker modules list``, ``iterations list`` and ``metrics list``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .helpers import (
    FIRST_HASH,
    SECOND_HASH,
    Contents,
    Run,
    assert_error,
    assert_usage_error,
    parse_json,
    table_header,
    table_rows,
)


def test_modules_list_prints_model_modules(run: Run, filled: Contents) -> None:
    result = run("modules", "list", "mnist", FIRST_HASH)

    assert result.exit_code == 0
    assert table_rows(result.stdout) == [
        ["layers.0", '{"type": "Linear", "in_features": 784, "out_features": 128}'],
        ["loss", '{"type": "CrossEntropyLoss"}'],
    ]


def test_modules_list_of_iteration(run: Run, filled: Contents) -> None:
    result = run("--json", "modules", "list", "mnist", FIRST_HASH, "--iteration", "2")

    modules = parse_json(result.stdout)
    assert [(m["name"], m["attributes"]) for m in modules] == [
        ("optimizer", {"type": "SGD", "lr": 0.05})
    ]


def test_modules_list_of_missing_iteration_exits_1(
    run_sqlite: Run, filled_sqlite: Contents
) -> None:
    result = run_sqlite("modules", "list", "mnist", FIRST_HASH, "--iteration", "9")

    assert_error(result, f"model {FIRST_HASH} has no iteration at step 9")


def test_modules_list_of_model_without_modules_is_empty(
    run_sqlite: Run, filled_sqlite: Contents
) -> None:
    result = run_sqlite("--json", "modules", "list", "mnist", SECOND_HASH)

    assert parse_json(result.stdout) == []


def test_iterations_list_prints_steps_and_their_modules(run: Run, filled: Contents) -> None:
    result = run("iterations", "list", "mnist", FIRST_HASH)

    assert result.exit_code == 0
    assert table_header(result.stdout) == ["step", "modules"]
    assert table_rows(result.stdout) == [
        ["1", 'optimizer {"type": "SGD", "lr": 0.1}'],
        ["2", 'optimizer {"type": "SGD", "lr": 0.05}'],
        ["3", 'optimizer {"type": "SGD", "lr": 0.03333333333333333}'],
    ]


def test_iterations_list_json(run_sqlite: Run, filled_sqlite: Contents) -> None:
    rows = parse_json(run_sqlite("--json", "iterations", "list", "mnist", FIRST_HASH).stdout)

    assert [row["step"] for row in rows] == [1, 2, 3]
    assert rows[0]["modules"][0]["name"] == "optimizer"
    assert rows[0]["modules"][0]["attributes"] == {"type": "SGD", "lr": 0.1}
    assert all(len(row["id"]) == 36 for row in rows)


def test_iterations_list_of_missing_model_exits_1(run_sqlite: Run, filled_sqlite: Contents) -> None:
    assert_error(run_sqlite("iterations", "list", "mnist", "zz"), "no model with hash 'zz'")


def test_metrics_list_prints_every_point_in_logged_order(run: Run, filled: Contents) -> None:
    result = run("metrics", "list", "mnist", FIRST_HASH)

    assert result.exit_code == 0
    assert table_header(result.stdout) == ["step", "name", "phase", "value", "time (UTC)"]
    rows = table_rows(result.stdout)
    assert [row[:4] for row in rows] == [
        ["1", "loss", "train", "1"],
        ["1", "accuracy", "validation", "0.81"],
        ["2", "loss", "train", "0.5"],
        ["2", "accuracy", "validation", "0.82"],
        ["3", "loss", "train", "0.333333"],
        ["3", "accuracy", "validation", "0.83"],
        ["4", "grad_norm", "", "NaN"],
        ["4", "peak", "", "Infinity"],
        ["4", "trough", "", "-Infinity"],
        ["4", "count", "train", "7"],
        ["", "config", "", '{"depth": 2, "tags": ["a", "b"]}'],
    ]
    datetime.strptime(rows[0][4], "%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(["--name", "loss"], [(1, 1.0), (2, 0.5), (3, 1 / 3)], id="name"),
        pytest.param(["--phase", "train", "--limit", "2"], [(1, 1.0), (2, 0.5)], id="phase-limit"),
        pytest.param(["--name", "count", "--phase", "train"], [(4, 7)], id="name-phase"),
        pytest.param(["--name", "loss", "--phase", "validation"], [], id="no-match"),
        pytest.param(["--limit", "0"], [], id="limit-zero"),
    ],
)
def test_metrics_list_filters(
    run_sqlite: Run, filled_sqlite: Contents, options: list[str], expected: list[tuple[int, float]]
) -> None:
    result = run_sqlite("--json", "metrics", "list", "mnist", FIRST_HASH, *options)

    assert [(p["step"], p["value"]) for p in parse_json(result.stdout)] == expected


def test_metrics_list_json_uses_tokens_and_iso_times(run: Run, filled: Contents) -> None:
    points = parse_json(run("--json", "metrics", "list", "mnist", FIRST_HASH).stdout)

    assert [p["value"] for p in points[6:9]] == ["NaN", "Infinity", "-Infinity"]
    assert points[9] == {**points[9], "name": "count", "phase": "train", "value": 7}
    assert type(points[9]["value"]) is int
    assert points[10]["step"] is None and points[10]["phase"] is None
    assert datetime.fromisoformat(points[0]["timestamp"]).tzinfo == UTC


def test_metrics_list_negative_limit_is_usage_error(
    run_sqlite: Run, filled_sqlite: Contents
) -> None:
    assert_usage_error(run_sqlite("metrics", "list", "mnist", FIRST_HASH, "--limit", "-1"), "-1")


def test_metrics_list_empty_name_exits_1(run_sqlite: Run, filled_sqlite: Contents) -> None:
    result = run_sqlite("metrics", "list", "mnist", FIRST_HASH, "--name", "")

    assert_error(result, "metric name must not be empty")
