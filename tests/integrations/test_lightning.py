"""``MLTrackerLogger``: real Lightning ``fit`` and ``test`` runs on CPU into each backend."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning", reason="the lightning extra is not installed: '.[lightning]'")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402
from torch import nn  # noqa: E402

import mltracker  # noqa: E402
from mltracker.integrations.lightning import MLTrackerLogger  # noqa: E402
from mltracker.integrations.torch import model_hash, modules_of  # noqa: E402
from tests.integrations.nets import blobs  # noqa: E402

EPOCHS = 2
BATCHES = 4  # 32 samples, batches of 8
EXPERIMENT = "lightning"


class Classifier(L.LightningModule):
    def __init__(self, hidden: int = 8, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def _loss(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self.net(x)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        return nn.functional.cross_entropy(logits, y), accuracy

    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        _, accuracy = self._loss(batch)
        self.log("val/acc", accuracy)

    def test_step(self, batch: Any, index: int) -> None:
        _, accuracy = self._loss(batch)
        self.log("test_acc", accuracy)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def fit(uri: str, root: Path, *, hidden: int = 8, lr: float = 0.1, test: bool = False) -> Any:
    """Train a fresh ``Classifier`` for ``EPOCHS`` epochs; return the logger."""
    torch.manual_seed(0)
    logger = MLTrackerLogger(EXPERIMENT, uri=uri)
    trainer = L.Trainer(
        logger=logger,
        max_epochs=EPOCHS,
        accelerator="cpu",
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    module = Classifier(hidden=hidden, lr=lr)
    loader = torch.utils.data.DataLoader(blobs(32), batch_size=8)
    trainer.fit(module, loader, loader)
    if test:
        trainer.test(module, loader, verbose=False)
    return logger


@dataclass
class Runs:
    uri: str
    hash: str
    first_step: int  # the model's step after the first run
    other_step: int  # the step of the model of another hidden size


@pytest.fixture(scope="module")
def runs(module_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Into one store: a fit and a test, the same script again (same hash), once more with
    another learning rate (same hash, other hyper-parameters), and one with another hidden
    size (another model)."""
    root = tmp_path_factory.mktemp("lightning")
    first = fit(module_uri, root, test=True)
    first_step = first.model.step
    fit(module_uri, root)
    fit(module_uri, root, lr=0.05)
    other = fit(module_uri, root, hidden=12)
    # Values, not entities: an entity used after the test's sessions were closed would open
    # a session of its own.
    return Runs(module_uri, first.version, first_step, other.model.step)


def stored(runs: Runs, hash: str | None = None) -> mltracker.Model:
    model = mltracker.get_experiment(EXPERIMENT, runs.uri).models.read(hash or runs.hash)
    assert model is not None
    return model


def test_the_model_is_found_by_its_hash(runs: Runs) -> None:
    assert runs.hash == model_hash(Classifier())
    assert stored(runs).name == "Classifier"
    assert [m.hash for m in mltracker.get_experiment(EXPERIMENT, runs.uri).models.list()] == [
        runs.hash,
        model_hash(Classifier(hidden=12)),
    ]


def test_modules_match_the_architecture(runs: Runs) -> None:
    modules = stored(runs).modules.list()
    architecture = list(modules_of(Classifier()))
    assert [(m.name, m.attributes) for m in modules[: len(architecture)]] == architecture
    assert [m.name for m in modules] == ["net", "net.0", "net.1", "net.2"] + ["hyperparameters"] * 2
    assert modules[1].attributes["out_features"] == 8


def test_hyperparameters_are_logged_again_only_when_changed(runs: Runs) -> None:
    logged = [m.attributes for m in stored(runs).modules.list() if m.name == "hyperparameters"]
    assert logged == [{"hidden": 8, "lr": 0.1}, {"hidden": 8, "lr": 0.05}]


def test_step_follows_the_trainer_across_runs(runs: Runs) -> None:
    assert runs.first_step == EPOCHS * BATCHES
    assert stored(runs).step == 3 * EPOCHS * BATCHES
    assert runs.other_step == EPOCHS * BATCHES


def test_train_metrics_have_their_phase_and_steps(runs: Runs) -> None:
    losses = stored(runs).metrics.list("loss", phase="train")
    assert [p.step for p in losses] == list(range(3 * EPOCHS * BATCHES))
    assert all(isinstance(p.value, float) and p.value > 0 for p in losses)
    assert stored(runs).metrics.list("train_loss") == []


