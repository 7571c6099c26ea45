"""Metrics: the series of numbers a model produces while it is trained and evaluated."""

from __future__ import annotations

import builtins
import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol
from uuid import UUID

from mltracker.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pandas
    import pyarrow


class NoPhase(enum.Enum):
    """The type of :data:`NO_PHASE`."""

    NO_PHASE = "no phase"

    def __repr__(self) -> str:
        return "NO_PHASE"


#: Pass as ``phase`` to :meth:`Metrics.list` or :meth:`Metrics.to_pandas` for the points
#: logged without a phase (``phase=None`` means "any phase"). Also ``Metrics.NO_PHASE``.
NO_PHASE: Final = NoPhase.NO_PHASE


class Metric(Protocol):
    """One logged point of a metric series."""

    @property
    def id(self) -> UUID:
        """The globally unique identifier of the metric."""

    @property
    def name(self) -> str:
        """A metric is categorized by its name, e.g. ``"loss"``."""

    @property
    def value(self) -> Any:
        """A quantitative value representing the model's performance.

        Numbers come back exactly as logged, with their Python type (``int``, ``float``,
        ``bool``; NaN, infinities and -0.0 included); other values are JSON values.
        """

    @property
    def step(self) -> int | None:
        """A step is a discrete unit of time that marks a transition between successive
        states of a machine learning model. Each metric value is associated with some stage
        of the model indexed by the step."""

    @property
    def phase(self) -> str | None:
        """The operational stage of the model when the metric was produced (e.g.
        ``"train"``, ``"validation"``). The phase helps interpret the metric in the context
        of the model's lifecycle."""

    @property
    def timestamp(self) -> float:
        """When the point was logged, in seconds since the Unix epoch."""

    @property
    def run_id(self) -> UUID | None:
        """The id of the run that logged the point (see ``model.runs``); ``None`` for a
        point of no run (stored before runs, or by a writer that predates them)."""

    @property
    def superseded(self) -> bool:
        """Whether a rewind of its run superseded it (see ``model.runs.start(...,
        rewind=)``); only a read that asks for superseded points returns such points."""


