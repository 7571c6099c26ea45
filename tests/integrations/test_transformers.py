"""``MLTrackerCallback``: real Hugging Face ``Trainer`` runs of a tiny BERT on CPU into each
backend (built from a config: nothing is downloaded), a run per ``train()``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("transformers", reason="the transformers extra is not installed")
pytest.importorskip("accelerate", reason="the transformers extra is not installed")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import Trainer, TrainerCallback, TrainingArguments  # noqa: E402

import mltracker  # noqa: E402
from mltracker.integrations.torch import model_hash, modules_of  # noqa: E402
from mltracker.integrations.transformers import MLTrackerCallback  # noqa: E402
from tests.integrations.nets import Tokens, tiny_bert  # noqa: E402

EPOCHS = 2
STEPS = 4  # optimizer steps per epoch: 32 samples, batches of 8
EXPERIMENT = "transformers"


def arguments(output: Path, **settings: Any) -> TrainingArguments:
    """``EPOCHS`` epochs, logging every 2 steps, evaluating at each epoch's end."""
    defaults: dict[str, Any] = {
        "output_dir": str(output),
        "num_train_epochs": EPOCHS,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "learning_rate": 1e-3,
        "logging_steps": 2,
        "eval_strategy": "epoch",
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
    }
    return TrainingArguments(**{**defaults, **settings})


def trainer(args: TrainingArguments, callbacks: list[Any], hidden: int = 16) -> Trainer:
    torch.manual_seed(0)
    return Trainer(
        model=tiny_bert(hidden),
        args=args,
        train_dataset=Tokens(32, seed=0),
        eval_dataset=Tokens(16, seed=1),
        callbacks=callbacks,
    )


def train(uri: str, output: Path, *, hidden: int = 16, test: bool = False) -> Any:
    """Train a fresh tiny BERT; return the callback."""
    callback = MLTrackerCallback(EXPERIMENT, uri=uri)
    training = trainer(arguments(output), [callback], hidden)
    training.train()
    if test:
        training.evaluate(Tokens(16, seed=2), metric_key_prefix="test")
    return callback


@dataclass
class Runs:
    uri: str
    hash: str
    first_step: int
    other_hash: str
    other_step: int
    run_ids: list[UUID]


