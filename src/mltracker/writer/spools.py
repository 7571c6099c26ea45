"""The spool files of one writer: those it adopted from ended processes, then its own.

Entries (batches of points, operations) are taken back from the front, oldest spool first;
an entry the store refuses for good is moved out of the way (``mltracker.spool.set_aside``)
so that the entries behind it go on.
The set has its own lock, taken after the writer's (see ``mltracker.writer``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from mltracker import spool
from mltracker.operations import Entry, IdMap, Operation, entry_size
from mltracker.spool import Spool
from mltracker.writer.batches import Taken
from mltracker.writer.notices import say, what

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
    def operations(self) -> int:
        """How many operations the files hold and the store has not taken."""
        return sum(each.operations for each in list(self._spools))

    @property
    def files(self) -> list[str]:
        return [str(each.path) for each in list(self._spools)]

    def __bool__(self) -> bool:
        return bool(self._spools)

    def adopt_orphans(
        self, name: str, has_models: Callable[[set[uuid.UUID]], bool]
    ) -> tuple[int, int]:
        """Take over the spool files of this store that ended processes left (they go first),
        and those keyed by the URI whose models the store has (``has_models``, given the
        models they write to and do not create); how many points and operations they hold."""
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
            return 0, 0
        points = sum(each.points for each in orphans)
        operations = sum(each.operations for each in orphans)
        if orphans:
            with self._lock:
                self._spools[:0] = orphans
            say(f"writing {what(points, operations)} spooled by an earlier process to {name}")
        return points, operations

    def take(self) -> Taken | None:
        """The oldest entry not yet stored, or ``None``; spools found empty are deleted."""
        with self._lock:
            while self._spools:
                first = self._spools[0]
                found = first.peek()
                if found is not None:
                    (entry_id, entry), end = found
                    return Taken.of(entry, first, end, entry_id)
                self._spools.pop(0)
                if first is self._own:
                    self._own = None
                first.remove()
            return None

    def advance(self, taken: Taken) -> None:
        """Mark ``taken``, an entry of one of these files, as done."""
        with self._lock:
            assert taken.source is not None
            taken.source.advance(taken.end, *entry_size(taken.entry))

    def append(self, batches: list[tuple[uuid.UUID, Entry]], ids: IdMap) -> list[int]:
        """Write entries at the end of this process's own spool file (made on first use),
        the ids they refer to mapped by ``ids``; the offset after each there.

        Raises:
            OSError: The spool cannot be written; nothing was.
        """
        with self._lock:
            if self._own is None:
                self._own = Spool.create(self.store_id or self._uri, self._uri)
                self._spools.append(self._own)
            return self._own.append(batches, ids)

    @property
    def own(self) -> Spool | None:
        return self._own

    def set_aside(self, entry_id: uuid.UUID, entry: Entry, reason: str) -> Path | None:
        """Keep an entry the store refused for good in a file of its own, out of every queue;
        the file (``None`` if even that cannot be written: the entry is then lost, and said)."""
        if isinstance(entry, Operation):
            lost, refused = f"the write of {entry.describe()}", "it was refused"
            kept = "it is kept"
        else:
            lost, refused = f"{len(entry)} metric points", "they were refused"
            kept = "they are kept"
        try:
            path = spool.set_aside(
                spool.store_key(self.store_id or self._uri), self._uri, entry_id, entry, reason
            )
        except OSError as error:
            say(f"LOST {lost} the store refused ({reason}): {error}")
            return None
        say(
            f"{lost}: {refused} by the store ({reason}); {kept} in {path}, and what was "
            "written after goes on"
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