class Metrics(ABC):
    """The metrics a model owns: a live view of the store.

    Logging is buffered: :meth:`log` validates its arguments and returns at once; points
    are written in batches and are durable after ``flush()``, ``close()``, any read or
    synchronous write of the same store, a normal exit, SIGTERM/SIGINT, or at most one
    flush interval after they were logged.
    """

    NO_PHASE: Final = NO_PHASE

    @abstractmethod
    def log(
        self,
        name: str,
        value: Any,
        step: int | None = None,
        phase: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Add a metric point to the collection.

        Args:
            name: The name of the metric.
            value: A number (``int``, ``float``, ``bool``, NumPy scalar, 0-d tensor) or any
                other JSON-serialisable value.
            step: The step in which the metric was produced (int64), if any.
            phase: The phase in which the metric was produced, if any.
            timestamp: When the metric was produced, in seconds since the Unix epoch (a
                finite ``float`` or ``int``); by default, now. For points measured earlier
                or elsewhere, e.g. when replaying a log.

        Raises:
            InvalidArgumentError: A bad name, phase, step, value (``None``, a number out of
                the int64 range, something JSON cannot represent) or timestamp (not a
                number, or not finite). Nothing is logged.
        """

    def add(
        self,
        name: str,
        value: Any,
        step: int | None = None,
        phase: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        """An alias of :meth:`log`."""
        self.log(name, value, step, phase, timestamp)

    @abstractmethod
    def log_many(
        self,
        values: Mapping[str, Any],
        step: int | None = None,
        phase: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Add one point per entry of ``values`` (metric name -> value), all at the same
        step, phase and timestamp, e.g. ``log_many({"loss": 0.3, "accuracy": 0.9}, step=5)``.

        The points are logged in the mapping's order, as :meth:`log` would one by one; the
        arguments are all checked first, so a bad one logs none of them.

        Args:
            values: Metric names and their values (see :meth:`log`); may be empty.
            step: The step of every point (int64), if any.
            phase: The phase of every point, if any.
            timestamp: As in :meth:`log`; by default, now.

        Raises:
            InvalidArgumentError: ``values`` is not a mapping, or a bad name, value, step,
                phase or timestamp. Nothing is logged.
        """

    @abstractmethod
    def list(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
        after: Metric | None = None,
        limit: int | None = None,
        superseded: bool = False,
    ) -> builtins.list[Metric]:
        """Get the metrics of the collection, in the order they were logged.

        Args:
            name: Only the metrics of this name.
            phase: Only the metrics of this phase; :data:`NO_PHASE` for only the metrics
                logged without a phase; ``None`` for any phase.
            start_step: Only the metrics whose step is at least this (points without a step
                are then left out).
            stop_step: Only the metrics whose step is less than this.
            after: Only the metrics logged after this one (a point of this collection, as
                ``list`` returned it): a cursor, to read page after page
                (``list(after=page[-1], limit=1000)``) or what was logged since a last read.
            limit: At most this many metrics (the first, in logged order); the store reads
                no more than these.
            superseded: Also the points that rewinds of resumed runs superseded
                (``model.runs.start(resume=..., rewind=step)``), in their place in logged
                order, with ``superseded`` true; no other read returns them.

        Raises:
            InvalidArgumentError: A bad name, phase, step, ``after`` (not a metric),
                ``limit`` (not an int of at least 0) or ``superseded`` (not a bool).
        """

    def iterate(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
        page_size: int = 10_000,
    ) -> Iterator[Metric]:
        """The metrics :meth:`list` would return, read a page of ``page_size`` at a time:
        for series too long to hold in memory at once. Points logged while the iteration
        runs are included if they come after the page being read.

        Raises:
            InvalidArgumentError: As :meth:`list`; ``page_size`` is less than 1.
        """
        if type(page_size) is not int or page_size < 1:
            raise InvalidArgumentError(f"page_size must be an int of at least 1, not {page_size!r}")
        after: Metric | None = None
        while True:
            page = self.list(
                name,
                phase=phase,
                start_step=start_step,
                stop_step=stop_step,
                after=after,
                limit=page_size,
            )
            yield from page
            if len(page) < page_size:
                return
            after = page[-1]

    @abstractmethod
    def latest(self) -> builtins.list[Metric]:
        """The last point logged of each series (each name and phase), in logged order."""

    @abstractmethod
    def to_pandas(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
    ) -> pandas.DataFrame:
        """The points :meth:`list` would return, as a DataFrame with the columns ``name``,
        ``phase``, ``step`` (``Int64``), ``value`` and ``timestamp`` (UTC), read column-wise
        (no ``Metric`` objects are built). ``value`` has the dtype pandas gives the values:
        float64 for floats, int64 for ints, bool for bools, object for mixed kinds or JSON
        values. Needs pandas: ``pip install 'mltracker[pandas]'``; with the ``arrow`` extra
        too, the points are read in bulk by the database's Arrow driver."""

    @abstractmethod
    def to_arrow(
        self,
        name: str | None = None,
        *,
        phase: str | NoPhase | None = None,
        start_step: int | None = None,
        stop_step: int | None = None,
    ) -> pyarrow.Table:
        """The points :meth:`list` would return, as an Arrow table read without a Python
        object per point, with the columns of the Parquet export: ``name``, ``phase``,
        ``step`` (int64), ``kind`` (float, int, bool, str or json), ``value`` (float64; null
        for str and json values), ``value_text`` (the exact text where the float cannot
        hold the value: str, json, ints beyond 2**53) and ``timestamp`` (UTC, microseconds).
        Needs ``pip install 'mltracker[arrow]'``.

        Raises:
            MLTrackerError: The ``arrow`` extra is not installed (the message says how).
        """

    @abstractmethod
    def remove(self, metric: Metric) -> None:
        """Remove the given metric from the collection.

        Raises:
            NotFoundError: The metric is not in this collection.
        """

    @abstractmethod
    def clear(self) -> None:
        """Remove all metrics from the collection."""
