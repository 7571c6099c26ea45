"""From a trainer's metric key (``train_loss``, ``val/acc``, ``test_acc``) to a name and a phase.

Trainers put the phase into the key; MLTracker keeps it apart, so that ``loss`` in ``train``
and in ``validation`` are two lines of one chart. :func:`split_phase` reads the phase from
a prefix ended by ``/``, ``_``, ``.`` or ``-`` (``val/acc``, ``train_loss``), else from a
suffix after the last ``/`` (``loss/val``). The words it knows are those of
:data:`DEFAULT_PHASES`; a key without one has no phase (``epoch``, ``lr-Adam``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: Prefix (lower case) -> phase. One vocabulary for every integration: ``train``,
#: ``validation`` and ``test`` (Hugging Face's ``eval_`` is the validation set's).
DEFAULT_PHASES: Final[Mapping[str, str]] = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "eval": "validation",
    "test": "test",
    "testing": "test",
}

_SEPARATORS: Final = "/_.-"


def split_phase(key: str, phases: Mapping[str, str] = DEFAULT_PHASES) -> tuple[str, str | None]:
    """The metric name and the phase of a trainer's key.

    >>> split_phase("train_loss"), split_phase("val/acc"), split_phase("loss/test")
    (('loss', 'train'), ('acc', 'validation'), ('loss', 'test'))
    >>> split_phase("epoch"), split_phase("val")
    (('epoch', None), ('val', None))

    Args:
        key: The key as the trainer logs it.
        phases: Prefix (lower case) -> phase; a key whose prefix is not in it has no phase.
    """
    for index, character in enumerate(key):
        if character in _SEPARATORS:
            phase = phases.get(key[:index].lower())
            if phase is not None and index + 1 < len(key):
                return key[index + 1 :], phase
            break
    head, slash, tail = key.rpartition("/")
    if slash and head:
        phase = phases.get(tail.lower())
        if phase is not None:
            return head, phase
    return key, None
