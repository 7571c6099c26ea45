"""The spool files of one writer: those it adopted from ended processes, then its own.

Batches are taken back from the front, oldest spool first; a batch the store refuses for good
is moved out of the way (``mltracker.spool.set_aside``) so that the batches behind it go on.
The set has its own lock, taken after the writer's (see ``mltracker.writer``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from mltracker import spool
from mltracker.ports.store import Point
from mltracker.spool import Spool
from mltracker.writer.batches import Taken
from mltracker.writer.notices import say

logger = logging.getLogger(__name__)


class SpoolSet:
    """The spool files holding points of one store that it has not taken yet, in order."""

    def __init__(self, uri: str) -> None:
        self._uri = uri
        #: The id of the store the points belong to, once the writer learnt it: files are
        #: keyed by it (by the URI before it is known).
        self.store_id: str | None = None
        self._lock = threading.Lock()
        self._spools: list[Spool] = []
        self._own: Spool | None = None
        #: Whether the files of ended processes were looked for since the last release.
        self.adopted = False

    @property
    def points(self) -> int:
        """How many points the files hold and the store has not taken."""
        return sum(each.points for each in list(self._spools))

    @property
    def files(self) -> list[str]:
        return [str(each.path) for each in list(self._spools)]

    def __bool__(self) -> bool:
        return bool(self._spools)

    def adopt_orphans(self, name: str, has_models: Callable[[set[uuid.UUID]], bool]) -> int:
        """Take over the spool files of this store that ended processes left (they go first),
        and those keyed by the URI whose models the store has (``has_models``); the number of
        points they hold."""
        self.adopted = True
        key = self.store_id or self._uri
        try:
            orphans = Spool.orphans(key)
            if key != self._uri:
                try:
                    orphans += Spool.unclaimed(self._uri, has_models)
                except BaseException:
                    for each in orphans:
                        each.release()
                    self.adopted = False
                    raise
                orphans.sort(key=lambda each: each.path.stat().st_mtime)
        except OSError as error:
            logger.warning("cannot look for spooled metric points: %s", error)
            return 0
        count = sum(each.points for each in orphans)
        if orphans:
            with self._lock:
                self._spools[:0] = orphans
            say(f"writing {count} metric points spooled by an earlier process to {name}")
        return count

    def take(self) -> Taken | None:
        """The oldest batch not yet stored, or ``None``; spools found empty are deleted."""
        with self._lock:
            while self._spools:
                first = self._spools[0]
                found = first.peek()
                if found is not None:
                    (batch_id, points), end = found
                    return Taken(points, first, end, batch_id)
                self._spools.pop(0)
                if first is self._own:
                    self._own = None
                first.remove()
            return None

    def advance(self, taken: Taken) -> None:
        """Mark ``taken``, a batch of one of these files, as done."""
        with self._lock:
            assert taken.source is not None
            taken.source.advance(taken.end, len(taken.points))

    def append(self, batches: list[tuple[uuid.UUID, list[Point]]]) -> list[int]:
        """Write batches at the end of this process's own spool file (made on first use);
        the offset after each there.

        Raises:
            OSError: The spool cannot be written; nothing was.
        """
        with self._lock:
            if self._own is None:
                self._own = Spool.create(self.store_id or self._uri, self._uri)
                self._spools.append(self._own)
            return self._own.append(batches)

    @property
    def own(self) -> Spool | None:
        return self._own

    def set_aside(self, batch_id: uuid.UUID, points: list[Point], reason: str) -> Path | None:
        """Keep a batch the store refused for good in a file of its own, out of every queue;
        the file (``None`` if even that cannot be written: the batch is then lost, and said)."""
        try:
            path = spool.set_aside(
                spool.store_key(self.store_id or self._uri), self._uri, batch_id, points, reason
            )
        except OSError as error:
            say(f"LOST {len(points)} metric points the store refused ({reason}): {error}")
            return None
        say(
            f"{len(points)} metric points were refused by the store ({reason}); they are "
            f"kept in {path}, and the points after them are written"
        )
        return path

    def release(self) -> None:
        """Let every file go, with what it holds, for the next process that writes to the
        store (this process's next write adopts them again, before anything logged later)."""
        with self._lock:
            for each in self._spools:
                each.release()
            self._spools = []
            self._own = None
            self.adopted = False

    def forget_after_fork(self) -> None:
        """In a forked child: the files are the parent's."""
        self._lock = threading.Lock()
        self._spools = []
        self._own = None
        self.adopted = False
