"""Modules: the parts a model (or an iteration) is made of, with their settings."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Protocol
from uuid import UUID


class Module(Protocol):
    """A named part of a model, e.g. a layer, a loss function or an optimizer."""

    @property
    def id(self) -> UUID:
        """The globally unique identifier of the module."""

    @property
    def name(self) -> str:
        """A non unique identifier for a module owned by a model."""

    @property
    def attributes(self) -> dict[str, Any]:
        """The module's attributes: metadata or configuration details relevant to the module.

        Keys are strings; values are JSON values, nested freely, returned exactly as logged.
        """

    @property
    def created_at(self) -> float | None:
        """When the module was logged, in seconds since the Unix epoch (``None`` for a
        module stored before MLTracker recorded it: schema version 3)."""


class Modules(ABC):
    """The modules a model or an iteration owns: a live view of the store.

    A model is an aggregate of modules.
    """

    @abstractmethod
    def log(self, name: str, attributes: dict[str, Any] | None = None) -> Module:
        """Add a module to the collection and return it.

        Args:
            name: The name of the module.
            attributes: Relevant attributes of the module (``None`` means ``{}``).

        Raises:
            InvalidArgumentError: A bad name, or attributes that are not a ``dict`` of
                JSON values (tuples and sets are refused: they would not come back as they
                went in).
        """

    def add(self, name: str, attributes: dict[str, Any] | None = None) -> Module:
        """An alias of :meth:`log`."""
        return self.log(name, attributes)

    @abstractmethod
    def log_if_empty(
        self, modules: Iterable[tuple[str, dict[str, Any] | None]]
    ) -> builtins.list[Module] | None:
        """Add these modules, in order, unless the collection holds a module already: e.g.
        the modules of a model's architecture, logged by the first run that trains it.

        The store decides, in the place of this call among the writes of the process, so
        the call is a write of a training loop like :meth:`log`: while the store is away it
        is queued (then spooled) and decided when the store takes it, and a repeat of it
        (a retry, a replay) adds nothing twice.

        Args:
            modules: ``(name, attributes)`` of each module.

        Returns:
            The modules added (none if the collection held one), or ``None`` if the store
            has not decided yet (the call is queued).

        Raises:
            InvalidArgumentError: A bad name or attributes (as for :meth:`log`); nothing is
                added.
        """

    @abstractmethod
    def log_if_changed(
        self, name: str, attributes: dict[str, Any] | None = None
    ) -> builtins.list[Module] | None:
        """Add a module unless the last module of this name in the collection has these
        attributes: e.g. settings that are logged again only when they changed. Decided
        by the store in the place of this call among the writes of the process, as
        :meth:`log_if_empty` is.

        Returns:
            The module added in a list (empty if it was not needed), or ``None`` if the
            store has not decided yet (the call is queued).

        Raises:
            InvalidArgumentError: A bad name or attributes (as for :meth:`log`).
        """

    @abstractmethod
    def list(self) -> builtins.list[Module]:
        """The modules of the collection, in the order they were logged."""

    @abstractmethod
    def remove(self, module: Module) -> None:
        """Remove a module from the collection.

        Raises:
            NotFoundError: The module is not in this collection.
        """

    @abstractmethod
    def clear(self) -> None:
        """Remove all modules from the collection."""
