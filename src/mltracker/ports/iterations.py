"""Iterations: the steps of a model's training that own modules of their own."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import Protocol
from uuid import UUID

from mltracker.ports.modules import Modules


class Iteration(Protocol):
    """An iteration represents a single step or cycle in the training or evaluation of a
    model. It typically corresponds to one pass through the training dataset (an epoch) or
    a defined unit of model progression.

    Iterations can own modules that are associated with the training or evaluation process
    itself rather than the model's core architecture, e.g. the optimizer at that step.
    """

    @property
    def id(self) -> UUID:
        """The globally unique identifier of the iteration."""

    @property
    def step(self) -> int:
        """The step of this iteration: usually the number of passes completed over the
        dataset."""

    @property
    def modules(self) -> Modules:
        """The modules of the iteration, related to its training or evaluation process."""

    @property
    def created_at(self) -> float | None:
        """When the iteration was created, in seconds since the Unix epoch (``None`` for
        an iteration stored before MLTracker recorded it: schema version 3)."""


class Iterations(ABC):
    """The iterations within the lifecycle of a model: a live view of the store."""

    @abstractmethod
    def create(self, step: int) -> Iteration:
        """Record an iteration at ``step`` and return it.

        Several iterations may share a step; :meth:`get` returns the first one created.

        Raises:
            InvalidArgumentError: ``step`` is not an int64.
        """

    @abstractmethod
    def get(self, step: int) -> Iteration | None:
        """The first iteration created at ``step``, if any."""

    @abstractmethod
    def list(self) -> builtins.list[Iteration]:
        """All iterations of the collection, in the order they were created."""

    @abstractmethod
    def remove(self, iteration: Iteration) -> None:
        """Remove an iteration and its modules.

        Raises:
            NotFoundError: The iteration is not in this collection.
        """

    @abstractmethod
    def clear(self) -> None:
        """Remove all iterations of the collection and their modules."""