def test_validation_and_test_metrics_have_their_phase(runs: Runs) -> None:
    model = stored(runs)
    validation = model.metrics.list("acc", phase="validation")
    last_step_of_each_epoch = [
        run * EPOCHS * BATCHES + (epoch + 1) * BATCHES - 1
        for run in range(3)
        for epoch in range(EPOCHS)
    ]
    assert [p.step for p in validation] == last_step_of_each_epoch
    tested = model.metrics.list("acc", phase="test")
    assert [p.step for p in tested] == [EPOCHS * BATCHES]
    assert 0.0 <= tested[0].value <= 1.0


def test_epoch_is_logged_without_a_phase(runs: Runs) -> None:
    epochs = stored(runs).metrics.list("epoch", phase=mltracker.NO_PHASE)
    assert {p.value for p in epochs} == {0, 1, EPOCHS}  # EPOCHS: in trainer.test after fit


def test_iterations_hold_the_optimizer_at_each_epoch(runs: Runs) -> None:
    iterations = stored(runs).iterations.list()
    per_run = [run * EPOCHS * BATCHES + epoch * BATCHES for run in range(3) for epoch in range(3)]
    assert [i.step for i in iterations] == per_run
    first_run = [{m.name: m.attributes for m in i.modules.list()} for i in iterations[:3]]
    assert [i["optimizer"]["param_groups"][0]["lr"] for i in first_run] == [0.1, 0.05, 0.025]
    assert [i["lr_scheduler"]["type"] for i in first_run] == ["StepLR"] * 3
    third_run = iterations[6].modules.list()[0].attributes
    assert third_run["param_groups"][0]["lr"] == 0.05


def test_a_non_zero_rank_logs_nothing(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = fit(uri, tmp_path / "root", test=True)
    assert logger.model is None
    if uri.endswith(".db"):
        assert not Path(uri).exists()
    with mltracker.connect(uri) as tracker:
        assert tracker.experiments.list() == []


def test_the_logger_pickles_without_its_handles(sqlite_uri: str, tmp_path: Path) -> None:
    logger = fit(sqlite_uri, tmp_path)
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.model is None and copy.version == logger.version and copy.name == EXPERIMENT
    assert copy.experiment.name == EXPERIMENT


def test_metrics_before_a_run_need_a_hash(sqlite_uri: str) -> None:
    with pytest.raises(mltracker.MLTrackerError, match="hash="):
        MLTrackerLogger(uri=sqlite_uri).log_metrics({"loss": 1.0}, step=0)
    logger = MLTrackerLogger(uri=sqlite_uri, hash="by-hand")
    logger.log_metrics({"val_loss": 0.5}, step=3)
    logger.finalize("success")
    model = mltracker.get_experiment("lightning", sqlite_uri).models.read("by-hand")
    assert model is not None
    assert [(p.name, p.phase, p.step) for p in model.metrics.list()] == [("loss", "validation", 3)]


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_a_fit_resumed_from_a_checkpoint_keeps_the_trainer_steps(
    sqlite_uri: str, tmp_path: Path
) -> None:
    loader = torch.utils.data.DataLoader(blobs(32), batch_size=8)

    def trainer(epochs: int) -> L.Trainer:
        return L.Trainer(
            logger=MLTrackerLogger(EXPERIMENT, uri=sqlite_uri),
            max_epochs=epochs,
            accelerator="cpu",
            log_every_n_steps=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
        )

    first = trainer(1)
    first.fit(Classifier(), loader, loader)
    checkpoint = first.checkpoint_callback.best_model_path  # type: ignore[union-attr]
    trainer(2).fit(Classifier(), loader, loader, ckpt_path=checkpoint)

    model = mltracker.get_experiment(EXPERIMENT, sqlite_uri).models.read(model_hash(Classifier()))
    assert model is not None and model.step == 2 * BATCHES
    assert [p.step for p in model.metrics.list("loss")] == list(range(2 * BATCHES))
    iterations = model.iterations.list()
    assert [i.step for i in iterations] == [0, BATCHES, BATCHES, 2 * BATCHES]
    resumed = iterations[2].modules.list()[0].attributes  # the checkpoint's optimizer state
    assert resumed["param_groups"][0]["lr"] == 0.05
