"""``split_phase``: from a trainer's metric key to a name and a phase."""

from __future__ import annotations

import pytest

from mltracker.integrations.phases import DEFAULT_PHASES, split_phase


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("train_loss", ("loss", "train"), id="underscore"),
        pytest.param("val/acc", ("acc", "validation"), id="slash"),
        pytest.param("test_acc", ("acc", "test"), id="test"),
        pytest.param("eval_loss", ("loss", "validation"), id="eval"),
        pytest.param("valid.f1", ("f1", "validation"), id="dot"),
        pytest.param("Train-loss", ("loss", "train"), id="case-and-dash"),
        pytest.param("train_loss_step", ("loss_step", "train"), id="rest-kept"),
        pytest.param("val_loss/dataloader_idx_0", ("loss/dataloader_idx_0", "validation")),
        pytest.param("loss/val", ("loss", "validation"), id="suffix"),
        pytest.param("accuracy/top1/test", ("accuracy/top1", "test"), id="long-suffix"),
        pytest.param("epoch", ("epoch", None), id="no-phase"),
        pytest.param("lr-Adam", ("lr-Adam", None), id="other-prefix"),
        pytest.param("train", ("train", None), id="prefix-alone"),
        pytest.param("train_", ("train_", None), id="nothing-after"),
        pytest.param("trainer_steps", ("trainer_steps", None), id="longer-word"),
        pytest.param("/val", ("/val", None), id="empty-name"),
    ],
)
def test_split_phase(key: str, expected: tuple[str, str | None]) -> None:
    assert split_phase(key) == expected


def test_split_phase_with_other_words() -> None:
    phases = {**DEFAULT_PHASES, "eval": "eval", "dev": "validation"}
    assert split_phase("eval_loss", phases) == ("loss", "eval")
    assert split_phase("dev_acc", phases) == ("acc", "validation")
