"""Importing MLflow tracking stores written by the real mlflow client: every point read back,
runs as MLflow has them, idempotent, resumable, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

import mltracker
from mltracker.importers.mlflow import import_mlflow, series_key
from mltracker.importers.streaming import RunWriter, external_run_id
from tests.conftest import POSTGRES_URL

from .mlflow_stores import (
    T0,
    Written,
    log_points,
    mlflow_history,
    same_value,
    write_store,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

KEYS = ("loss", "system/cpu_utilization_percentage")


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """An MLflow SQLite store of 5 runs x 2,000 points x 2 metrics (written once)."""
    folder = tmp_path_factory.mktemp("mlflow")
    return write_store(f"sqlite:///{folder / 'mlflow.db'}")


@pytest.fixture
def store_copy(mlflow_store: Written, tmp_path: Path) -> Written:
    """A copy of the module's MLflow store that a test may change."""
    source = sqlite3.connect(mlflow_store.uri.removeprefix("sqlite:///"))
    copy = tmp_path / "mlflow-copy.db"
    with sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    return Written(f"sqlite:///{copy}", {k: list(v) for k, v in mlflow_store.runs.items()})


def check_every_point(tracker: mltracker.Connection, written: Written) -> int:
    """Compare every point, run and param of the MLflow store with the store's; the number
    of points compared."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=written.uri)
    compared = 0
    for experiment_name, run_ids in written.runs.items():
        experiment = tracker.experiments.get_or_create(experiment_name)
        for run_id in run_ids:
            source = client.get_run(run_id)
            model = experiment.models.read(run_id)
            (run,) = model.runs.list()
            assert run.id == external_run_id("mlflow", run_id)
            assert run.name == source.info.run_name
            assert run.started_at == source.info.start_time / 1000
            expected_status = {"RUNNING": "running"}.get(
                source.info.status, source.info.status.lower()
            )
            assert run.status == expected_status
            if source.info.end_time:
                assert run.ended_at == source.info.end_time / 1000
            assert run.params["lr"] == source.data.params["lr"]
            assert run.params["tags.team"] == "vision"
            for key in KEYS:
                name = series_key(key)
                expected = mlflow_history(written.uri, run_id, key)
                ours = [(m.step, m.value, m.timestamp) for m in run.metrics.iterate(name.name)]
                assert len(ours) == len(expected), (run_id, key)
                for mine, theirs in zip(ours, expected, strict=True):
                    assert mine[0] == theirs[0] and mine[2] == theirs[2]
                    assert same_value(mine[1], theirs[1]), (mine, theirs)
                compared += len(ours)
    return compared


def test_import_reads_back_every_point(
    tracker: mltracker.Connection, mlflow_store: Written
) -> None:
    result = import_mlflow(tracker, mlflow_store.uri)

    assert result.counts.runs == result.counts.runs_added == 5
    assert result.counts.points == 5 * 2000 * 2
    assert check_every_point(tracker, mlflow_store) == 5 * 2000 * 2
    experiment = tracker.experiments.get_or_create("mnist")
    run = experiment.models.list()[0].runs.list()[0]
    context = tracker.store.read_run(run.id).context  # type: ignore[union-attr]
    assert context["imported_from"]["source"] == "mlflow"
    assert context["imported_from"]["run_id"] in mlflow_store.runs["mnist"]


def test_system_metrics_of_mlflow_are_phase_system(sqlite_uri: str, mlflow_store: Written) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        import_mlflow(tracker, mlflow_store.uri)
        model = tracker.experiments.get_or_create("mnist").models.list()[0]
        names = {(m.name, m.phase) for m in model.metrics.latest()}
    assert ("cpu_utilization_percentage", "system") in names
    assert ("loss", None) in names


def test_importing_again_adds_only_what_is_new(sqlite_uri: str, store_copy: Written) -> None:
    from mlflow.tracking import MlflowClient

    with mltracker.connect(sqlite_uri) as tracker:
        import_mlflow(tracker, store_copy.uri)
        again = import_mlflow(tracker, store_copy.uri)
        assert (again.counts.runs_added, again.counts.points) == (0, 0)
        assert again.counts.points_skipped == 5 * 2000 * 2

        client = MlflowClient(tracking_uri=store_copy.uri)
        grown = store_copy.runs["mnist"][3]  # the run still running
        log_points(client, grown, 3, 2000, 2500, ("loss",))
        client.set_terminated(grown, "FINISHED", end_time=T0 + 99_000)
        experiment_id = client.get_experiment_by_name("mnist").experiment_id
        new = client.create_run(experiment_id, run_name="late", start_time=T0)
        log_points(client, new.info.run_id, 9, 0, 100, ("loss",))
        store_copy.runs["mnist"].append(new.info.run_id)

        third = import_mlflow(tracker, store_copy.uri)
        assert third.counts.runs_added == 1
        assert third.counts.points == 500 + 100
        model = tracker.experiments.get_or_create("mnist").models.read(grown)
        assert model.runs.list()[0].status == "finished"
        assert check_every_point_of(tracker, store_copy, "loss") == 5 * 2500 - 5 * 500 + 500 + 100


def check_every_point_of(tracker: mltracker.Connection, written: Written, key: str) -> int:
    compared = 0
    for run_id in written.runs["mnist"]:
        model = tracker.experiments.get_or_create("mnist").models.read(run_id)
        expected = mlflow_history(written.uri, run_id, key)
        ours = [(m.step, m.value, m.timestamp) for m in model.metrics.iterate(key)]
        assert len(ours) == len(expected)
        assert all(
            a[0] == b[0] and a[2] == b[2] and same_value(a[1], b[1])
            for a, b in zip(ours, expected, strict=True)
        )
        compared += len(ours)
    return compared


def test_an_interrupted_import_is_finished_by_importing_again(
    uri: str, store_copy: Written, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RunWriter.__init__, "__defaults__", (None, 1500))  # small batches
    written = 0

    def interrupt(_run: str | None, points: int) -> None:
        nonlocal written
        written += points
        if written >= 10_000:
            raise KeyboardInterrupt

    with mltracker.connect(uri) as tracker:
        with pytest.raises(KeyboardInterrupt):
            import_mlflow(tracker, store_copy.uri, progress=interrupt)
        half = tracker.experiments.get_or_create("mnist").models.list()
        assert any(model.runs.list()[0].status == "running" for model in half)

        result = import_mlflow(tracker, store_copy.uri)
        assert result.counts.points + result.counts.points_skipped == 5 * 2000 * 2
        assert result.counts.points_skipped >= 10_000
        assert check_every_point(tracker, store_copy) == 5 * 2000 * 2


def test_group_by_param_makes_a_model_of_each_value(sqlite_uri: str, mlflow_store: Written) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        import_mlflow(tracker, mlflow_store.uri, group_by_params=["lr"])
        models = tracker.experiments.get_or_create("mnist").models.list()
        assert sorted(model.name for model in models) == ["lr=0.01", "lr=0.1"]
        assert sorted(len(model.runs.list()) for model in models) == [2, 3]


def test_only_the_experiments_asked_for(sqlite_uri: str, tmp_path: Path) -> None:
    written = write_store((tmp_path / "mlruns").as_uri(), runs=1, points=10, experiments=("a", "b"))
    with mltracker.connect(sqlite_uri) as tracker:
        import_mlflow(tracker, written.uri, experiments=["b"])
        assert [e.name for e in tracker.experiments.list()] == ["b"]
        with pytest.raises(mltracker.NotFoundError, match="'c'"):
            import_mlflow(tracker, written.uri, experiments=["c"])


def test_an_mlruns_folder(sqlite_uri: str, tmp_path: Path) -> None:
    folder = tmp_path / "mlruns"
    written = write_store(folder.as_uri(), runs=2, points=50)
    with mltracker.connect(sqlite_uri) as tracker:
        result = import_mlflow(tracker, str(folder))  # a plain path works too
        assert result.counts.points == 2 * 50 * 2
        assert check_every_point(tracker, written) == 2 * 50 * 2


def test_a_path_that_does_not_exist_is_named(sqlite_uri: str, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    with mltracker.connect(sqlite_uri) as tracker:
        with pytest.raises(mltracker.InvalidArgumentError, match="nothing.db"):
            import_mlflow(tracker, f"sqlite:///{missing}")
        with pytest.raises(mltracker.InvalidArgumentError, match="nothing.db"):
            import_mlflow(tracker, str(missing))
    assert not missing.exists()  # MLflow was not let to create it


def test_a_database_that_is_not_mlflows_is_refused_untouched(
    sqlite_uri: str, tmp_path: Path
) -> None:
    from mltracker.importers._mlflow import MLflowFormatError

    other = tmp_path / "other.db"
    with mltracker.connect(other) as tracker:  # an MLTracker store given by mistake
        tracker.experiments.get_or_create("mine").models.get_or_create("m").metrics.log("x", 1)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    before = other.read_bytes()
    with mltracker.connect(sqlite_uri) as tracker:
        with pytest.raises(MLflowFormatError, match="other.db is not an MLflow tracking store"):
            import_mlflow(tracker, str(other))
        with pytest.raises(MLflowFormatError, match="empty database"):
            import_mlflow(tracker, str(empty))
    assert other.read_bytes() == before
    assert empty.stat().st_size == 0


def test_an_unreachable_server_is_named(sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mltracker.importers._mlflow import MLflowSourceError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with mltracker.connect(sqlite_uri) as tracker:
        with pytest.raises(MLflowSourceError, match=r"127\.0\.0\.1:9"):
            import_mlflow(tracker, "http://user:secret@127.0.0.1:9")
        with pytest.raises(MLflowSourceError) as caught:
            import_mlflow(tracker, "http://user:secret@127.0.0.1:9")
    assert "secret" not in str(caught.value)


def test_the_command(sqlite_uri: str, mlflow_store: Written) -> None:
    from click.testing import CliRunner

    from mltracker.cli import cli

    runner = CliRunner()
    args = ["--uri", sqlite_uri, "--json", "import", "--from", "mlflow", mlflow_store.uri]
    first = runner.invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    document = json.loads(first.output)
    assert (document["runs_added"], document["points"]) == (5, 20_000)
    again = json.loads(runner.invoke(cli, args, catch_exceptions=False).output)
    assert (again["runs_added"], again["points"], again["points_skipped"]) == (0, 0, 20_000)
    missing = runner.invoke(
        cli, ["--uri", sqlite_uri, "import", "--from", "mlflow", "/nowhere/mlflow.db"]
    )
    assert missing.exit_code == 1
    assert "/nowhere/mlflow.db" in missing.output


@pytest.fixture
def mlflow_postgres_database(postgres_available: bool) -> Iterator[str]:
    """The URL of a new PostgreSQL database for an MLflow store (MLflow keeps its tables in
    a database's default schema), dropped afterwards."""
    if not postgres_available:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    import psycopg

    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mlflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_postgresql_tracking_store(sqlite_uri: str, mlflow_postgres_database: str) -> None:
    """An MLflow store in PostgreSQL, written by MLflow (through psycopg 3), read by its
    ``postgresql://`` URL: every point, and a second import adds nothing."""
    writer_url = mlflow_postgres_database.replace("postgresql://", "postgresql+psycopg://", 1)
    written = write_store(writer_url, runs=2, points=300)
    with mltracker.connect(sqlite_uri) as tracker:
        result = import_mlflow(tracker, mlflow_postgres_database)
        assert result.counts.runs_added == 2
        assert result.counts.points == 2 * 300 * 2
        assert check_every_point(tracker, Written(writer_url, written.runs)) == 2 * 300 * 2
        again = import_mlflow(tracker, mlflow_postgres_database)
        assert again.counts.runs_added == 0 and again.counts.points == 0


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """The URL of a real ``mlflow server`` (its own process, a SQLite store), stopped
    afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow-server.log").open("wb")
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", "1"),
            *("--backend-store-uri", f"sqlite:///{tmp_path / 'served.db'}"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib3.request("GET", url + "/health", timeout=2, retries=False).status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not start: {(tmp_path / 'mlflow-server.log').read_text()}"
                )
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()


def test_a_running_mlflow_server(sqlite_uri: str, mlflow_server: str) -> None:
    """Runs written to a real MLflow server through its REST API, imported from its URL:
    every point, and a second import adds nothing."""
    written = write_store(mlflow_server, runs=2, points=200)
    with mltracker.connect(sqlite_uri) as tracker:
        result = import_mlflow(tracker, mlflow_server)
        assert result.counts.runs_added == 2
        assert result.counts.points == 2 * 200 * 2
        assert check_every_point(tracker, written) == 2 * 200 * 2
        again = import_mlflow(tracker, mlflow_server)
        assert again.counts.runs_added == 0 and again.counts.points == 0
