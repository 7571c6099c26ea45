"""A Hugging Face Trainer run tracked by MLTracker: a tiny BERT classifier on synthetic tokens.

    python examples/transformers_bert.py              # logs to ./mltracker.db
    python examples/transformers_bert.py --epochs 1 --uri runs.db
    mltracker experiments show examples-transformers

The model is built from a small ``BertConfig``: nothing is downloaded. The two lines that
track the run are marked below (or, after ``import mltracker.integrations.transformers``,
``TrainingArguments(..., report_to="mltracker")`` with ``$MLTRACKER_EXPERIMENT``). Each
``train()`` is a run of the model (``tracker.run``).
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from mltracker.integrations.transformers import MLTrackerCallback  # 1. import the callback


class Parity(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Token sequences labelled by whether token 7 occurs in them."""

    def __init__(self, samples: int, seed: int, vocabulary: int = 32, length: int = 12) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.tokens = torch.randint(1, vocabulary, (samples, length), generator=generator)
        self.labels = (self.tokens == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokens[index], "labels": self.labels[index]}


def main(argv: list[str] | None = None) -> MLTrackerCallback:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument(
        "--uri", default=None, help="the store (default: $MLTRACKER_URI, else ./mltracker.db)"
    )
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32,
        hidden_size=args.hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * args.hidden,
        max_position_embeddings=16,
        num_labels=2,
    )
    tracker = MLTrackerCallback("examples-transformers", uri=args.uri)
    with tempfile.TemporaryDirectory() as output:
        trainer = Trainer(
            model=BertForSequenceClassification(config),
            args=TrainingArguments(
                output_dir=output,
                num_train_epochs=args.epochs,
                per_device_train_batch_size=32,
                learning_rate=1e-3,
                logging_steps=4,
                eval_strategy="epoch",
                save_strategy="no",
                report_to="none",
                use_cpu=True,
                disable_tqdm=True,
            ),
            train_dataset=Parity(args.samples, seed=0),
            eval_dataset=Parity(max(args.samples // 4, 8), seed=1),
            callbacks=[tracker],  # 2. give it to the Trainer
        )
        trainer.train()
    model, run = tracker.model, tracker.run
    assert model is not None and run is not None
    print(f"model {model.hash} ({model.name}): step {model.step}, run {run.id}")
    return tracker


if __name__ == "__main__":
    main()
