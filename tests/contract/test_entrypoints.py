"""The entry points (SPEC §1): get_experiment/getExperiment, get_all_experiments/
getallExperiments, connect(), the default store and ``$MLTRACKER_URI``, and the seed's usage."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import mltracker
from mltracker import Experiment, Experiments

from .rowcounts import row_counts


def test_seed_usage_works_verbatim(tmp_path: Path) -> None:
    from mltracker import getExperiment

    experiment = getExperiment("name")
    model = experiment.models.create("hash", name="n")
    model.metrics.add("loss", 0.5, 1, "train")
    model.metrics.add("accuracy", 0.9)
    model.modules.add("Linear", {"in_features": 784, "out_features": 10})
    model.modules.add("ReLU")

    assert (tmp_path / "mltracker.db").is_file()
    again = getExperiment("name")
    found = again.models.read("hash")
    assert found is not None
    assert found.name == "n"
    assert [(m.name, m.value, m.step, m.phase) for m in found.metrics.list()] == [
        ("loss", 0.5, 1, "train"),
        ("accuracy", 0.9, None, None),
    ]
    assert [(m.name, m.attributes) for m in found.modules.list()] == [
        ("Linear", {"in_features": 784, "out_features": 10}),
        ("ReLU", {}),
    ]


def test_camel_case_entry_points_are_the_snake_case_ones() -> None:
    assert mltracker.getExperiment is mltracker.get_experiment
    assert mltracker.getallExperiments is mltracker.get_all_experiments
    assert {
        "getExperiment",
        "getallExperiments",
        "get_experiment",
        "get_all_experiments",
        "connect",
    } <= set(mltracker.__all__)


@pytest.mark.parametrize(
    "get",
    [
        pytest.param(mltracker.get_experiment, id="snake"),
        pytest.param(mltracker.getExperiment, id="camel"),
    ],
)
def test_get_experiment_creates_missing_experiment(uri: str, get: object) -> None:
    experiment = get("mnist", uri)  # type: ignore[operator]

    assert isinstance(experiment.id, uuid.UUID)
    assert experiment.name == "mnist"
    with mltracker.connect(uri) as tracker:
        assert [(e.id, e.name) for e in tracker.experiments.list()] == [(experiment.id, "mnist")]


def test_get_experiment_returns_existing_experiment(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        created = tracker.experiments.create("mnist")
        created.models.create("h1")

    found = mltracker.get_experiment("mnist", uri)

    assert found.id == created.id
    assert [m.hash for m in found.models.list()] == ["h1"]


def test_get_experiment_twice_gives_the_same_experiment(uri: str) -> None:
    first = mltracker.get_experiment("mnist", path=uri)
    second = mltracker.getExperiment("mnist", path=uri)

    assert first.id == second.id
    assert [e.name for e in mltracker.get_all_experiments(uri).list()] == ["mnist"]


def test_get_experiment_from_many_threads_gives_one_experiment(uri: str) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        experiments = list(pool.map(lambda _: mltracker.get_experiment("race", uri), range(16)))

    assert len({e.id for e in experiments}) == 1
    assert len(mltracker.get_all_experiments(uri).list()) == 1


@pytest.mark.parametrize(
    "get_all",
    [
        pytest.param(mltracker.get_all_experiments, id="snake"),
        pytest.param(mltracker.getallExperiments, id="camel"),
    ],
)
def test_get_all_experiments_returns_the_experiments_collection(uri: str, get_all: object) -> None:
    experiments = get_all(uri)  # type: ignore[operator]

    assert isinstance(experiments, Experiments)
    experiments.create("a")
    experiments.create("b")
    assert [e.name for e in experiments.list()] == ["a", "b"]
    assert mltracker.get_experiment("a", uri).id == experiments.list()[0].id


def test_get_all_experiments_is_a_live_view(uri: str) -> None:
    experiments = mltracker.get_all_experiments(uri)

    mltracker.get_experiment("later", uri)

    assert [e.name for e in experiments.list()] == ["later"]


# The default store and $MLTRACKER_URI ----------------------------------------------------


def test_default_store_is_mltracker_db_in_the_working_directory(tmp_path: Path) -> None:
    experiment = mltracker.get_experiment("default")

    assert (tmp_path / "mltracker.db").is_file()
    with mltracker.connect(tmp_path / "mltracker.db") as tracker:
        assert [e.id for e in tracker.experiments.list()] == [experiment.id]
    with mltracker.connect() as tracker:
        assert [e.id for e in tracker.experiments.list()] == [experiment.id]
    assert [e.id for e in mltracker.get_all_experiments().list()] == [experiment.id]


def test_environment_variable_chooses_the_default_store(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", uri)

    experiment = mltracker.get_experiment("from-env")
    with mltracker.connect() as tracker:
        tracker.experiments.create("via-connect")

    assert not (tmp_path / "mltracker.db").exists()
    names = [e.name for e in mltracker.get_all_experiments().list()]
    assert names == ["from-env", "via-connect"]
    with mltracker.connect(uri) as tracker:
        assert tracker.experiments.list()[0].id == experiment.id


def test_explicit_path_wins_over_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", str(tmp_path / "env.db"))

    mltracker.get_experiment("explicit", tmp_path / "explicit.db")

    assert (tmp_path / "explicit.db").is_file()
    with mltracker.connect(tmp_path / "explicit.db") as tracker:
        assert [e.name for e in tracker.experiments.list()] == ["explicit"]
    assert mltracker.get_all_experiments().list() == []


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda root: root / "store.db", id="pathlib"),
        pytest.param(lambda root: str(root / "store.db"), id="str"),
        pytest.param(lambda root: f"sqlite:///{root / 'store.db'}", id="sqlite-url-absolute"),
        pytest.param(lambda root: "sqlite:///store.db", id="sqlite-url-relative"),
        pytest.param(lambda root: "store.db", id="relative-path"),
        pytest.param(lambda root: root / "a" / "b" / "c" / "store.db", id="missing-parents"),
    ],
)
def test_path_forms_open_a_sqlite_file(tmp_path: Path, make_path: object) -> None:
    path = make_path(tmp_path)  # type: ignore[operator]

    experiment = mltracker.get_experiment("e", path)

    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.db"))
    assert files in (["store.db"], ["a/b/c/store.db"])
    with mltracker.connect(tmp_path / files[0]) as tracker:
        assert [e.id for e in tracker.experiments.list()] == [experiment.id]


def test_home_relative_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    mltracker.get_experiment("e", "~/stores/store.db")

    assert (tmp_path / "home" / "stores" / "store.db").is_file()


# connect(): a handle with .experiments, flush(), close(), `with` -----------------------------


def test_connect_is_a_context_manager_that_closes(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        assert isinstance(tracker, mltracker.Connection)
        tracker.experiments.create("e").models.create("h").metrics.log("loss", 1.0)

    with mltracker.connect(uri) as again:
        experiment = again.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("h")
        assert model is not None
        assert [m.value for m in model.metrics.list()] == [1.0]


def test_leaving_with_block_stores_logged_points(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("h")
        for step in range(500):
            model.metrics.log("loss", float(step), step=step)

    assert row_counts(uri)["metrics"] == 500


def test_leaving_with_block_on_error_stores_logged_points_and_reraises(uri: str) -> None:
    with pytest.raises(KeyError, match="boom"), mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("h")
        model.metrics.log("loss", 1.0)
        raise KeyError("boom")

    assert row_counts(uri)["metrics"] == 1


def test_flush_stores_logged_points(uri: str) -> None:
    with mltracker.connect(uri) as tracker:
        model = tracker.experiments.create("e").models.create("h")
        for step in range(300):
            model.metrics.log("loss", float(step), step=step)

        tracker.flush()

        assert row_counts(uri)["metrics"] == 300


def test_flush_with_nothing_logged_is_fine(tracker: mltracker.Connection) -> None:
    tracker.flush()
    tracker.flush()


def test_close_stores_logged_points_and_may_be_called_twice(uri: str) -> None:
    tracker = mltracker.connect(uri)
    model = tracker.experiments.create("e").models.create("h")
    model.metrics.log("loss", 1.0)

    tracker.close()
    tracker.close()

    assert row_counts(uri)["metrics"] == 1


def test_connect_without_arguments_uses_the_default_store(tmp_path: Path) -> None:
    with mltracker.connect() as tracker:
        tracker.experiments.create("e")

    assert (tmp_path / "mltracker.db").is_file()


# One session per URI in a process ------------------------------------------------------------


def test_handles_of_the_same_sqlite_file_share_one_uri(tmp_path: Path) -> None:
    path = tmp_path / "store.db"  # the working directory too (see conftest)
    spellings: list[str | Path] = [
        path,
        str(path),
        "store.db",
        "sqlite:///store.db",
        f"sqlite:///{path}",
        str(tmp_path / "sub" / ".." / "store.db"),
    ]

    handles = [mltracker.connect(spelling) for spelling in spellings]
    try:
        assert len({handle.uri for handle in handles}) == 1
    finally:
        for handle in handles:
            handle.close()


def test_handles_of_the_same_uri_see_each_others_unflushed_points(uri: str) -> None:
    with mltracker.connect(uri) as writer, mltracker.connect(uri) as reader:
        model = writer.experiments.create("e").models.create("h")
        for step in range(100):
            model.metrics.log("loss", float(step), step=step)

        experiment = reader.experiments.read("e")
        assert experiment is not None
        found = experiment.models.read("h")
        assert found is not None
        assert [m.step for m in found.metrics.list()] == list(range(100))


def test_closing_one_handle_leaves_the_other_usable(uri: str) -> None:
    first = mltracker.connect(uri)
    second = mltracker.connect(uri)
    first.experiments.create("e").models.create("h")

    first.close()
    model_seen = second.experiments.read("e")
    assert model_seen is not None
    found = model_seen.models.read("h")
    assert found is not None
    found.metrics.log("loss", 1.0)
    found.modules.log("linear")

    assert [m.value for m in found.metrics.list()] == [1.0]
    second.close()


def test_entry_points_keep_working_after_a_connection_to_the_same_uri_closes(uri: str) -> None:
    experiment = mltracker.get_experiment("e", uri)
    with mltracker.connect(uri) as tracker:
        tracker.experiments.create("other")

    model = experiment.models.create("h")
    model.metrics.log("loss", 1.0)

    assert [m.value for m in model.metrics.list()] == [1.0]


def test_opening_in_a_loop_is_fine(uri: str) -> None:
    for index in range(200):
        experiment: Experiment = mltracker.get_experiment("loop", uri)
        with mltracker.connect(uri) as tracker:
            tracker.experiments.read("loop")
        experiment.models.read("missing")
        if index == 0:
            experiment.models.create("h")

    assert [m.hash for m in mltracker.get_experiment("loop", uri).models.list()] == ["h"]


def test_two_stores_in_one_process_are_separate(tmp_path: Path) -> None:
    first = mltracker.get_experiment("same-name", tmp_path / "one.db")
    second = mltracker.get_experiment("same-name", tmp_path / "two.db")
    first.models.create("h").metrics.log("loss", 1.0)

    assert first.id != second.id
    assert second.models.list() == []
