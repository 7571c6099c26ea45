"""Batches of metric points: how they are cut from the queue, and split when refused.

A batch is cut by count (``batch_size``) and by an estimate of its encoded size
(``max_batch_bytes``), so that a batch of long text or JSON values never outgrows what a
server takes in one request. A batch that a store refuses as too large (or as invalid) is
split in halves until the culprits are single points; those are set aside, the others stored.

A batch keeps its id until it is stored, so that a retry after a lost acknowledgement is
recognised by the store and never duplicates. The halves of a batch get ids derived from
it (:func:`half_ids`): a batch replayed from a spool after a crash is split the same way and
its halves keep the ids they had.
"""

from __future__ import annotations

import uuid
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING

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
    """A batch taken from the queue or a spool, with the id it keeps until it is stored."""

    __slots__ = ("end", "id", "parts", "points", "source")

    def __init__(
        self,
        points: list[Point],
        source: Spool | None = None,
        end: int = 0,
        batch_id: uuid.UUID | None = None,
    ) -> None:
        self.id = batch_id if batch_id is not None else uuid.uuid4()
        self.points = points
        #: The spool the batch is in (if any) and the offset after it there.
        self.source = source
        self.end = end
        #: When the store refused the batch whole: its parts still to write, in order.
        self.parts: deque[tuple[uuid.UUID, list[Point]]] | None = None

    def next_part(self) -> tuple[uuid.UUID, list[Point]]:
        """The id and points to write next: the batch, or its first part not yet stored."""
        if self.parts:
            return self.parts[0]
        return self.id, self.points

    def part_done(self) -> bool:
        """The part just written was stored; whether the whole batch now is."""
        if self.parts:
            self.parts.popleft()
            return not self.parts
        return True

    def split_part(self) -> bool:
        """Replace the part being written by its two halves; ``False`` for a single point."""
        part_id, points = self.next_part()
        if len(points) < 2:
            return False
        middle = len(points) // 2
        first, second = half_ids(part_id)
        if self.parts is None:
            self.parts = deque()
        else:
            self.parts.popleft()
        self.parts.extendleft([(second, points[middle:]), (first, points[:middle])])
        return True


def half_ids(batch_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids of the two halves of a batch, the same for every process that splits it."""
    return uuid.uuid5(batch_id, "first half"), uuid.uuid5(batch_id, "second half")


def estimated_bytes(points: list[Point]) -> int:
    """About how many bytes ``points`` take encoded: at least their text, twice over for
    escapes, plus a fixed cost a point."""
    texts = sum(map(len, filter(None, map(_extra, points))))
    return 2 * texts + POINT_OVERHEAD_BYTES * len(points)


def take_from(queue: deque[Point], count: int, max_bytes: int) -> list[Point]:
    """Pop the oldest points of ``queue``: at most ``count``, cut so that their estimated
    size stays within ``max_bytes`` (always at least one point)."""
    popleft = queue.popleft
    points = [popleft() for _ in range(min(len(queue), count))]
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
