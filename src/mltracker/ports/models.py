"""Models: what an experiment trains, each known by a hash unique in its experiment."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Protocol
from uuid import UUID

from mltracker.ports.iterations import Iterations
from mltracker.ports.metrics import Metrics
from mltracker.ports.modules import Modules

if TYPE_CHECKING:
    from mltracker.run_views import RunsView


class Model(Protocol):
    """A model of an experiment, with its metrics, modules and iterations."""

    @property
    def id(self) -> UUID:
        """A globally unique identifier for the model that can be used for referencing the
        model outside the experiment namespace."""

    @property
    def hash(self) -> str:
        """A hash is a fixed length value that uniquely represents information. It acts as
        a locally unique identifier for a model under an experiment namespace."""

    @property
    def name(self) -> str | None:
        """A human readable, non unique identifier for a model type."""

    @property
    def description(self) -> str | None:
        """A brief textual explanation that provides additional context or details about
        the model: its purpose, configuration, architecture, or any other relevant metadata
        that helps describe its role within an experiment."""

    @property
    def created_at(self) -> float:
        """When the model was created, in seconds since the Unix epoch."""

    @property
    def step(self) -> int:
        """A step is a unit of time that marks a transition between successive states of
        the model: the number of steps the model has been iterated.

        It starts at 0, is read from the store, and assigning it persists it at once.
        ``model.step += k`` (or ``-= k``, or ``model.step = model.step + k``) is an atomic
        increment of the stored step, so concurrent increments of threads and processes all
        count; any other ``int`` assigned is stored as is (the last assignment wins).

        The value read is an ``int`` subclass that remembers its read: one assignment of a
        value derived from it by adding or subtracting an ``int`` is written as an
        increment; a second one derived from the same read is stored as is.

        Raises:
            InvalidArgumentError: On assignment, a value that is not an int64, or an
                increment that would take the stored step out of the int64 range.
            NotFoundError: The model was deleted.
        """

    @step.setter
    def step(self, value: int) -> None: ...

    @property
    def metrics(self) -> Metrics:
        """Each model owns a collection of metrics."""

    @property
    def modules(self) -> Modules:
        """A model is an aggregate of modules."""

    @property
    def iterations(self) -> Iterations:
        """Each model owns a collection of iterations that represents discrete steps in the
        model's training or evaluation process, typically corresponding to one epoch."""

    @property
    def runs(self) -> RunsView:
        """The model's runs (each training process is one), and this process's current
        one."""


class Models(ABC):
    """The models an experiment owns: a live view of the store."""

    @abstractmethod
    def create(self, hash: str, name: str | None = None, description: str | None = None) -> Model:
        """Create a record of a model and return the entity representing it.

        Args:
            hash: A locally unique identifier for the model.
            name: The name of the model.
            description: A description of the model.

        Raises:
            AlreadyExistsError: A model with this hash exists in the experiment.
            InvalidArgumentError: A bad hash, name or description.
        """

    @abstractmethod
    def get_or_create(
        self, hash: str, name: str | None = None, description: str | None = None
    ) -> Model:
        """The model with the given hash, created with this name and description if absent.

        Safe when many threads or processes call it at once: they all get the same model.
        A model that exists is returned as it is: ``name`` and ``description`` are not
        applied to it (use :meth:`update` for that).

        Raises:
            InvalidArgumentError: A bad hash, name or description.
            NotFoundError: The experiment was deleted.
        """

    @abstractmethod
    def read(self, hash: str) -> Model | None:
        """The model with the given hash, if any."""

    @abstractmethod
    def update(
        self,
        hash: str,
        name: str | None = None,
        description: str | None = None,
        *,
        clear: Iterable[Literal["name", "description"]] = (),
    ) -> None:
        """Update the name and/or the description of the model with the given hash.

        An argument left as ``None`` keeps its stored value; to remove a name or a
        description (store ``None``), name it in ``clear``:
        ``models.update(hash, clear=["description"])``.

        Args:
            hash: The hash of the model.
            name: A new name.
            description: A new description (may be empty).
            clear: The fields to set to ``None``: ``"name"``, ``"description"`` or both.
                A single field may be given as a plain string.

        Raises:
            NotFoundError: No model has this hash in the experiment.
            InvalidArgumentError: A bad hash, name or description; an unknown field in
                ``clear``, or a field both given and cleared.
        """

    @abstractmethod
    def delete(self, id: UUID) -> None:
        """Delete the model with the given id and everything it owns, in one transaction.

        Raises:
            NotFoundError: No model of this experiment has this id.
        """

    @abstractmethod
    def list(self) -> builtins.list[Model]:
        """The models of the experiment, in the order they were created."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every model of the experiment and everything they own."""
