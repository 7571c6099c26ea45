"""16 processes open and write a store at the same moment: a fresh one, and one of an older
schema (which reading alone leaves as it is; the first write upgrades it).

For the older one, each child registers a test upgrade step (it adds a column and writes a
line to a shared file) and raises ``schema.SCHEMA_VERSION`` by one before opening, as a new
release of MLTracker would: the step must run exactly once, and the data stay as it was.
Mode ``upgrade`` does only that; ``new-release`` also sets ``ensure_schema``'s default target
to the new version, which a real release gets from its ``schema.py`` at import.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest

import mltracker
from mltracker.backends.sql import schema
from mltracker.connect import close_all

from .children import Child, api_snapshot, integrity_problems, query, version_rows

PROCESSES = 16


def open_together(uri: str, tmp_path: Path, mode: str) -> list[dict[str, object]]:
    go, runs = tmp_path / f"go-{mode}", tmp_path / f"runs-{mode}"
    runs.touch()
    with ExitStack() as stack:
        children = [
            stack.enter_context(
                Child(
                    "opener",
                    uri,
                    index,
                    str(go),
                    mode,
                    str(runs),
                    log=tmp_path / f"{mode}{index}.log",
                )
            )
            for index in range(PROCESSES)
        ]
        for child in children:
            child.expect("ready", timeout=120)
        go.touch()
        return [child.result(timeout=180) for child in children]


@pytest.mark.slow
def test_many_processes_create_a_fresh_store_at_once(uri: str, tmp_path: Path) -> None:
    results = open_together(uri, tmp_path, "fresh")
    assert sorted(r["index"] for r in results) == list(range(PROCESSES))
    assert version_rows(uri) == [schema.SCHEMA_VERSION]
    assert integrity_problems(uri) == []
    with mltracker.connect(uri) as tracker:
        assert [e.name for e in tracker.experiments.list()] == ["shared"]
        models = tracker.experiments.read("shared").models.list()
        assert sorted(m.hash for m in models) == sorted(f"m{i}" for i in range(PROCESSES))
        for model in models:
            index = int(model.hash[1:])
            assert [(p.step, p.value) for p in model.metrics.list()] == [(index, float(index))]


RAW_TABLES = {
    "experiments": "SELECT pk, id, name, created_at FROM experiments ORDER BY pk",
    "models": "SELECT pk, id, experiment_pk, hash, name, description, step FROM models ORDER BY pk",
    "series": "SELECT pk, model_pk, name, phase FROM series ORDER BY pk",
    "metrics": (
        "SELECT seq, series_pk, step, kind, value, extra, timestamp FROM metrics ORDER BY seq"
    ),
    "iterations": "SELECT pk, id, model_pk, step FROM iterations ORDER BY pk",
    "modules": "SELECT pk, id, model_pk, iteration_pk, name, attributes FROM modules ORDER BY pk",
}


def raw_content(uri: str) -> dict[str, list[tuple[object, ...]]]:
    return {table: query(uri, sql) for table, sql in RAW_TABLES.items()}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["upgrade", "new-release"])
def test_many_processes_upgrade_an_older_store_once(uri: str, tmp_path: Path, mode: str) -> None:
    with mltracker.connect(uri) as tracker:
        for name in ("first", "second"):
            experiment = tracker.experiments.create(name)
            model = experiment.models.create(f"{name}-model", name="mlp", description="kept")
            model.step = 7
            for step in range(300):
                model.metrics.log("loss", 1.0 / (step + 1), step=step, phase="train")
                model.metrics.log("accuracy", step, step=step)
            model.modules.log("layer", {"type": "Linear", "sizes": [784, 128], "bias": True})
            model.iterations.create(3).modules.log("optimizer", {"lr": 0.01})
        before = json.loads(json.dumps(api_snapshot(tracker)))
    close_all()
    raw_before = raw_content(uri)
    old_version = schema.SCHEMA_VERSION

    results = open_together(uri, tmp_path, mode)

    runs = (tmp_path / f"runs-{mode}").read_text().splitlines()
    assert len(runs) == 1, f"the upgrade step ran {len(runs)} times (by pids {runs})"
    assert version_rows(uri) == [old_version + 1]
    assert [row[0] for row in query(uri, "SELECT notes FROM experiments")] == [None, None]
    for result in results:
        assert result["content"] == before, f"child {result['index']} saw other data"
    assert raw_content(uri) == raw_before
    assert integrity_problems(uri) == []
