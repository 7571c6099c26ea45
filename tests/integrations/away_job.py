"""A tiny training run through one integration, in a process of its own, while its tracking
server is away: ``python away_job.py FRAMEWORK URI [SERVER_PID]``.

FRAMEWORK is ``lightning``, ``transformers`` or ``torch``. With ``SERVER_PID`` the server is
up when training begins and the job kills it (SIGKILL) when the first epoch ends, then waits
until its port turns connections away; without it no server is expected to listen at all.

The job prints one line of JSON when training is over: the steps of the points it handed to
the integration (one entry per point), the model's hash and the modules it expects.
Runs from the repository's root folder (``tests.integrations.nets``) or with it on
``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import torch
from torch import nn

EXPERIMENT = "away"
EPOCHS = 2
BATCHES = 4  # per epoch: 32 samples, batches of 8


def kill_server(pid: int, url: str) -> None:
    """Kill the server and wait until nothing listens on its port any more."""
    os.kill(pid, signal.SIGKILL)
    parts = urlsplit(url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server at {url} still takes connections")


def lightning(uri: str, server: int | None) -> dict[str, Any]:
    import lightning as L

    from mltracker.integrations.lightning import MLTrackerLogger
    from mltracker.integrations.torch import model_hash, modules_of
    from tests.integrations.nets import blobs

    class Classifier(L.LightningModule):
        def __init__(self, hidden: int = 8, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val/acc", (self.net(x).argmax(dim=1) == y).float().mean())

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    logged: list[int] = []

    class Recording(MLTrackerLogger):
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            logged.extend([-1 if step is None else step] * len(metrics))
            super().log_metrics(metrics, step)

    class Outage(L.Callback):
        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if server is not None and trainer.current_epoch == 0:
                kill_server(server, uri)

    torch.manual_seed(0)
    trainer = L.Trainer(
        logger=Recording(EXPERIMENT, uri=uri),
        callbacks=[Outage()],
        max_epochs=EPOCHS,
        accelerator="cpu",
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir="lightning",
    )
    module = Classifier()
    loader = torch.utils.data.DataLoader(blobs(32), batch_size=8)
    trainer.fit(module, loader, loader)
    modules = [name for name, _ in modules_of(module)] + ["hyperparameters"]
    return {"steps": logged, "hash": model_hash(module), "modules": modules}


def transformers(uri: str, server: int | None) -> dict[str, Any]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from mltracker.integrations.torch import model_hash, modules_of
    from mltracker.integrations.transformers import MLTrackerCallback
    from tests.integrations.nets import Tokens, tiny_bert

    logged: list[int] = []

    class Recording(MLTrackerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs:
                logged.extend([state.global_step] * len(logs))
            super().on_log(args, state, control, logs, **kw)

    class Outage(TrainerCallback):
        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if server is not None and state.global_step == BATCHES:
                kill_server(server, uri)

    torch.manual_seed(0)
    model = tiny_bert()
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir="transformers",
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
        callbacks=[Outage(), Recording(EXPERIMENT, uri=uri)],
    )
    trainer.train()
    modules = [name for name, _ in modules_of(model)] + ["config"]
    return {"steps": logged, "hash": model_hash(model), "modules": modules}


def plain_torch(uri: str, server: int | None) -> dict[str, Any]:
    import mltracker
    from mltracker.integrations.torch import log_metrics, log_optimizer, modules_of, track
    from tests.integrations.nets import blobs, mlp

    torch.manual_seed(0)
    net = mlp()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    model = track(mltracker.connect(uri).experiments.get_or_create(EXPERIMENT), net)
    loader = torch.utils.data.DataLoader(blobs(32), batch_size=8)
    logged: list[int] = []
    step = model.step
    for epoch in range(EPOCHS):
        log_optimizer(model, optimizer, step)
        for x, y in loader:
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            accuracy = (logits.argmax(dim=1) == y).float().mean()
            log_metrics(model, {"loss": loss, "acc": accuracy}, step=step, phase="train")
            logged.extend([step] * 2)
            step += 1
        model.step = step
        if server is not None and epoch == 0:
            kill_server(server, uri)
    return {"steps": logged, "hash": model.hash, "modules": [n for n, _ in modules_of(net)]}


JOBS = {"lightning": lightning, "transformers": transformers, "torch": plain_torch}


if __name__ == "__main__":
    framework, uri = sys.argv[1], sys.argv[2]
    server = int(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(JOBS[framework](uri, server)), flush=True)
