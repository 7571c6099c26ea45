"""The spool: metric points a store could not take yet, kept in a local file.

While a store is locked or unreachable, the metric writer keeps logged points in memory; once
``max_pending`` of them wait, it moves them to a spool file instead of blocking or raising in
the training loop. Each batch keeps the id it was given when first taken from the queue, so a
batch written to the store and then replayed (after a crash between the two) is recognised by
the store and never stored twice.

A spool file lives in ``$MLTRACKER_SPOOL_DIR`` (default ``~/.cache/mltracker/spool``), is named
after its store's id (``Store.store_id``, not its URI: another store may answer at the same
URI later, and must not get these points), and is locked by the process that writes it. When
the store takes its points again the file is replayed in order and deleted. A file left by a
process that ended before its store came back has no lock: the next process that writes to
the same store (the same id) replays it first.

The first line is a header, ``{"store": URI shown, "store_id": id, "pid": pid}``; then one
line per batch, JSON: ``{"batch": id, "points": [[model id, name, phase, step, kind,
value, extra, timestamp], ...]}``, floats as ``float.hex`` text so every value is exact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from mltracker.ports.store import Point, Series

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: spool files are not shared between processes
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "MLTRACKER_SPOOL_DIR"
_SUFFIX = ".spool"

Batch = tuple[UUID, list[Point]]


def spool_directory() -> Path:
    """Where spool files go: ``$MLTRACKER_SPOOL_DIR``, else the user's cache folder."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "mltracker" / "spool"


def store_key(store_id: str) -> str:
    """The part of a spool file's name that says which store (by its id) it belongs to."""
    return hashlib.sha256(store_id.encode()).hexdigest()[:16]


def _encode(points: Sequence[Point]) -> list[list[Any]]:
    return [
        [
            series.model_id.hex,
            series.name,
            series.phase,
            step,
            kind,
            None if value is None else float(value).hex(),
            extra,
            float(timestamp).hex(),
        ]
        for series, step, kind, value, extra, timestamp in points
    ]


def _decode(rows: list[list[Any]], known: dict[tuple[str, str, str | None], Series]) -> list[Point]:
    points: list[Point] = []
    for model_id, name, phase, step, kind, value, extra, timestamp in rows:
        series = known.get((model_id, name, phase))
        if series is None:
            series = known[(model_id, name, phase)] = Series(UUID(hex=model_id), name, phase)
        number = None if value is None else float.fromhex(value)
        points.append((series, step, kind, number, extra, float.fromhex(timestamp)))
    return points


class Spool:
    """One spool file: batches appended at the end and taken back from the front, in order."""

    def __init__(self, path: Path, file: IO[bytes], *, points: int = 0) -> None:
        self.path = path
        self._file = file
        self._read_offset = 0
        self._known: dict[tuple[str, str, str | None], Series] = {}
        #: How many points are in the file and not yet taken back.
        self.points = points

    @classmethod
    def create(cls, store_id: str, uri: str) -> Spool:
        """A new, locked spool file for this process's points of the store ``store_id``, at
        ``uri`` (which the header records for people, with the id).

        Raises:
            OSError: The spool folder cannot be created or written.
        """
        directory = spool_directory()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{store_key(store_id)}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        path = directory / name
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        file = os.fdopen(descriptor, "r+b")
        if fcntl is not None:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        header = {"store": display(uri), "store_id": store_id, "pid": os.getpid()}
        file.write(json.dumps(header).encode() + b"\n")
        spool = cls(path, file)
        spool._read_offset = file.tell()
        return spool

    @classmethod
    def orphans(cls, store_id: str) -> list[Spool]:
        """Spool files of the store ``store_id`` left by processes that ended, oldest first,
        each now locked by this process."""
        directory = spool_directory()
        if fcntl is None or not directory.is_dir():
            return []
        found: list[Spool] = []
        paths = sorted(directory.glob(f"{store_key(store_id)}-*{_SUFFIX}"), key=_modified)
        for path in paths:
            try:
                file = open(path, "r+b")  # noqa: SIM115 - kept open while the spool lives
            except OSError:
                continue
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its process is alive, or another one adopted it
                file.close()
                continue
            if os.fstat(file.fileno()).st_nlink == 0:  # replayed and deleted meanwhile
                file.close()
                continue
            spool = cls(path, file)
            spool._read_offset = len(file.readline())  # the header
            spool.points = sum(len(batch[1]) for batch in spool._batches_from(spool._read_offset))
            found.append(spool)
        return found

    @classmethod
    def unclaimed(cls, uri: str, belongs: Callable[[set[UUID]], bool]) -> list[Spool]:
        """Spool files keyed by the URI ``uri`` rather than a store's id (left by a writer
        that never reached its store, or by an MLTracker before store ids) whose points'
        models all exist in the store there (``belongs``: model ids are random, so a store
        that has them is the one the points were logged for), oldest first, locked. The
        others are left alone.

        Raises:
            MLTrackerError: ``belongs`` could not tell (nothing is kept locked).
        """
        found: list[Spool] = []
        try:
            for spool in cls.orphans(uri):
                if belongs(spool.model_ids()):
                    found.append(spool)
                else:
                    spool.release()
        except BaseException:
            for spool in found:
                spool.release()
            raise
        return found

    def model_ids(self) -> set[UUID]:
        """The models of the points not yet taken back."""
        return {
            series.model_id
            for _batch_id, points in self._batches_from(self._read_offset)
            for series, *_rest in points
        }

    def append(self, batches: Sequence[Batch]) -> list[int]:
        """Write batches at the end of the file and make them durable; return the offset
        after each.

        Raises:
            OSError: The file cannot be written (a full disk).
        """
        lines = [
            (
                json.dumps({"batch": batch_id.hex, "points": _encode(points)}, allow_nan=False)
                + "\n"
            ).encode()
            for batch_id, points in batches
        ]
        self._file.seek(0, os.SEEK_END)
        offset = self._file.tell()
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.points += sum(len(points) for _, points in batches)
        ends = []
        for line in lines:
            offset += len(line)
            ends.append(offset)
        return ends

    def peek(self) -> tuple[Batch, int] | None:
        """The oldest batch not yet taken back and the offset after it, or ``None``."""
        for batch, end in self._batches_with_ends(self._read_offset):
            return batch, end
        return None

    def advance(self, end: int, points: int) -> None:
        """Mark the batch that ends at ``end`` as stored."""
        self._read_offset = end
        self.points -= points

    def _batches_from(self, offset: int) -> Iterator[Batch]:
        for batch, _end in self._batches_with_ends(offset):
            yield batch

    def _batches_with_ends(self, offset: int) -> Iterator[tuple[Batch, int]]:
        self._file.seek(offset)
        while True:
            line = self._file.readline()
            if not line.endswith(b"\n"):  # the end, or a line torn by a crash mid-write
                return
            offset += len(line)
            record = json.loads(line)
            points = _decode(record["points"], self._known)
            yield (UUID(hex=record["batch"]), points), offset

    def remove(self) -> None:
        """Delete the file (every batch was stored) and release it."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.release()

    def release(self) -> None:
        """Close the file, keeping what it holds for a later process."""
        self._file.close()


def display(uri: str) -> str:
    """A store's URI fit for a message: a SQLite file's path, a URL without its password."""
    if uri.startswith("sqlite:///"):
        return uri[len("sqlite:///") :]
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", uri)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
