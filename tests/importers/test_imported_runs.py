"""What an import of the original's db.json makes of runs: one run per model, "imported"."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import mltracker
from mltracker.importers.original import (
    IMPORTED_RUN,
    import_original,
    imported_run_id,
    read_original,
)
from mltracker.ports.store import RunRecord

DATA = Path(__file__).resolve().parents[1] / "data" / "original"
SMALL = DATA / "small.json"


def copy_at(path: Path, folder: Path, mtime: float) -> Path:
    """A copy of ``path`` in ``folder`` modified at ``mtime``."""
    copy = folder / path.name
    copy.write_bytes(path.read_bytes())
    os.utime(copy, (mtime, mtime))
    return copy


def test_each_model_gets_one_finished_run_holding_all_it_has(
    tracker: mltracker.Connection, tmp_path: Path
) -> None:
    source = copy_at(SMALL, tmp_path, 1_600_000_000.0)
    before = time.time()

    import_original(tracker, source)

    models = [model for e in tracker.experiments.list() for model in e.models.list()]
    assert len(models) == 3
    for model in models:
        [run] = model.runs.list()
        assert run.id == imported_run_id(model.id)
        assert (run.name, run.status, run.exit, run.params) == (IMPORTED_RUN, "finished", None, {})
        points = model.metrics.list()
        if points:  # the original kept no times: its points have the file's
            assert run.started_at == run.ended_at == 1_600_000_000.0
        else:
            assert before <= run.started_at == run.ended_at <= time.time()
        assert run.metrics.list() == points
        assert [m.id for m in run.modules.list()] == [m.id for m in model.modules.list()]
        assert [i.id for i in run.iterations.list()] == [i.id for i in model.iterations.list()]
        for iteration in run.iterations.list():
            assert iteration.modules.list() == model.iterations.get(iteration.step).modules.list()  # type: ignore[union-attr]
    assert sum(len(model.metrics.list()) for model in models) == 12


def test_importing_again_finds_the_run_and_keeps_its_times(
    tracker: mltracker.Connection, tmp_path: Path
) -> None:
    import_original(tracker, copy_at(SMALL, tmp_path, 1_600_000_000.0))
    later = tmp_path / "later"
    later.mkdir()

    result = import_original(tracker, copy_at(SMALL, later, 1_700_000_000.0))

    assert result.report.skipped["runs"] == 3
    assert sum(result.report.added.values()) == sum(result.report.updated.values()) == 0
    experiment = tracker.experiments.read("mnist")
    assert experiment is not None
    model = experiment.models.read("hash-a")
    assert model is not None
    [run] = model.runs.list()
    assert run.started_at == 1_600_000_000.0


def test_what_is_in_another_run_is_moved_into_the_imported_one(
    tracker: mltracker.Connection,
) -> None:
    records, _orphans, _refused = read_original(SMALL)
    elsewhere = UUID("12345678-0000-4000-8000-000000000000")
    # The file's data, but in another run (as in a store upgraded from a version without
    # runs, where it is in the run "before runs").
    moved = [
        replace(
            experiment,
            models=[
                replace(
                    model,
                    metrics=[replace(point, run=elsewhere) for point in model.metrics],
                    modules=[replace(module, run=elsewhere) for module in model.modules],
                    iterations=[replace(item, run=elsewhere) for item in model.iterations],
                    runs=[RunRecord(elsewhere, "before runs", "finished", 1.0, 2.0)],
                )
                for model in experiment.models
                if model.hash == "hash-a"
            ],
        )
        for experiment in records
        if experiment.name == "mnist"
    ]
    tracker.store.restore(moved)
    model = tracker.experiments.read("mnist").models.read("hash-a")  # type: ignore[union-attr]
    assert model is not None
    before = model.metrics.list()
    assert {p.run_id for p in before} == {elsewhere}

    result = import_original(tracker, SMALL)

    run_id = imported_run_id(model.id)
    points = model.metrics.list()
    assert [(p.id, p.run_id) for p in points] == [(p.id, run_id) for p in before]
    assert [p.timestamp for p in points] == [p.timestamp for p in before]  # kept
    assert result.report.updated["metrics"] == len(points)
    assert model.runs.read(elsewhere).metrics.list() == []  # type: ignore[union-attr]
    imported = model.runs.read(run_id)
    assert imported is not None
    assert [m.name for m in imported.modules.list()] == [m.name for m in model.modules.list()]
    assert len(imported.iterations.list()) == len(model.iterations.list()) > 0