@pytest.fixture(scope="module")
def runs(module_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Into one store: a training run with a test evaluation, the same script again (same
    hash), and one with another hidden size (another model)."""
    output = tmp_path_factory.mktemp("transformers")
    first = train(module_uri, output, test=True)
    first_step = first.model.step
    second = train(module_uri, output)
    other = train(module_uri, output, hidden=24)
    # Values, not entities: an entity used after the test's sessions were closed would open
    # a session of its own.
    run_ids = [first.run.id, second.run.id]
    return Runs(
        module_uri, first.model.hash, first_step, other.model.hash, other.model.step, run_ids
    )


def stored(uri: str, hash: str | None = None, experiment: str = EXPERIMENT) -> mltracker.Model:
    model = mltracker.get_experiment(experiment, uri).models.read(hash or model_hash(tiny_bert()))
    assert model is not None
    return model


def steps(model: mltracker.Model, name: str, run: object, phase: str | None = None) -> list[int]:
    return [p.step for p in model.metrics.list(name, phase=phase, run=run)]


def test_the_model_is_found_by_its_hash(runs: Runs) -> None:
    assert runs.hash == model_hash(tiny_bert())
    assert stored(runs.uri).name == "BertForSequenceClassification"
    assert [m.hash for m in mltracker.get_experiment(EXPERIMENT, runs.uri).models.list()] == [
        runs.hash,
        model_hash(tiny_bert(24)),
    ]
    assert runs.other_hash == model_hash(tiny_bert(24)) != runs.hash


def test_each_training_is_a_run_with_the_arguments_as_params(runs: Runs) -> None:
    found = stored(runs.uri).runs.list()
    assert [r.id for r in found] == runs.run_ids  # the test evaluation is in the first
    assert [(r.status, r.name) for r in found] == [("finished", None)] * 2
    params = found[0].params
    assert params["learning_rate"] == 1e-3 and params["num_train_epochs"] == EPOCHS
    assert params["run_name"] is None and params["eval_steps"] is None  # not "None"
    assert params["eval_strategy"] == "epoch"


def test_modules_match_the_architecture_and_each_run_has_its_config(runs: Runs) -> None:
    model = stored(runs.uri)
    modules = model.modules.list()
    architecture = list(modules_of(tiny_bert()))
    assert [(m.name, m.attributes) for m in modules[: len(architecture)]] == architecture
    assert "bert.encoder.layer.0.attention.self.query" in [m.name for m in modules]
    first, second = model.runs.list()
    for run in (first, second):
        config = run.modules.list()[0]
        assert config.name == "config"
        assert config.attributes["hidden_size"] == 16
        assert config.attributes["num_hidden_layers"] == 1
    # The forward pass of training set the config's problem_type: the test evaluation that
    # followed logged the config again, into the first run.
    assert [m.attributes["problem_type"] for m in first.modules.list()] == [
        None,
        "single_label_classification",
    ]
    assert len(second.modules.list()) == 1


def test_step_advances_per_epoch_and_continues(runs: Runs) -> None:
    assert runs.first_step == EPOCHS * STEPS
    assert stored(runs.uri).step == 2 * EPOCHS * STEPS
    assert runs.other_step == EPOCHS * STEPS


def test_reruns_have_curves_of_their_own_that_go_on(runs: Runs) -> None:
    model = stored(runs.uri)
    for index, run in enumerate(runs.run_ids):
        expected = [index * EPOCHS * STEPS + step for step in (2, 4, 6, 8)]
        for name in ("loss", "grad_norm", "learning_rate"):
            assert steps(model, name, run, "train") == expected, name
    epochs = model.metrics.list("epoch", phase=mltracker.NO_PHASE)
    assert [p.value for p in epochs][:4] == [0.5, 1.0, 1.0, 1.5]


def test_eval_metrics_are_in_phase_validation(runs: Runs) -> None:
    validation = stored(runs.uri).metrics.list("loss", phase="validation")
    assert [p.step for p in validation] == [4, 8, 12, 16]
    assert {"runtime", "samples_per_second"} <= {
        p.name for p in stored(runs.uri).metrics.list(phase="validation")
    }


def test_test_metrics_are_in_phase_test_in_the_run_they_test(runs: Runs) -> None:
    assert steps(stored(runs.uri), "loss", runs.run_ids[0], "test") == [EPOCHS * STEPS]
    assert steps(stored(runs.uri), "loss", runs.run_ids[1], "test") == []


def test_the_summary_keeps_its_names(runs: Runs) -> None:
    model = stored(runs.uri)
    summary = model.metrics.list("train_loss", phase=mltracker.NO_PHASE)
    assert [p.step for p in summary] == [8, 16]
    assert len(model.metrics.list("train_runtime")) == 2
    assert model.metrics.list("runtime", phase="train") == []


def test_iterations_hold_the_arguments_and_the_optimizer(runs: Runs) -> None:
    iterations = stored(runs.uri).iterations.list()
    per_run = [run * EPOCHS * STEPS + epoch * STEPS for run in range(2) for epoch in range(3)]
    assert [i.step for i in iterations] == per_run
    begin = {m.name: m.attributes for m in iterations[0].modules.list()}
    assert begin["training_arguments"]["learning_rate"] == 1e-3
    assert begin["training_arguments"]["num_train_epochs"] == EPOCHS
    assert begin["training_arguments"]["hub_model_id"] is None
    assert begin["optimizer"]["type"] == "AdamW"
    assert begin["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert begin["lr_scheduler"]["type"] == "LambdaLR"
    after_first_epoch = {m.name: m.attributes for m in iterations[1].modules.list()}
    assert set(after_first_epoch) == {"optimizer", "lr_scheduler"}
    assert after_first_epoch["optimizer"]["param_groups"][0]["lr"] == pytest.approx(5e-4)


def test_only_process_zero_logs(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "is_world_process_zero", lambda self: False)
    callback = train(uri, tmp_path, test=True)
    assert callback.model is None and callback.run is None
    if uri.endswith(".db"):
        assert not Path(uri).exists()
    with mltracker.connect(uri) as tracker:
        assert tracker.experiments.list() == []


def test_report_to_mltracker(
    sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACKER_URI", sqlite_uri)
    monkeypatch.setenv("MLTRACKER_EXPERIMENT", "reported")
    args = arguments(tmp_path, report_to="mltracker", run_name="baseline")
    training = trainer(args, [])
    assert [type(c) for c in training.callback_handler.callbacks].count(MLTrackerCallback) == 1
    training.train()
    model = stored(sqlite_uri, experiment="reported")
    (run,) = model.runs.list()
    assert (run.name, run.status, run.params["run_name"]) == ("baseline", "finished", "baseline")
    assert steps(model, "loss", run, "train") == [2, 4, 6, 8]


def test_a_sweep_over_one_architecture_is_one_model_with_a_run_each(
    sqlite_uri: str, tmp_path: Path
) -> None:
    for lr in (1e-3, 5e-4):
        callback = MLTrackerCallback(EXPERIMENT, uri=sqlite_uri)
        trainer(arguments(tmp_path, learning_rate=lr), [callback]).train()
    (model,) = mltracker.get_experiment(EXPERIMENT, sqlite_uri).models.list()
    assert [r.params["learning_rate"] for r in model.runs.list()] == [1e-3, 5e-4]


def test_a_sweep_with_extra_settings_is_a_model_per_setting(
    sqlite_uri: str, tmp_path: Path
) -> None:
    for lr in (1e-3, 5e-4):
        callback = MLTrackerCallback(EXPERIMENT, uri=sqlite_uri, extra={"lr": lr})
        trainer(arguments(tmp_path, learning_rate=lr), [callback]).train()
    models = mltracker.get_experiment(EXPERIMENT, sqlite_uri).models.list()
    assert [m.hash for m in models] == [model_hash(tiny_bert(), {"lr": lr}) for lr in (1e-3, 5e-4)]
    assert [len(m.runs.list()) for m in models] == [1, 1]
    assert [steps(m, "loss", None, "train") for m in models] == [[2, 4, 6, 8]] * 2


def test_evaluation_without_training_tracks_the_model(sqlite_uri: str, tmp_path: Path) -> None:
    callback = MLTrackerCallback("eval-only", uri=sqlite_uri)
    evaluating = Trainer(
        model=tiny_bert(),
        args=TrainingArguments(
            output_dir=str(tmp_path), report_to="none", use_cpu=True, disable_tqdm=True
        ),
        eval_dataset=Tokens(16),
        callbacks=[callback],
    )
    evaluating.evaluate()
    model = stored(sqlite_uri, experiment="eval-only")
    (run,) = model.runs.list()
    assert run.status == "finished"
    assert steps(model, "loss", run, "validation") == [0]


def test_training_resumed_from_a_checkpoint_resumes_its_run(
    sqlite_uri: str, tmp_path: Path
) -> None:
    def resumable(epochs: int) -> Trainer:
        args = arguments(tmp_path, num_train_epochs=epochs, save_strategy="epoch")
        return trainer(args, [MLTrackerCallback(EXPERIMENT, uri=sqlite_uri)])

    resumable(1).train()
    resumable(2).train(resume_from_checkpoint=True)

    model = stored(sqlite_uri)
    (run,) = model.runs.list()
    assert model.step == 2 * STEPS and run.status == "finished"
    assert steps(model, "loss", run, "train") == [2, 4, 6, 8]  # no step twice


class StopsAt(TrainerCallback):
    """Raises when an optimizer step ends at ``step`` (before it is logged): a crash."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            raise RuntimeError("the node went away")


def test_training_resumed_from_an_earlier_checkpoint_rewinds_its_run(
    sqlite_uri: str, tmp_path: Path
) -> None:
    callback = MLTrackerCallback(EXPERIMENT, uri=sqlite_uri)
    args = arguments(tmp_path, num_train_epochs=3, save_strategy="epoch")
    with pytest.raises(RuntimeError, match="went away"):
        trainer(args, [StopsAt(2 * STEPS + 3), callback]).train()  # logged up to step 10
    # Resumed from the first checkpoint (step 4), not the last (step 8).
    trainer(args, [callback]).train(resume_from_checkpoint=str(tmp_path / f"checkpoint-{STEPS}"))

    model = stored(sqlite_uri)
    (run,) = model.runs.list()
    assert run.status == "finished" and model.step == 3 * STEPS
    assert steps(model, "loss", run, "train") == [2, 4, 6, 8, 10, 12]  # one value per step
    assert steps(model, "loss", run, "validation") == [STEPS, 2 * STEPS, 3 * STEPS]
    superseded = [
        (p.phase, p.step) for p in model.metrics.list("loss", superseded=True) if p.superseded
    ]
    assert superseded == [("train", 6), ("train", 8), ("validation", 8), ("train", 10)]


class Raises(TrainerCallback):
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 3:
            raise ValueError("no convergence")


def test_a_training_that_raises_fails_its_run(sqlite_uri: str, tmp_path: Path) -> None:
    callback = MLTrackerCallback(EXPERIMENT, uri=sqlite_uri)
    with pytest.raises(ValueError, match="no convergence"):
        trainer(arguments(tmp_path), [Raises(), callback]).train()
    assert callback.run is not None and callback.run.status == "running"
    trainer(arguments(tmp_path), [callback]).train()  # the next training of the callback

    model = stored(sqlite_uri)
    failed, finished = model.runs.list()
    assert (failed.status, failed.exit) == ("failed", "training stopped before its end")
    assert steps(model, "loss", failed, "train") == [2]
    assert finished.status == "finished"


def test_checkpoints_keep_no_credentials_of_the_store() -> None:
    secret = MLTrackerCallback(uri="postgresql://user:secret@db.example/runs")
    assert secret.state()["args"]["uri"] is None
    assert MLTrackerCallback(uri="runs.db").state()["args"]["uri"] == "runs.db"
