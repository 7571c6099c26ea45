"""A model deleted by another process while this one has points queued for it: the calls of
this process about anything else go on (SPEC §1, §4)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import mltracker

DELETER = textwrap.dedent(
    """
    import sys
    import mltracker

    with mltracker.connect(sys.argv[1]) as tracker:
        models = tracker.experiments.read("e").models
        models.delete(models.read(sys.argv[2]).id)
    """
)


def delete_in_another_process(uri: str, hash: str, cwd: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", DELETER, uri, hash],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.fixture
def tracker(uri: str) -> Iterator[mltracker.Connection]:
    with mltracker.connect(uri) as connection:
        connection.writer.interval = 3600.0  # points stay queued until a call writes them
        yield connection


def test_models_list_after_another_process_deleted_a_model_lists_the_others(
    uri: str, tracker: mltracker.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    experiment = tracker.experiments.create("e")
    doomed = experiment.models.create("doomed")
    kept = experiment.models.create("kept")
    doomed.metrics.log("loss", 1.0)
    kept.metrics.log("loss", 2.0)
    delete_in_another_process(uri, "doomed", tmp_path)

    with caplog.at_level(logging.WARNING, logger="mltracker"):
        listed = experiment.models.list()

    assert [model.hash for model in listed] == ["kept"]
    assert [point.value for point in kept.metrics.list()] == [2.0]
    assert any(str(doomed.id) in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda e, k: e.models.read("kept"), id="models.read"),
        pytest.param(lambda e, k: k.metrics.list(), id="metrics.list"),
        pytest.param(lambda e, k: k.modules.log("adam"), id="modules.log"),
        pytest.param(lambda e, k: setattr(k, "step", 3), id="model.step"),
        pytest.param(lambda e, k: e.models.create("new"), id="models.create"),
    ],
)
def test_calls_about_other_things_go_on(
    uri: str, tracker: mltracker.Connection, tmp_path: Path, call: object
) -> None:
    experiment = tracker.experiments.create("e")
    doomed = experiment.models.create("doomed")
    kept = experiment.models.create("kept")
    doomed.metrics.log("loss", 1.0)
    delete_in_another_process(uri, "doomed", tmp_path)

    assert callable(call)
    call(experiment, kept)

    assert [model.hash for model in experiment.models.list()][:1] == ["kept"]


def test_explicit_flush_still_reports_dropped_points(
    uri: str, tracker: mltracker.Connection, tmp_path: Path
) -> None:
    experiment = tracker.experiments.create("e")
    doomed = experiment.models.create("doomed")
    doomed.metrics.log("loss", 1.0)
    delete_in_another_process(uri, "doomed", tmp_path)

    with pytest.raises(mltracker.NotFoundError, match="deleted models"):
        tracker.flush()
