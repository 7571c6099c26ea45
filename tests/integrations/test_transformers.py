"""``MLTrackerCallback``: real Hugging Face ``Trainer`` runs of a tiny BERT on CPU into each
backend (built from a config: nothing is downloaded)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="the transformers extra is not installed")
pytest.importorskip("accelerate", reason="the transformers extra is not installed")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

import mltracker  # noqa: E402
from mltracker.integrations.torch import model_hash, modules_of  # noqa: E402
from mltracker.integrations.transformers import MLTrackerCallback  # noqa: E402
from tests.integrations.nets import Tokens, tiny_bert  # noqa: E402

EPOCHS = 2
STEPS = 4  # optimizer steps per epoch: 32 samples, batches of 8
EXPERIMENT = "transformers"


def train(uri: str, output: Path, *, hidden: int = 16, test: bool = False) -> Any:
    """Train a fresh tiny BERT for ``EPOCHS`` epochs, logging every 2 steps and evaluating
    at each epoch's end; return the callback."""
    torch.manual_seed(0)
    callback = MLTrackerCallback(EXPERIMENT, uri=uri)
    trainer = Trainer(
        model=tiny_bert(hidden),
        args=TrainingArguments(
            output_dir=str(output),
            num_train_epochs=EPOCHS,
            per_device_train_batch_size=8,
            per_device_eval_batch_size=16,
            learning_rate=1e-3,
            logging_steps=2,
            eval_strategy="epoch",
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
        ),
        train_dataset=Tokens(32, seed=0),
        eval_dataset=Tokens(16, seed=1),
        callbacks=[callback],
    )
    trainer.train()
    if test:
        trainer.evaluate(Tokens(16, seed=2), metric_key_prefix="test")
    return callback


@dataclass
class Runs:
    uri: str
    hash: str
    first_step: int
    other_hash: str
    other_step: int


