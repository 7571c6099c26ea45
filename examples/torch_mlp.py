"""A plain PyTorch training loop tracked by MLTracker: an MLP on two synthetic spirals.

    python examples/torch_mlp.py                      # logs to ./mltracker.db
    python examples/torch_mlp.py --epochs 2 --uri runs.db
    mltracker experiments show examples-torch

Run it again: the model is found by its hash, and the run (``track`` starts one) goes on
from its steps. Change ``--hidden`` and it is another model.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import mltracker
from mltracker.integrations.torch import log_metrics, log_optimizer, track


def spirals(samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals with some noise: points (x, y) and their class (0 or 1)."""
    labels = torch.arange(samples) % 2
    turns = torch.rand(samples, generator=generator) * 2.5 * math.pi + 0.5
    angle = turns + labels * math.pi
    points = torch.stack([turns * torch.cos(angle), turns * torch.sin(angle)], dim=1) / 8
    return points + 0.02 * torch.randn(samples, 2, generator=generator), labels


def main(argv: list[str] | None = None) -> mltracker.Model:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument(
        "--uri", default=None, help="the store (default: $MLTRACKER_URI, else ./mltracker.db)"
    )
    args = parser.parse_args(argv)

    generator = torch.Generator().manual_seed(0)
    inputs, labels = spirals(args.samples, generator)
    split = args.samples * 4 // 5
    train = torch.utils.data.TensorDataset(inputs[:split], labels[:split])
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True, generator=generator)

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(2, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, 2),
    )
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)

    experiment = mltracker.get_experiment("examples-torch", args.uri)
    # Found by its hash, else created with its modules; a new run of it, with its settings.
    model = track(experiment, net, params={"lr": 0.1, "momentum": 0.9, "hidden": args.hidden})
    step = model.step  # a rerun goes on from here
    for _ in range(args.epochs):
        log_optimizer(model, optimizer, step, scheduler=scheduler)
        net.train()
        for x, y in loader:
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            accuracy = (logits.argmax(dim=1) == y).float().mean()
            log_metrics(model, {"loss": loss, "accuracy": accuracy}, step=step, phase="train")
        net.eval()
        with torch.no_grad():
            logits = net(inputs[split:])
            loss = nn.functional.cross_entropy(logits, labels[split:])
            accuracy = (logits.argmax(dim=1) == labels[split:]).float().mean()
        log_metrics(model, {"loss": loss, "accuracy": accuracy}, step=step, phase="validation")
        scheduler.step()
        model.step = step  # once an epoch: one round trip to the store
    print(
        f"model {model.hash} ({model.name}): step {model.step}, run {model.runs.current.id}, "
        f"validation accuracy {float(accuracy):.3f}"
    )
    return model


if __name__ == "__main__":
    main()
