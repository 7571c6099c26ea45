"""The root command: options, exit codes, the one-line errors, the entry points."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import COMMAND_PATHS
from .helpers import (
    Contents,
    Run,
    assert_error,
    assert_usage_error,
    fill,
    invoke,
    parse_json,
)

COMMANDS = sorted({path[0] for path in COMMAND_PATHS})


def test_help_lists_every_command() -> None:
    result = invoke("--help")

    assert result.exit_code == 0
    listed = result.stdout.split("Commands:")[1]
    assert set(COMMANDS) <= {line.split()[0] for line in listed.strip().splitlines()}


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")

    assert result.exit_code == 0
    summary = result.stdout.split("\n\n")[1].strip()
    assert summary and not summary.startswith("Options")


def test_help_documents_json_tokens_for_nan_and_infinity() -> None:
    result = invoke("--help")

    assert '"NaN", "Infinity" and "-Infinity"' in " ".join(result.stdout.split())


def test_version_prints_package_version() -> None:
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.stdout.strip() == "mltracker, version 0.5.0"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["bogus"], "No such command 'bogus'", id="unknown-command"),
        pytest.param(["experiments", "show"], "Missing argument 'NAME'", id="missing-argument"),
        pytest.param(["--nope", "experiments", "list"], "No such option", id="unknown-option"),
        pytest.param(
            ["metrics", "list", "e", "h", "--limit", "x"], "'x' is not a valid", id="bad-int"
        ),
    ],
)
def test_usage_errors_exit_2(args: list[str], fragment: str) -> None:
    assert_usage_error(invoke(*args), fragment)


def test_unknown_uri_scheme_exits_1(tmp_path: Path) -> None:
    assert_error(invoke("--uri", "mongodb://x", "experiments", "list"), "unknown URI scheme")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["experiments", "list"], id="experiments-list"),
        pytest.param(["models", "list", "mnist"], id="models-list"),
        pytest.param(["export", "mnist"], id="export"),
        pytest.param(["experiments", "delete", "mnist", "--yes"], id="delete"),
    ],
)
def test_missing_sqlite_store_exits_1_and_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "nowhere" / "store.db"

    assert_error(invoke("--uri", str(path), *args), f"no store at {path}")
    assert not path.parent.exists()


def test_default_store_is_mltracker_db_in_working_directory(tmp_path: Path) -> None:
    fill(str(tmp_path / "mltracker.db"))

    result = invoke("--json", "experiments", "list")

    assert [row["name"] for row in parse_json(result.stdout)] == ["mnist", "empty"]


def test_default_store_comes_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(str(tmp_path / "elsewhere.db"))
    monkeypatch.setenv("MLTRACKER_URI", str(tmp_path / "elsewhere.db"))

    result = invoke("--json", "experiments", "list")

    assert result.exit_code == 0
    assert len(parse_json(result.stdout)) == 2


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["experiments", "list"], id="experiments-list"),
        pytest.param(["experiments", "show", "x"], id="experiments-show"),
        pytest.param(["export", "x"], id="export"),
        pytest.param(["db", "upgrade"], id="db-upgrade"),
    ],
)
def test_corrupt_store_exits_1_with_one_line(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database, " * 200)

    assert_error(invoke("--uri", str(path), *args), "corrupt")


def test_library_error_is_one_line_without_traceback(run: Run, filled: Contents) -> None:
    result = run("experiments", "rename", "mnist", "empty")

    assert_error(result, "'empty' exists already")


def test_json_flag_after_subcommand_equals_global_flag(run: Run, filled: Contents) -> None:
    assert (
        run("experiments", "list", "--json").stdout == run("--json", "experiments", "list").stdout
    )


def test_tables_are_not_markup(run: Run, filled: Contents) -> None:
    run("experiments", "rename", "empty", "[bold]x[/bold] :smile:")

    result = run("experiments", "list")

    assert "[bold]x[/bold] :smile:" in result.stdout


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mltracker", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: mltracker [OPTIONS] COMMAND")


def test_console_script_prints_json_experiments(filled_sqlite: Contents) -> None:
    script = Path(sys.executable).with_name("mltracker")
    assert script.exists(), "reinstall: pip install -e '.[test]'"

    result = subprocess.run(
        [str(script), "--uri", filled_sqlite.uri, "--json", "experiments", "list"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    rows = parse_json(result.stdout)
    assert [(row["name"], row["models"]) for row in rows] == [("mnist", 3), ("empty", 0)]
    assert rows[0]["id"] == filled_sqlite.experiment_id


def test_console_script_error_exits_1_with_one_line(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mltracker")
    path = tmp_path / "not-sqlite.db"
    path.write_text("hello")

    result = subprocess.run(
        [str(script), "--uri", str(path), "experiments", "list"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: {path}: the store is corrupt: file is not a database"
    ]
    assert result.stdout == ""


def test_sqlite_store_left_consistent_after_commands(filled_sqlite: Contents) -> None:
    invoke("--uri", filled_sqlite.uri, "experiments", "delete", "mnist", "--yes")

    with sqlite3.connect(filled_sqlite.uri) as connection:
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert connection.execute("SELECT count(*) FROM metrics").fetchone() == (0,)
