"""A Lightning run tracked by MLTracker: an MLP on two synthetic spirals.

    python examples/lightning_mlp.py                  # logs to ./mltracker.db
    python examples/lightning_mlp.py --epochs 2 --uri runs.db
    mltracker experiments show examples-lightning

The two lines that track the run are marked below. Each run of the script is a run of the
model (``logger.run``), whose steps go on from the last one's.
"""

from __future__ import annotations

import argparse
import math
import warnings

import lightning as L
import torch
from torch import nn

from mltracker.integrations.lightning import MLTrackerLogger  # 1. import the logger


def spirals(samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals with some noise: points (x, y) and their class (0 or 1)."""
    labels = torch.arange(samples) % 2
    turns = torch.rand(samples, generator=generator) * 2.5 * math.pi + 0.5
    angle = turns + labels * math.pi
    points = torch.stack([turns * torch.cos(angle), turns * torch.sin(angle)], dim=1) / 8
    return points + 0.02 * torch.randn(samples, 2, generator=generator), labels


class SpiralClassifier(L.LightningModule):
    def __init__(self, hidden: int = 32, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()  # logged as the model's "hyperparameters" module
        self.net = nn.Sequential(
            nn.Linear(2, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], phase: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        on_step = phase == "train"
        # train_loss: "loss" in phase train per step and in train_epoch per epoch (Lightning's
        # train_loss_step and train_loss_epoch), val_loss: in validation; one chart of "loss".
        self.log(f"{phase}_loss", loss, on_step=on_step, on_epoch=True)
        self.log(f"{phase}/accuracy", accuracy, on_step=on_step, on_epoch=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        self._step(batch, "val")  # ... and in phase validation

    def configure_optimizers(self) -> dict[str, object]:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def main(argv: list[str] | None = None) -> MLTrackerLogger:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument(
        "--uri", default=None, help="the store (default: $MLTRACKER_URI, else ./mltracker.db)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")

    generator = torch.Generator().manual_seed(0)
    inputs, labels = spirals(args.samples, generator)
    split = args.samples * 4 // 5
    train = torch.utils.data.TensorDataset(inputs[:split], labels[:split])
    validation = torch.utils.data.TensorDataset(inputs[split:], labels[split:])
    torch.manual_seed(0)
    trainer = L.Trainer(
        logger=MLTrackerLogger("examples-lightning", uri=args.uri),  # 2. give it to the Trainer
        max_epochs=args.epochs,
        accelerator="cpu",
        log_every_n_steps=5,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(
        SpiralClassifier(hidden=args.hidden),
        torch.utils.data.DataLoader(train, batch_size=64, shuffle=True, generator=generator),
        torch.utils.data.DataLoader(validation, batch_size=256),
    )
    logger = trainer.logger
    assert isinstance(logger, MLTrackerLogger) and logger.model is not None
    model = logger.model
    assert logger.run is not None
    print(f"model {model.hash} ({model.name}): step {model.step}, run {logger.run.id}")
    return logger


if __name__ == "__main__":
    main()
