"""An unreachable store: the CLI says on stderr that it retries, and gives up after 15 s
(``$MLTRACKER_RETRY_SECONDS`` overrides it); the library keeps its 120 s and prints nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import mltracker
from mltracker import deadlines
from mltracker.backends.sql import engine as engines
from mltracker.cli.context import CLI_RETRY_SECONDS

from .helpers import assert_error, invoke

#: Nothing listens on port 1: every connection attempt is refused at once.
CLOSED_PORT = "postgresql://postgres@127.0.0.1:1/test"


def test_cli_says_it_is_retrying_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.5")

    result = invoke("--uri", CLOSED_PORT, "experiments", "list")

    assert_error(result, "127.0.0.1")
    notices = result.stderr.splitlines()[:-1]
    assert len(notices) == 1, result.stderr
    assert "retrying for up to 0.5 s (MLTRACKER_RETRY_SECONDS)" in notices[0]
    assert "refused" in notices[0] or "port 1" in notices[0]


def test_cli_retries_for_15_seconds_by_default() -> None:
    environment = {**os.environ}
    environment.pop("MLTRACKER_RETRY_SECONDS", None)
    with subprocess.Popen(
        [sys.executable, "-m", "mltracker", "--uri", CLOSED_PORT, "experiments", "list"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=environment,
    ) as process:
        try:
            assert process.stderr is not None
            first_line = process.stderr.readline()  # printed at the first retry
        finally:
            process.kill()

    assert "retrying for up to 15 s" in first_line


def test_cli_budget_is_the_environment_variable_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "40")

    with deadlines.default_retry_seconds(CLI_RETRY_SECONDS):
        assert engines.retry_seconds() == 40


def test_library_keeps_its_own_budget_outside_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLTRACKER_RETRY_SECONDS", raising=False)

    with deadlines.default_retry_seconds(CLI_RETRY_SECONDS):
        assert engines.retry_seconds() == CLI_RETRY_SECONDS == 15
    assert engines.retry_seconds() == deadlines.DEFAULT_RETRY_SECONDS == 120
    invoke("--uri", "mongodb://x", "experiments", "list")  # a command ran and ended
    assert engines.retry_seconds() == 120


def test_library_prints_nothing_while_it_retries(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.3")

    with pytest.raises(mltracker.BackendUnavailableError):
        mltracker.connect(CLOSED_PORT)

    assert capfd.readouterr() == ("", "")
