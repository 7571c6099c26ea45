"""One process of the integrations benchmark: Lightning fits of a small MLP on CPU, each with
one logger, rounds interleaved; one JSON line per fit on stdout (library noise on stderr).

Loggers: ``none`` (``logger=False``), ``ours`` (``MLTrackerLogger`` on SQLite), ``mlflow``
(Lightning's ``MLFlowLogger`` on a ``sqlite:///`` store, synchronous as by default),
``mlflow-async`` (the same with ``synchronous=False``), ``trackio`` (``trackio.log`` per
call through a minimal Lightning logger: trackio ships none). Run by
``bench_integrations.py``; needs torch and lightning, and mlflow or trackio for those.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

_REAL_STDOUT = os.dup(1)
os.dup2(2, 1)  # banners and progress of the libraries go to stderr
sys.stdout = sys.stderr
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
for name in ("MLFLOW_TRACKING_URI", "TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "HF_TOKEN"):
    os.environ.pop(name, None)
os.environ.update(
    {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TRACKIO_STORAGE_MODE": "sqlite",
    }
)

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import Logger  # noqa: E402
from torch import nn  # noqa: E402

#: The four metrics each training step logs.
METRICS = ("train_loss", "train_acc", "train_logit_mean", "train_logit_std")


class MLP(L.LightningModule):
    def __init__(self, inputs: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = nn.functional.cross_entropy(logits, y)
        values = {
            "train_loss": loss,
            "train_acc": (logits.argmax(dim=1) == y).float().mean(),
            "train_logit_mean": logits.mean(),
            "train_logit_std": logits.std(),
        }
        self.log_dict(values, on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Clock(L.Callback):
    """The time at the start of every training batch; tells the logger's timer when the
    warm-up steps are over."""

    def __init__(self, warmup: int, steady: list[bool]) -> None:
        self.starts: list[float] = []
        self.cpu: list[float] = []  # process CPU time (all threads) at the same moments
        self.warmup = warmup
        self.steady = steady

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, index: int) -> None:
        self.starts.append(time.perf_counter())
        self.cpu.append(time.process_time())
        self.steady[0] = len(self.starts) > self.warmup

    def on_train_end(self, trainer: Any, module: Any) -> None:
        self.steady[0] = False


class TrackioLogger(Logger):
    """``trackio.log`` per logging call; ``trackio.finish()`` at the end."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        os.environ["TRACKIO_DIR"] = str(folder)
        import trackio

        self._trackio = trackio
        trackio.init(
            project="bench", name="run", embed=False, auto_log_cpu=False, auto_log_gpu=False
        )

    @property
    def name(self) -> str:
        return "trackio"

    @property
    def version(self) -> str:
        return "run"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._trackio.log(metrics, step=step)

    def finalize(self, status: str) -> None:
        self._trackio.finish()


def make_logger(kind: str, folder: Path) -> Any:
    if kind == "none":
        return False
    if kind == "ours":
        from mltracker.integrations.lightning import MLTrackerLogger

        return MLTrackerLogger("bench", uri=folder / "mltracker.db")
    if kind in ("mlflow", "mlflow-async"):
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(
            experiment_name="bench",
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
            artifact_location=(folder / "artifacts").as_uri(),
            synchronous=kind == "mlflow",
        )
    if kind == "trackio":
        return TrackioLogger(folder)
    raise SystemExit(f"unknown logger {kind!r}")


#: The methods of a logger that Lightning calls, timed in every fit.
LOGGER_METHODS = ("log_hyperparams", "log_graph", "log_metrics", "save", "finalize")


def timed(logger: Any) -> list[float]:
    """Wrap the logger's methods so that the time spent in them is added up (index 0: all of
    it; 1: during the steady state, once the clock says warm-up is over)."""
    spent = [0.0, 0.0]
    steady = [False]

    def wrap(method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                spent[0] += elapsed
                if steady[0]:
                    spent[1] += elapsed

        return call

    for name in LOGGER_METHODS:
        setattr(logger, name, wrap(getattr(logger, name)))
    logger._bench_steady = steady  # set by the clock
    return spent


def fit(kind: str, folder: Path, data: Any, steps: int, warmup: int) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    logger = make_logger(kind, folder)
    spent = timed(logger) if logger is not False else [0.0, 0.0]
    clock = Clock(warmup, getattr(logger, "_bench_steady", [False]))
    trainer = L.Trainer(
        logger=logger,
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
        default_root_dir=folder,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(MLP(), data)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    starts = clock.starts
    steady_steps = len(starts) - 1 - warmup
    steady_seconds = starts[-1] - starts[warmup]
    return {
        "logger": kind,
        "steps": len(starts),
        "fit_seconds": seconds,
        "cpu_seconds": cpu,  # every thread of the process: writer threads included
        "steps_per_second": steady_steps / steady_seconds,
        "logger_seconds": spent[0],  # inside the logger's methods, the whole fit
        "logger_us_per_step": spent[1] / steady_steps * 1e6,  # in them, per steady step
        "steady_step_us": steady_seconds / steady_steps * 1e6,
        # CPU of every thread per steady step: a logger's background writing included
        "cpu_us_per_step": (clock.cpu[-1] - clock.cpu[warmup]) / steady_steps * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loggers", default="none,ours")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kinds = args.loggers.split(",")

    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64 * 500, 32, generator=generator)
    labels = (inputs[:, :4].sum(dim=1) > 0).long()
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(inputs, labels), batch_size=64, shuffle=False
    )
    fit("none", args.workdir / "warm-up", data, min(args.steps, 300), min(args.warmup, 50))
    for round_ in range(args.rounds):
        order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]  # rotate the order
        for kind in order:
            result = fit(kind, args.workdir / f"{kind}-{round_}", data, args.steps, args.warmup)
            result["round"] = round_
            os.write(_REAL_STDOUT, (json.dumps(result) + "\n").encode())


if __name__ == "__main__":
    main()
