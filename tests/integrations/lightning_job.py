"""A tiny Lightning module, and calls of it in a process of their own:
``python lightning_job.py JOB URI ROOT [CHECKPOINT]``.

JOB is ``test`` (``trainer.test`` of CHECKPOINT), ``interrupt`` (a fit stopped by Ctrl-C
when its third batch begins), ``crash`` (a fit killed with SIGKILL when the third batch of
its second epoch begins, after what it logged was written) or ``crash-late`` (a fit of three
epochs that checkpoints at each epoch's end, killed so when the third batch of its third
epoch begins). Runs from the repository's root folder
(``tests.integrations``) or with it on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import lightning as L
import torch
from torch import nn

import mltracker
from mltracker.integrations.lightning import MLTrackerLogger
from tests.integrations.nets import blobs

EXPERIMENT = "lightning"
BATCHES = 4  # per epoch: 32 samples, batches of 8


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


class StopAt(L.Callback):
    """Stops a fit when a batch begins at global step ``at``: ``interrupt`` raises
    ``KeyboardInterrupt`` (Ctrl-C), ``crash`` writes what was logged and kills the process
    (SIGKILL)."""

    def __init__(self, uri: str, how: str, at: int) -> None:
        self.uri, self.how, self.at = uri, how, at

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, index: int
    ) -> None:
        if trainer.global_step != self.at:
            return
        if self.how == "interrupt":
            raise KeyboardInterrupt
        mltracker.connect(self.uri).flush()  # what was logged so far is in the store
        os.kill(os.getpid(), signal.SIGKILL)


def loader() -> torch.utils.data.DataLoader[Any]:
    return torch.utils.data.DataLoader(blobs(32), batch_size=8)


def trainer(uri: str, root: str, epochs: int = 2, **options: Any) -> L.Trainer:
    """A CPU trainer of ``epochs`` epochs that logs every step into ``uri``."""
    settings: dict[str, Any] = {
        "logger": MLTrackerLogger(EXPERIMENT, uri=uri),
        "max_epochs": epochs,
        "accelerator": "cpu",
        "log_every_n_steps": 1,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": root,
        **options,
    }
    return L.Trainer(**settings)


def main(job: str, uri: str, root: str, checkpoint: str | None = None) -> None:
    torch.manual_seed(0)
    if job == "test":
        trainer(uri, root).test(Classifier(), loader(), ckpt_path=checkpoint, verbose=False)
        return
    if job == "crash-late":  # checkpoints at each epoch's end, killed in the third epoch
        stop = StopAt(uri, "crash", 2 * BATCHES + 2)
        every_epoch = L.pytorch.callbacks.ModelCheckpoint(save_top_k=-1, every_n_epochs=1)
        fitting = trainer(uri, root, 3, enable_checkpointing=True, callbacks=[every_epoch, stop])
        fitting.fit(Classifier(), loader(), loader())
        return
    stop = StopAt(uri, job, {"interrupt": 2, "crash": BATCHES + 2}[job])
    trainer(uri, root, callbacks=[stop]).fit(Classifier(), loader(), loader())


if __name__ == "__main__":
    main(*sys.argv[1:])
