"""The runs of a model, on every backend: what starts one, what belongs to one, how one ends,
and what a reader sees."""

from __future__ import annotations

import time
import uuid

import pytest

import mltracker
from mltracker import Experiment
from mltracker.errors import InvalidArgumentError, InvalidTypeError, NotFoundError


def test_the_seed_api_logs_into_one_implicit_run(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("c0ffee")
    for step in range(5):
        model.metrics.log("loss", 1.0 / (step + 1), step=step)

    run = model.runs.current
    runs = model.runs.list()

    assert [found.id for found in runs] == [run.id]
    assert runs[0].status == "running"
    assert runs[0].name is None
    assert [point.step for point in model.metrics.list("loss", run=run)] == list(range(5))
    assert [point.step for point in run.metrics.list("loss")] == list(range(5))


def test_a_process_that_only_reads_or_creates_starts_no_run(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("reader")
    model.metrics.list()
    model.modules.list()
    assert model.step == 0

    assert model.runs.list() == []


def test_explicit_runs_keep_their_own_curves(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("sweep")
    for lr in (0.01, 0.1):
        with model.runs.start(name=f"lr={lr}", params={"lr": lr, "batch": 32}) as run:
            for step in range(3):
                run.metrics.log("loss", lr * step, step=step)
            model.metrics.log("acc", lr, step=2)  # the model's own writes go to its run too

    first, second = model.runs.list()

    assert (first.name, first.params, first.status) == (
        "lr=0.01",
        {"lr": 0.01, "batch": 32},
        "finished",
    )
    assert (second.name, second.status) == ("lr=0.1", "finished")
    assert [p.value for p in first.metrics.list("loss")] == [0.0, 0.01, 0.02]
    assert [p.value for p in second.metrics.list("loss")] == [0.0, 0.1, 0.2]
    assert [p.value for p in model.metrics.list("acc", run=second)] == [0.1]
    assert len(model.metrics.list("loss")) == 6  # without run=, every run's
    assert first.summary() == {"loss": 0.02, "acc": 0.01}
    assert first.ended_at is not None and first.ended_at >= first.started_at


def test_starting_runs_explicitly_leaves_no_empty_implicit_run(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("explicit-only")
    with model.runs.start(name="only") as run:
        run.metrics.log("loss", 1.0, step=0)

    assert [found.name for found in model.runs.list()] == ["only"]


def test_an_exception_fails_the_run_and_is_kept(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("failing")
    with pytest.raises(ZeroDivisionError), model.runs.start(name="boom") as run:
        run.metrics.log("loss", 1.0, step=0)
        1 / 0  # noqa: B018

    stored = model.runs.read(run.id)
    assert stored is not None
    assert stored.status == "failed"
    assert stored.exit == "ZeroDivisionError: division by zero"


def test_a_keyboard_interrupt_kills_the_run(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("interrupted")
    with pytest.raises(KeyboardInterrupt), model.runs.start() as run:
        raise KeyboardInterrupt

    stored = model.runs.read(run.id)
    assert stored is not None
    assert (stored.status, stored.exit) == ("killed", "SIGINT")


def test_modules_and_iterations_belong_to_their_run(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("parts")
    with model.runs.start(name="a") as first:
        model.modules.log("optimizer", {"lr": 0.1})
        first.iterations.create(1).modules.log("optimizer", {"lr": 0.05})
    with model.runs.start(name="b") as second:
        second.modules.log("optimizer", {"lr": 0.2})
        model.iterations.create(5)

    assert [m.attributes for m in first.modules.list()] == [{"lr": 0.1}]
    assert [m.attributes for m in second.modules.list()] == [{"lr": 0.2}]
    assert [m.attributes["lr"] for m in model.modules.list()] == [0.1, 0.2]  # all of them
    assert [it.step for it in first.iterations.list()] == [1]
    assert [it.step for it in second.iterations.list()] == [5]
    assert [it.step for it in model.iterations.list()] == [1, 5]


def test_finish_ends_a_run_once_and_closes_it_to_writes(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("finish")
    run = model.runs.start(name="manual")
    run.metrics.log("loss", 0.5, step=1)
    run.finish(status="killed", exit="SIGUSR1")
    run.finish()  # again: nothing

    assert run.status == "killed"
    stored = run.reload()
    assert (stored.status, stored.exit) == ("killed", "SIGUSR1")
    with pytest.raises(InvalidArgumentError, match="ended"):
        run.metrics.log("loss", 0.4, step=2)
    with pytest.raises(InvalidArgumentError, match="ended"):
        run.modules.log("late")
    with pytest.raises(InvalidArgumentError, match="finished, failed or killed"):
        model.runs.start().finish(status="crashed")  # type: ignore[arg-type]
    assert [p.value for p in stored.metrics.list("loss")] == [0.5]


def test_resume_continues_a_run(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("resumed")
    with model.runs.start(name="long") as run:
        run.metrics.log("loss", 1.0, step=1)

    with model.runs.start(resume=run.id) as again:
        assert again.id == run.id
        assert again.reload().status == "running"
        model.metrics.log("loss", 0.5, step=2)
    with model.runs.start(resume="last") as last:
        last.metrics.log("loss", 0.25, step=3)

    assert [found.id for found in model.runs.list()] == [run.id]
    assert [p.step for p in run.metrics.list("loss")] == [1, 2, 3]
    assert run.reload().status == "finished"


def test_run_context_is_recorded(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("context")
    params = {"nested": {"a": [1, 2]}, "inf": float("inf"), "none": None}
    with model.runs.start(name="ctx", params=params) as run:
        pass
    stored = run.reload()

    assert stored.params == params
    assert stored.pid is not None and stored.host
    assert isinstance(stored.command, list)
    assert stored.environment["python"]
    assert stored.environment["mltracker"] == mltracker.__version__


def test_bad_arguments_are_refused_with_typed_errors(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("bad")
    with pytest.raises(InvalidTypeError):
        model.runs.start(params=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="params contains"):
        model.runs.start(params={"x": object()})
    with pytest.raises(NotFoundError):
        model.runs.start(resume=uuid.uuid4())
    with pytest.raises(NotFoundError):
        model.runs.start(resume="last")
    with pytest.raises(InvalidArgumentError):
        model.runs.start(resume="not a uuid")
    with pytest.raises(InvalidTypeError):
        model.metrics.list(run=3.5)
    assert model.runs.read(uuid.uuid4()) is None
    assert model.runs.list() == []


def test_another_models_run_is_not_read_through_this_model(experiment: Experiment) -> None:
    one = experiment.models.get_or_create("one")
    other = experiment.models.get_or_create("other")
    with one.runs.start() as run:
        pass

    assert other.runs.read(run.id) is None
    with pytest.raises(NotFoundError):
        other.runs.start(resume=run)


def test_latest_of_the_model_is_the_last_run_that_logged(experiment: Experiment) -> None:
    model = experiment.models.get_or_create("latest")
    with model.runs.start() as first:
        first.metrics.log("loss", 1.0, step=1)
    with model.runs.start() as second:
        second.metrics.log("loss", 2.0, step=1)

    assert [(p.name, p.value) for p in model.metrics.latest()] == [("loss", 2.0)]
    assert [p.value for p in first.metrics.latest()] == [1.0]


def test_a_run_without_heartbeat_reads_as_crashed(
    experiment: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_RUN_TIMEOUT", "0.5")
    model = experiment.models.get_or_create("silent")
    run = model.runs.start(name="quiet")
    handle = run._handle
    assert handle is not None
    # This process stops beating for it, as a process killed with -9 would.
    handle.book._live.pop(handle.id)
    time.sleep(1.0)

    assert model.runs.read(run.id).status == "crashed"  # type: ignore[union-attr]