@pytest.fixture(scope="module")
def runs(module_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Into one store: a training run with a test evaluation, the same script again (same
    hash), and one with another hidden size (another model)."""
    output = tmp_path_factory.mktemp("transformers")
    first = train(module_uri, output, test=True)
    first_step = first.model.step
    train(module_uri, output)
    other = train(module_uri, output, hidden=24)
    # Values, not entities: an entity used after the test's sessions were closed would open
    # a session of its own.
    return Runs(module_uri, first.model.hash, first_step, other.model.hash, other.model.step)


def stored(runs: Runs) -> mltracker.Model:
    model = mltracker.get_experiment(EXPERIMENT, runs.uri).models.read(runs.hash)
    assert model is not None
    return model


def test_the_model_is_found_by_its_hash(runs: Runs) -> None:
    assert runs.hash == model_hash(tiny_bert())
    assert stored(runs).name == "BertForSequenceClassification"
    assert [m.hash for m in mltracker.get_experiment(EXPERIMENT, runs.uri).models.list()] == [
        runs.hash,
        model_hash(tiny_bert(24)),
    ]
    assert runs.other_hash == model_hash(tiny_bert(24)) != runs.hash


def test_modules_match_the_architecture_and_config(runs: Runs) -> None:
    modules = stored(runs).modules.list()
    architecture = list(modules_of(tiny_bert()))
    assert [(m.name, m.attributes) for m in modules[:-1]] == architecture
    assert "bert.encoder.layer.0.attention.self.query" in [m.name for m in modules]
    assert modules[-1].name == "config"
    assert modules[-1].attributes["hidden_size"] == 16
    assert modules[-1].attributes["num_hidden_layers"] == 1


def test_step_advances_per_epoch_and_continues(runs: Runs) -> None:
    assert runs.first_step == EPOCHS * STEPS
    assert stored(runs).step == 2 * EPOCHS * STEPS
    assert runs.other_step == EPOCHS * STEPS


def test_train_metrics_have_their_phase_and_steps(runs: Runs) -> None:
    model = stored(runs)
    expected = [run * EPOCHS * STEPS + step for run in range(2) for step in (2, 4, 6, 8)]
    for name in ("loss", "grad_norm", "learning_rate"):
        assert [p.step for p in model.metrics.list(name, phase="train")] == expected, name
    epochs = model.metrics.list("epoch", phase=mltracker.NO_PHASE)
    assert [p.value for p in epochs][:4] == [0.5, 1.0, 1.0, 1.5]


def test_eval_metrics_are_in_phase_validation(runs: Runs) -> None:
    validation = stored(runs).metrics.list("loss", phase="validation")
    assert [p.step for p in validation] == [4, 8, 12, 16]
    assert {"runtime", "samples_per_second"} <= {
        p.name for p in stored(runs).metrics.list(phase="validation")
    }


def test_test_metrics_are_in_phase_test(runs: Runs) -> None:
    tested = stored(runs).metrics.list("loss", phase="test")
    assert [p.step for p in tested] == [EPOCHS * STEPS]


def test_the_summary_keeps_its_names(runs: Runs) -> None:
    model = stored(runs)
    summary = model.metrics.list("train_loss", phase=mltracker.NO_PHASE)
    assert [p.step for p in summary] == [8, 16]
    assert len(model.metrics.list("train_runtime")) == 2
    assert model.metrics.list("runtime", phase="train") == []


def test_iterations_hold_the_arguments_and_the_optimizer(runs: Runs) -> None:
    iterations = stored(runs).iterations.list()
    per_run = [run * EPOCHS * STEPS + epoch * STEPS for run in range(2) for epoch in range(3)]
    assert [i.step for i in iterations] == per_run
    begin = {m.name: m.attributes for m in iterations[0].modules.list()}
    assert begin["training_arguments"]["learning_rate"] == 1e-3
    assert begin["training_arguments"]["num_train_epochs"] == EPOCHS
    assert begin["optimizer"]["type"] == "AdamW"
    assert begin["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert begin["lr_scheduler"]["type"] == "LambdaLR"
    after_first_epoch = {m.name: m.attributes for m in iterations[1].modules.list()}
    assert set(after_first_epoch) == {"optimizer", "lr_scheduler"}
    assert after_first_epoch["optimizer"]["param_groups"][0]["lr"] == pytest.approx(5e-4)


def test_only_process_zero_logs(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "is_world_process_zero", lambda self: False)
    callback = train(uri, tmp_path, test=True)
    assert callback.model is None
    if uri.endswith(".db"):
        assert not Path(uri).exists()
    with mltracker.connect(uri) as tracker:
        assert tracker.experiments.list() == []


def test_evaluation_without_training_tracks_the_model(sqlite_uri: str, tmp_path: Path) -> None:
    callback = MLTrackerCallback("eval-only", uri=sqlite_uri)
    trainer = Trainer(
        model=tiny_bert(),
        args=TrainingArguments(
            output_dir=str(tmp_path), report_to="none", use_cpu=True, disable_tqdm=True
        ),
        eval_dataset=Tokens(16),
        callbacks=[callback],
    )
    trainer.evaluate()
    model = mltracker.get_experiment("eval-only", sqlite_uri).models.read(model_hash(tiny_bert()))
    assert model is not None
    assert [p.step for p in model.metrics.list("loss", phase="validation")] == [0]


def test_training_resumed_from_a_checkpoint_keeps_the_trainer_steps(
    sqlite_uri: str, tmp_path: Path
) -> None:
    def trainer(epochs: int) -> Trainer:
        torch.manual_seed(0)
        return Trainer(
            model=tiny_bert(),
            args=TrainingArguments(
                output_dir=str(tmp_path),
                num_train_epochs=epochs,
                per_device_train_batch_size=8,
                logging_steps=2,
                save_strategy="epoch",
                report_to="none",
                use_cpu=True,
                disable_tqdm=True,
            ),
            train_dataset=Tokens(32),
            callbacks=[MLTrackerCallback(EXPERIMENT, uri=sqlite_uri)],
        )

    trainer(1).train()
    trainer(2).train(resume_from_checkpoint=True)

    model = mltracker.get_experiment(EXPERIMENT, sqlite_uri).models.read(model_hash(tiny_bert()))
    assert model is not None and model.step == 2 * STEPS
    assert [p.step for p in model.metrics.list("loss", phase="train")] == [2, 4, 6, 8]
