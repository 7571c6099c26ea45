"""Experiments: namespaces that group models under a unique name."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import Protocol
from uuid import UUID

from mltracker.ports.models import Models


class Experiment(Protocol):
    """A namespace for organizing machine learning models with scoped uniqueness.

    An experiment groups related models while ensuring model hashes remain unique within
    its namespace. It has a globally unique id and a human-readable, unique name.
    """

    @property
    def id(self) -> UUID:
        """Globally unique immutable identifier for the experiment."""

    @property
    def name(self) -> str:
        """Human-readable identifier, unique in the store."""

    @property
    def created_at(self) -> float:
        """When the experiment was created, in seconds since the Unix epoch."""

    @property
    def models(self) -> Models:
        """The collection of models owned by the experiment."""


class Experiments(ABC):
    """The experiments of a store: a live view of it.

    Reach it through :func:`mltracker.get_all_experiments` or ``connect(uri).experiments``.
    """

    @abstractmethod
    def create(self, name: str) -> Experiment:
        """Create an experiment with the given name and return it.

        Raises:
            AlreadyExistsError: An experiment of this name exists.
            InvalidArgumentError: A bad name.
        """

    @abstractmethod
    def get_or_create(self, name: str) -> Experiment:
        """The experiment with the given name, created if absent. Safe when many processes
        call it at once: they all get the same experiment.

        Raises:
            InvalidArgumentError: A bad name.
        """

    @abstractmethod
    def read(self, name: str) -> Experiment | None:
        """The experiment with the given name, if any."""

    @abstractmethod
    def update(self, id: UUID, name: str) -> None:
        """Rename an experiment.

        Raises:
            NotFoundError: No experiment has this id.
            AlreadyExistsError: Another experiment has this name.
        """

    @abstractmethod
    def delete(self, id: UUID) -> None:
        """Delete the experiment with the given id and everything it owns, in one transaction.

        Raises:
            NotFoundError: No experiment has this id.
        """

    @abstractmethod
    def list(self) -> builtins.list[Experiment]:
        """The experiments of the store, in the order they were created."""
