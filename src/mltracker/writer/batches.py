"""Entries of the writer's log: batches of metric points, cut from the queue and split when
refused, and operations (``mltracker.operations``), each an entry of its own.

A batch is cut by count (``batch_size``) and by an estimate of its encoded size
(``max_batch_bytes``), so that a batch of long text or JSON values never outgrows what a
server takes in one request. A batch that a store refuses as too large (or as invalid) is
split in halves until the culprits are single points; those are set aside, the others stored.

A batch keeps its id until it is stored, so that a retry after a lost acknowledgement is
recognised by the store and never duplicates. The halves of a batch get ids derived from
it (:func:`half_ids`): a batch replayed from a spool after a crash is split the same way and
its halves keep the ids they had. A half is sent with the ids of the batches it was split
from (``Part.part_of``): a refusal as too large may follow an attempt that was stored but
whose answer was lost, and the store then skips the halves instead of storing them again.

The queue holds points (plain tuples) and operations in the order they were made; a batch of
points never reaches past an operation, so the store gets everything in that order.
"""

from __future__ import annotations

import uuid
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from mltracker.operations import Entry, Operation
from mltracker.ports.store import Point

if TYPE_CHECKING:
    from mltracker.spool import Spool

#: What a point costs in a request besides its text: names, numbers, separators.
POINT_OVERHEAD_BYTES = 160
#: The estimated encoded size at which a batch is cut: well below a server's default body
#: limit, large enough that a batch of plain floats is cut by count first.
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024

_extra = itemgetter(4)


class Taken:
    """An entry taken from the queue or a spool, with the id it keeps until it is stored: a
    batch of points, or one operation (``points`` is then empty)."""

    __slots__ = ("end", "id", "operation", "parts", "points", "source")

    def __init__(
        self,
        points: list[Point],
        source: Spool | None = None,
        end: int = 0,
        batch_id: uuid.UUID | None = None,
        operation: Operation | None = None,
    ) -> None:
        if operation is not None:
            batch_id = operation.id
        self.id = batch_id if batch_id is not None else uuid.uuid4()
        self.points = points
        self.operation = operation
        #: The spool the entry is in (if any) and the offset after it there.
        self.source = source
        self.end = end
        #: When the store refused the batch whole: its parts still to write, in order.
        self.parts: deque[Part] | None = None

    @classmethod
    def of(
        cls,
        entry: Entry,
        source: Spool | None = None,
        end: int = 0,
        entry_id: uuid.UUID | None = None,
    ) -> Taken:
        """An entry as taken: points (with ``entry_id``, else a new id) or an operation."""
        if isinstance(entry, Operation):
            return cls([], source, end, operation=entry)
        return cls(entry, source, end, entry_id)

    @property
    def entry(self) -> Entry:
        """The batch of points, or the operation."""
        return self.operation if self.operation is not None else self.points

    def next_part(self) -> Part:
        """What to write next: the batch, or its first part not yet stored."""
        if self.parts:
            return self.parts[0]
        return Part(self.id, self.points, ())

    def part_done(self) -> bool:
        """The part just written was stored; whether the whole batch now is."""
        if self.parts:
            self.parts.popleft()
            return not self.parts
        return True

    def split_part(self) -> bool:
        """Replace the part being written by its two halves; ``False`` for a single point."""
        part = self.next_part()
        points = part.points
        if len(points) < 2:
            return False
        middle = len(points) // 2
        first, second = half_ids(part.id)
        part_of = (*part.part_of, part.id)
        if self.parts is None:
            self.parts = deque()
        else:
            self.parts.popleft()
        self.parts.extendleft(
            [Part(second, points[middle:], part_of), Part(first, points[:middle], part_of)]
        )
        return True


class Part(NamedTuple):
    """A batch, or a part of one split from it, to write under its own id."""

    id: uuid.UUID
    points: list[Point]
    #: The ids of the batches it was split from, the whole batch first.
    part_of: tuple[uuid.UUID, ...]


def half_ids(batch_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids of the two halves of a batch, the same for every process that splits it."""
    return uuid.uuid5(batch_id, "first half"), uuid.uuid5(batch_id, "second half")


def estimated_bytes(points: list[Point]) -> int:
    """About how many bytes ``points`` take encoded: at least their text, twice over for
    escapes, plus a fixed cost a point."""
    texts = sum(map(len, filter(None, map(_extra, points))))
    return 2 * texts + POINT_OVERHEAD_BYTES * len(points)


def take_from(queue: deque[Point], count: int, max_bytes: int) -> list[Point]:
    """Pop the oldest points of ``queue`` (which holds points only): at most ``count``, cut
    so that their estimated size stays within ``max_bytes`` (always at least one point)."""
    popleft = queue.popleft
    points = [popleft() for _ in range(min(len(queue), count))]
    return _within(queue, points, max_bytes)


def take_entry(queue: deque[Point | Operation], count: int, max_bytes: int) -> Entry:
    """Pop the oldest entry of ``queue`` (not empty; points and operations): an operation,
    or the points before the next operation, as :func:`take_from` cuts them."""
    if type(queue[0]) is not tuple:
        operation = queue.popleft()
        assert isinstance(operation, Operation)
        return operation
    points: list[Point] = []
    append, popleft = points.append, queue.popleft
    while queue and len(points) < count and type(queue[0]) is tuple:
        append(popleft())  # type: ignore[arg-type]
    return _within(queue, points, max_bytes)  # type: ignore[arg-type]


def _within(queue: deque[Point], points: list[Point], max_bytes: int) -> list[Point]:
    """The first of ``points`` that fit in ``max_bytes`` (at least one); the others go back
    to the front of ``queue``."""
    if len(points) < 2 or estimated_bytes(points) <= max_bytes:
        return points
    size = 0
    for index, point in enumerate(points):
        extra = point[4]
        size += POINT_OVERHEAD_BYTES + (2 * len(extra) if extra else 0)
        if size > max_bytes and index > 0:
            queue.extendleft(reversed(points[index:]))
            return points[:index]
    return points


def entries_of(
    items: list[Point | Operation], count: int, max_bytes: int
) -> list[tuple[uuid.UUID, Entry]]:
    """Queued ``items`` as entries with their ids: each operation alone (with its own id),
    the points between them in batches of at most ``count`` points and about ``max_bytes``
    bytes (each with a new id)."""
    entries: list[tuple[uuid.UUID, Entry]] = []
    run: list[Point] = []
    for item in items:
        if type(item) is tuple:
            run.append(item)
            continue
        entries.extend(_batches_of(run, count, max_bytes))
        run = []
        assert isinstance(item, Operation)
        entries.append((item.id, item))
    entries.extend(_batches_of(run, count, max_bytes))
    return entries


def _batches_of(points: list[Point], count: int, max_bytes: int) -> list[tuple[uuid.UUID, Entry]]:
    batches: list[tuple[uuid.UUID, Entry]] = []
    start = 0
    while start < len(points):
        end = min(len(points), start + count)
        while end - start > 1 and estimated_bytes(points[start:end]) > max_bytes:
            end = start + (end - start) // 2
        batches.append((uuid.uuid4(), points[start:end]))
        start = end
    return batches
