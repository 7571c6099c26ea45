"""Tiny models and data for the integration tests (importable from a subprocess too:
``python -c "from tests.integrations.nets import ..."`` from the repository's root)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def mlp(hidden: int = 8, activation: type[nn.Module] = nn.ReLU, dropout: float = 0.1) -> nn.Module:
    """A two-layer MLP for 4 inputs and 2 classes."""
    return nn.Sequential(
        nn.Linear(4, hidden),
        activation(),
        nn.Dropout(dropout),
        nn.LayerNorm(hidden),
        nn.Linear(hidden, 2),
    )


def blobs(samples: int = 32, seed: int = 0) -> torch.utils.data.TensorDataset:
    """Points in 4 dimensions, labelled by the sign of their first coordinate."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(samples, 4, generator=generator)
    return torch.utils.data.TensorDataset(inputs, (inputs[:, 0] > 0).long())


def tiny_bert(hidden: int = 16) -> Any:
    """A BERT classifier built from a tiny config (nothing is downloaded)."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=32,
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=16,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


class Tokens(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Token sequences labelled by whether token 7 occurs in them."""

    def __init__(self, samples: int = 32, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.tokens = torch.randint(1, 32, (samples, 8), generator=generator)
        self.labels = (self.tokens == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokens[index], "labels": self.labels[index]}
