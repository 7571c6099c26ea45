"""Run searches on every backend (over HTTP too): the README's examples, each field and
operator, orders with NaN and missing values, limits, across experiments, ``to_pandas``."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

import pytest

import mltracker
from mltracker import Experiment
from mltracker.errors import InvalidArgumentError, InvalidTypeError
from mltracker.ports.store import RunStart

SWEEP = [
    # name, params, validation losses, train losses, encoder hidden, end status
    ("a", {"lr": 0.001, "optimizer": "adam", "batch size": 32}, [0.9, 0.25, 0.3], [1.0], 32, None),
    ("b", {"lr": 0.1, "optimizer": "sgd", "batch size": 64}, [0.8, 0.5], [0.9], 64, "failed"),
    ("c", {"lr": 0.005, "optimizer": "adam", "batch size": 64}, [0.7, 0.2], [], 128, None),
    ("d", {"lr": "0.01", "optimizer": "rmsprop"}, [float("nan")], [0.5], None, "killed"),
    ("e", {"lr": float("nan"), "optimizer": "sgd", "batch size": 32}, [], [0.4], 64, None),
]


@pytest.fixture
def sweep(experiment: Experiment) -> Experiment:
    model = experiment.models.get_or_create("net")
    for name, params, validation, train, hidden, end in SWEEP:
        with model.runs.start(name=name, params=params) as run:
            for step, value in enumerate(validation):
                run.metrics.log("loss", value, step=step * 10, phase="validation")
            for step, value in enumerate(train):
                run.metrics.log("loss", value, step=step)
            if hidden is not None:
                model.modules.log("encoder", {"hidden": hidden})
            if end is not None:
                run.finish(end)
    return experiment


def names(experiment: Experiment, where: str | None = None, **options: Any) -> list[str | None]:
    return [run.name for run in experiment.runs.search(where, **options)]


def test_the_readme_examples(sweep: Experiment) -> None:
    assert names(
        sweep,
        "params.lr < 0.01 AND metrics.loss@validation.min < 0.3",
        order_by="metrics.loss@validation.min",
        limit=10,
    ) == ["c", "a"]
    assert names(
        sweep,
        "params.lr < 0.01 AND metrics.loss@validation.min < 0.3",
        order_by=("metrics.loss@validation.min DESC"),
    ) == ["a", "c"]
    assert names(sweep, "run.status IN ('finished', 'running') OR params.optimizer = 'adam'") == [
        "a",
        "c",
        "e",
    ]
    assert names(sweep, "modules.encoder.hidden >= 64 AND NOT params.`batch size` = 32") == [
        "b",
        "c",
    ]


def test_no_condition_lists_every_run_oldest_first(sweep: Experiment) -> None:
    assert names(sweep) == ["a", "b", "c", "d", "e"]
    assert [run.name for run in sweep.runs.list()] == ["a", "b", "c", "d", "e"]
    assert names(sweep, limit=2) == ["a", "b"]
    assert names(sweep, limit=0) == []


def test_numbers_compare_with_numbers_and_strings_with_strings(sweep: Experiment) -> None:
    assert names(sweep, "params.lr = 0.01") == []  # "0.01" is a string
    assert names(sweep, "params.lr = '0.01'") == ["d"]
    assert names(sweep, "params.lr != 0.1") == ["a", "c", "d", "e"]  # NaN and a string too
    assert names(sweep, "params.optimizer > 'b'") == ["b", "d", "e"]
    assert names(sweep, "params.optimizer LIKE '%s%'") == ["b", "d", "e"]
    assert names(sweep, "params.optimizer LIKE 's_d'") == ["b", "e"]
    assert names(sweep, "params.optimizer LIKE 'ADAM'") == []  # case-sensitive
    assert names(sweep, "params.optimizer NOT IN ('adam', 'sgd')") == ["d"]


def test_missing_values_are_unknown_and_is_null_finds_them(sweep: Experiment) -> None:
    assert names(sweep, "params.`batch size` IS NULL") == ["d"]
    assert names(sweep, "params.`batch size` IS NOT NULL") == ["a", "b", "c", "e"]
    assert names(sweep, "params.`batch size` = 32 OR NOT params.`batch size` = 32") == [
        "a",
        "b",
        "c",
        "e",
    ]
    assert names(sweep, "metrics.loss.count >= 1") == ["a", "b", "d", "e"]
    assert names(sweep, "metrics.loss.count IS NULL") == ["c"]
    assert names(sweep, "metrics.loss@validation.min IS NULL") == ["d", "e"]
    assert names(sweep, "metrics.loss@validation.nan_count = 1") == ["d"]
    assert names(sweep, "modules.encoder.hidden IS NULL") == []  # d: the model's latest


def test_aggregates(sweep: Experiment) -> None:
    assert names(sweep, "metrics.loss@validation.first = 0.9") == ["a"]
    assert names(sweep, "metrics.loss@validation.last = 0.3") == ["a"]
    assert names(sweep, "metrics.loss@validation.max >= 0.8") == ["a", "b"]
    assert names(sweep, "metrics.loss@validation.argmin = 10") == ["a", "b", "c"]
    assert names(sweep, "metrics.loss@validation.argmax = 0") == ["a", "b", "c"]
    assert names(sweep, "metrics.loss@validation.count = 2") == ["b", "c"]


def test_orders_put_nan_and_missing_values_last(sweep: Experiment) -> None:
    assert names(sweep, order_by="params.lr") == ["a", "c", "b", "d", "e"]
    assert names(sweep, order_by="params.lr DESC") == ["b", "c", "a", "d", "e"]
    assert names(sweep, order_by="metrics.loss@validation.last") == ["c", "a", "b", "d", "e"]
    assert names(sweep, order_by="metrics.loss@validation.last DESC") == [
        "b",
        "a",
        "c",
        "d",
        "e",
    ]
    assert names(sweep, order_by="params.`batch size` DESC, params.optimizer DESC") == [
        "b",
        "c",
        "e",
        "a",
        "d",
    ]


def test_run_and_model_fields(sweep: Experiment) -> None:
    assert names(sweep, "run.status = 'failed'") == ["b"]
    assert names(sweep, "run.status != 'finished'") == ["b", "d"]
    assert names(sweep, "run.name IN ('a', 'e')") == ["a", "e"]
    assert names(sweep, "run.duration >= 0 AND run.ended_at IS NOT NULL") == [
        "a",
        "b",
        "c",
        "d",
        "e",
    ]
    assert names(sweep, "run.started_at > 0 AND run.host IS NOT NULL") == names(sweep)
    assert names(sweep, "model.hash = 'net' AND model.step = 0 AND model.name IS NULL") == names(
        sweep
    )
    assert names(sweep, f"experiment.name = '{sweep.name}'") == names(sweep)


def test_a_run_without_heartbeats_is_searched_as_crashed(
    connection: mltracker.Connection, experiment: Experiment
) -> None:
    model = experiment.models.get_or_create("crash")
    long_ago = time.time() - 100
    start = RunStart(uuid.uuid4(), model.id, "lost", "{}", "{}", long_ago, 1.0)
    connection.store.start_run(start)

    assert names(experiment, "run.status = 'crashed'") == ["lost"]
    assert names(experiment, "run.status = 'running'") == []
    assert names(experiment, "run.duration < 1") == ["lost"]  # until its last heartbeat


def test_modules_of_the_run_come_before_the_models(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("mods")
    model.modules.log("optimizer", {"lr": 0.5})  # in the implicit run
    with model.runs.start(name="own") as run:
        iteration = model.iterations.create(1)
        iteration.modules.log("optimizer", {"lr": 0.25})
    with model.runs.start(name="none"):
        model.metrics.log("loss", 1.0)

    assert names(experiment, "modules.optimizer.lr = 0.25") == ["own"]
    assert names(experiment, "modules.optimizer.lr = 0.5") == [None, "none"]
    assert run.name == "own"


def test_across_experiments(connection: mltracker.Connection) -> None:
    tag = uuid.uuid4().hex
    for index in range(2):
        experiment = connection.experiments.create(f"across-{tag}-{index}")
        model = experiment.models.create("m")
        with model.runs.start(name=f"r{index}", params={"tag": tag, "index": index}):
            pass

    found = connection.runs.search(
        f"params.tag = '{tag}' AND experiment.name LIKE 'across-%-1'", order_by="params.index"
    )

    assert [run.name for run in found] == ["r1"]
    assert [run.name for run in connection.runs.search(f"params.tag = '{tag}'")] == ["r0", "r1"]


def test_params_with_nested_keys_bools_and_infinities(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("json")
    params = [
        {"optim": {"lr": 0.1}, "flag": True, "x": math.inf, "note": "NaN", "y": math.nan},
        {"optim": {"lr": 0.2}, "flag": False, "x": -math.inf, "note": [1, 2]},
        {"optim": 3, "flag": None, "x": 1e308},
    ]
    for index, each in enumerate(params):
        with model.runs.start(name=str(index), params=each):
            pass

    assert names(experiment, "params.optim.lr > 0.15") == ["1"]
    assert names(experiment, "params.flag = 1") == ["0"]
    assert names(experiment, "params.flag IS NULL") == ["2"]
    assert names(experiment, "params.x = inf") == ["0"]
    assert names(experiment, "params.x > 1e300") == ["0", "2"]
    assert names(experiment, order_by="params.x DESC") == ["0", "2", "1"]
    assert names(experiment, "params.note = 'NaN'") == ["0"]
    assert names(experiment, "params.y IS NOT NULL AND params.y != 1") == ["0"]
    assert names(experiment, "params.y = nan OR params.y < 1 OR params.y >= 1") == []
    assert names(experiment, "params.note IS NOT NULL AND NOT params.note LIKE '%'") == ["1"]


def test_bad_searches_are_refused_with_the_position(experiment: Experiment) -> None:
    with pytest.raises(InvalidArgumentError, match="at position 12"):
        experiment.runs.search("params.lr < AND")
    with pytest.raises(InvalidArgumentError, match="at position 0"):
        experiment.runs.search(order_by="loss")
    with pytest.raises(InvalidArgumentError):
        experiment.runs.search(limit=-1)
    with pytest.raises(InvalidTypeError):
        experiment.runs.search(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="double quote"):
        experiment.runs.search('params.`a"b` = 1')


def test_to_pandas_has_a_row_per_run_with_params_and_summaries(sweep: Experiment) -> None:
    pytest.importorskip("pandas")

    frame = sweep.runs.to_pandas(where="params.optimizer = 'adam'", order_by="params.lr DESC")

    assert list(frame["name"]) == ["c", "a"]
    assert list(frame["params.lr"]) == [0.005, 0.001]
    assert list(frame["params.`batch size`"]) == [64, 32]
    assert list(frame["metrics.loss@validation.min"]) == [0.2, 0.25]
    assert list(frame["metrics.loss@validation.argmin"]) == [10, 10]
    assert list(frame["metrics.loss@validation.count"]) == [2, 3]
    assert frame["metrics.loss.count"].isna().tolist() == [True, False]
    assert sweep.runs.to_pandas(where="params.lr > 1").empty
