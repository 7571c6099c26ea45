"""The spool: what a store could not take yet, kept in a local file.

While a store is locked or unreachable, the metric writer keeps logged points, and the other
writes of a training loop (``mltracker.operations``), in memory; once ``max_pending`` of them
wait, or the process ends, it moves them to a spool file instead of blocking or raising in
the training loop. Each entry keeps the id it was given when it was queued (a batch its id
when first taken from the queue), so an entry written to the store and then replayed (after
a crash between the two) is recognised by the store and never applied twice.

A spool file lives in ``$MLTRACKER_SPOOL_DIR`` (default ``~/.cache/mltracker/spool``), is named
after its store's id (``<key>-<pid>-<random>.spool``, the key from ``Store.store_id``, not
its URI: another store may answer at the same URI later, and must not get these points), and
is locked by the process that writes it. When the store takes its points again the file is
replayed in order and deleted. A file left by a process that ended before its store came back
has no lock: the next process that writes to the same store (the same id) replays it first.

A header line ``{"store": URI shown, "store_id": id, "pid": pid}``, then one line per entry,
in the order they were queued, JSON: a batch of points ``{"batch": id, "points": [[model id,
name, phase, step, kind, value, extra, timestamp], ...]}``, floats as ``float.hex`` text so
every value is exact, or one operation ``{"batch": id, "op": kind, "args": {...}}`` (see
``mltracker.operations``). A line of spaces is an entry taken out of the file (set aside, or
refused by the store) and is skipped.

The file holds whole lines only: an append that fails half-way (a full disk, a file-size
limit) is cut back before the error is raised. A line that cannot be read all the same (a
file written by an older version, a process killed in the middle of a line, a disk that
corrupted it) never stops the others: it is copied to ``<key>-<pid>-<random>.rejected``
beside the spool, with a header line saying where it came from and why, stderr says so, and
the batches before and after it are written. A last line without its newline is such a line
in a file adopted from an ended process (its writer died in the middle of it); in the file
of a living process it is an append that failed (its points are still in memory) and is
ignored. Neither ``.rejected`` nor ``.refused`` files (see :func:`set_aside`) are replayed.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO
from uuid import UUID

from mltracker import operations
from mltracker.operations import Decoder, Entry, IdMap, UnreadableEntry, entry_size

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: spool files are not shared between processes
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "MLTRACKER_SPOOL_DIR"
_SUFFIX = ".spool"
#: Lines of a spool that could not be read, beside it (never replayed).
REJECTED_SUFFIX = ".rejected"
#: Batches a store refused for good (never replayed; see :func:`set_aside`).
REFUSED_SUFFIX = ".refused"
#: How every batch line begins. Quotes inside a line's strings are escaped, so these bytes
#: mark the start of a batch wherever they are: a torn line glued to the next one is cut here.
_RECORD_START = b'{"batch": "'

#: An entry of the log with its id: a batch of points (the id is the batch's), or one
#: operation (the id is the operation's own).
Batch = tuple[UUID, Entry]


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


def _line(batch_id: UUID, entry: Entry, ids: IdMap | None = None) -> bytes:
    """One entry as a spool line, newline included (the ids it refers to mapped by ``ids``)."""
    record = {"batch": batch_id.hex, **operations.encode_entry(entry, ids or _NO_IDS)}
    return (json.dumps(record, allow_nan=False) + "\n").encode()


_NO_IDS = IdMap()


class _BadLine(Exception):
    """A spool line that is not an entry; the message says why."""


def _parse(line: bytes, decoder: Decoder) -> Batch:
    """The entry a spool line holds, with its id.

    Raises:
        _BadLine: The line is not JSON, not an entry, or holds a field of the wrong type
    """
    try:
        record = json.loads(line)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise _BadLine(f"not JSON: {error}") from None
    if not isinstance(record, dict):
        raise _BadLine("not a batch object")
    batch = record.get("batch")
    if not isinstance(batch, str):
        raise _BadLine('not a batch: it needs "batch" (an id)')
    try:
        batch_id = UUID(hex=batch)
    except ValueError:
        raise _BadLine(f"batch id {batch[:40]!r} is not a UUID") from None
    try:
        return batch_id, decoder.entry(batch_id, record)
    except UnreadableEntry as error:
        raise _BadLine(str(error)) from None


class Spool:
    """One spool file: batches appended at the end and taken back from the front, in order."""

    def __init__(self, path: Path, file: IO[bytes], *, adopted: bool = False) -> None:
        self.path = path
        self._file = file
        self._read_offset = 0
        self._decoder = Decoder()
        # Written by an ended process: nothing will be appended, a torn last line is final.
        self._adopted = adopted
        # Lines (or pieces) this process set aside: their start and end offsets.
        self._skipped: dict[int, int] = {}
        # A line could not be copied out: keep the whole file (renamed) instead of deleting it.
        self._keep_at_removal = False
        #: How many points, and operations, are in the file and not yet taken back.
        self.points = 0
        self.operations = 0

    @classmethod
    def create(cls, store_id: str, uri: str) -> Spool:
        """A new, locked spool file for this process's points of the store ``store_id``, at
        ``uri`` (which the header records for people, with the id).

        Raises:
            OSError: The spool folder cannot be created or written (nothing is left).
        """
        directory = spool_directory()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{store_key(store_id)}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        path = directory / name
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        file = os.fdopen(descriptor, "r+b")
        try:
            if fcntl is not None:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = {"store": display(uri), "store_id": store_id, "pid": os.getpid()}
            _write_all(file.fileno(), json.dumps(header).encode() + b"\n")
            offset = file.seek(0, os.SEEK_END)
        except BaseException:
            file.close()
            path.unlink(missing_ok=True)
            raise
        spool = cls(path, file)
        spool._read_offset = offset
        return spool

    @classmethod
    def orphans(cls, store_id: str) -> list[Spool]:
        """Spool files of the store ``store_id`` left by processes that ended, oldest first,
        each now locked by this process.

        Lines that cannot be read are set aside on the way (see the module's docstring).
        """
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
            spool = cls(path, file, adopted=True)
            spool._read_offset = len(file.readline())  # the header
            for (_, entry), _, _ in spool._batches(spool._read_offset):
                points, operations_count = entry_size(entry)
                spool.points += points
                spool.operations += operations_count
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
        """The models that the entries not yet taken back write to and do not create."""
        return operations.models_of(
            [entry for (_id, entry), _end, _start in self._batches(self._read_offset)]
        )

    def append(self, batches: Sequence[Batch], ids: IdMap | None = None) -> list[int]:
        """Write entries at the end of the file and make them durable (the ids they refer
        to mapped by ``ids``); return the offset after each.

        Raises:
            OSError: The file cannot be written (a full disk, a file-size limit). The file is
                cut back to what it held before: none of ``batches`` is in it.
        """
        lines = [_line(batch_id, entry, ids) for batch_id, entry in batches]
        data = b"".join(lines)
        # Through the descriptor, not the buffered file: a failed buffered write would keep
        # its bytes and write them again at the next flush. Seeking to the end drops the read
        # buffer and puts the descriptor there.
        size = self._file.seek(0, os.SEEK_END)
        descriptor = self._file.fileno()
        # A torn line a failed cut left behind is ended first, so that it stays a line of its
        # own (set aside when read) and the batches after it can be read.
        torn = size > 0 and _read_at(descriptor, 1, size - 1) != b"\n"
        try:
            _write_all(descriptor, b"\n" + data if torn else data)
            os.fsync(descriptor)
        except OSError:
            self._cut(descriptor, size)
            raise
        finally:
            self._file.seek(0, os.SEEK_END)  # the buffered file agrees with the descriptor
        offset = size + torn
        for _, entry in batches:
            points, operations_count = entry_size(entry)
            self.points += points
            self.operations += operations_count
        ends = []
        for line in lines:
            offset += len(line)
            ends.append(offset)
        return ends

    def _cut(self, descriptor: int, size: int) -> None:
        try:
            os.ftruncate(descriptor, size)
            os.fsync(descriptor)
        except OSError as error:  # the next append ends the torn line; reading sets it aside
            logger.warning("cannot cut %s back to %d bytes: %s", self.path, size, error)

    def peek(self) -> tuple[Batch, int] | None:
        """The oldest batch not yet taken back and the offset after it, or ``None``.

        A line before it that cannot be read is set aside on the way (see the module's
        docstring); this never raises for what the file holds.
        """
        for batch, _start, end in self._batches(self._read_offset):
            return batch, end
        return None

    def advance(self, end: int, points: int, operations: int = 0) -> None:
        """Mark the entry that ends at ``end`` (of so many points, or one operation) as
        stored."""
        self._read_offset = end
        self.points -= points
        self.operations -= operations

    def drop_front(self, batch_id: UUID) -> bool:
        """Take the oldest batch out of the file without storing it, if it is ``batch_id``;
        whether it was.

        For a batch the store refuses for good: copy it out first with :func:`set_aside`,
        then drop it here. Its line is overwritten with spaces (best effort: if that fails,
        only this process skips it), so that no later process replays it either.
        """
        for (found_id, entry), start, end in self._batches(self._read_offset):
            if found_id != batch_id:
                return False
            self._blank(start, end)
            self.advance(end, *entry_size(entry))
            return True
        return False

    def _batches(self, offset: int) -> Iterator[tuple[Batch, int, int]]:
        """The batches from ``offset`` on, each with the offsets of its start and end;
        lines that cannot be read are set aside on the way."""
        file = self._file
        file.seek(offset)
        while True:
            start = offset
            line = file.readline()
            if not line:
                return
            if not line.endswith(b"\n"):
                if self._adopted and start not in self._skipped:
                    reason = f"torn: {len(line)} bytes without a newline at the end of the file"
                    self._reject(start, line, reason, truncate=True)
                return
            offset += len(line)
            if line[:1] in (b" ", b"\n") and not line.strip():
                continue  # taken out of the file
            skipped = self._skipped.get(start)
            if skipped is not None and skipped >= offset - 1:
                continue  # set aside by this process
            try:
                if skipped is not None:
                    raise _BadLine("set aside in part")
                batch = _parse(line, self._decoder)
            except _BadLine as error:
                yield from self._salvage(start, line, str(error))
            else:
                yield batch, start, offset
            file.seek(offset)  # setting a line aside may have moved the file's position

    def _salvage(self, start: int, line: bytes, reason: str) -> Iterator[tuple[Batch, int, int]]:
        """The batches in a line that is not one batch, cut where a batch begins (a torn
        line glued to the next one); what is not a batch is set aside."""
        cuts = [0]
        position = line.find(_RECORD_START, 1)
        while position > 0:
            cuts.append(position)
            position = line.find(_RECORD_START, position + 1)
        if len(cuts) == 1:
            self._reject(start, line, reason)
            return
        cuts.append(len(line))
        for begin, stop in zip(cuts, cuts[1:], strict=False):
            piece = line[begin:stop]
            if start + begin in self._skipped or not piece.strip():
                continue
            try:
                batch = _parse(piece, self._decoder)
            except _BadLine as error:
                self._reject(start + begin, piece, f"torn or damaged: {error}")
                continue
            yield batch, start + begin, start + stop

    def _reject(self, start: int, line: bytes, reason: str, *, truncate: bool = False) -> None:
        """Copy a line (or a piece of one) that cannot be read to the file beside the spool,
        then take it out of the spool: blanked, or cut off at the end (``truncate``)."""
        content = line.rstrip(b"\n")
        self._skipped[start] = start + len(content)
        rejected = self.path.with_suffix(REJECTED_SUFFIX)
        header = {
            "rejected_from": str(self.path),
            "offset": start,
            "reason": reason,
            "time": _now(),
        }
        try:
            descriptor = os.open(rejected, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _write_all(descriptor, json.dumps(header).encode() + b"\n" + content + b"\n")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as error:
            self._keep_at_removal = True
            _say(
                f"a line of the spool file {self.path} cannot be read ({reason}) nor copied "
                f"to {rejected} ({error}): the other batches are written, then the spool file "
                f"is kept as {rejected}"
            )
            return
        _say(
            f"a line of the spool file {self.path} cannot be read ({reason}): it is set "
            f"aside in {rejected}; the other batches are written"
        )
        if truncate:
            self._cut(self._file.fileno(), start)
        else:
            self._blank(start, start + len(content))

    def _blank(self, start: int, end: int) -> None:
        """Overwrite bytes ``start:end`` of the file with spaces, durably, keeping a final
        newline; on failure only this process skips them."""
        descriptor = self._file.fileno()
        try:
            length = end - start
            if length > 0 and _read_at(descriptor, 1, end - 1) == b"\n":
                length -= 1
            _write_all_at(descriptor, b" " * length, start)
            os.fsync(descriptor)
        except OSError as error:
            logger.warning("cannot blank bytes %d-%d of %s: %s", start, end, self.path, error)
            self._skipped[start] = end
        position = self._file.tell()
        self._file.seek(0, os.SEEK_END)  # drop the buffered bytes just overwritten
        self._file.seek(position)

    def remove(self) -> None:
        """Delete the file (every batch was stored) and release it.

        A file holding a line that could not be set aside is renamed to its ``.rejected``
        name instead, if no such file exists already.
        """
        try:
            if self._keep_at_removal:
                rejected = self.path.with_suffix(REJECTED_SUFFIX)
                if not rejected.exists():
                    self.path.rename(rejected)
                    self.release()
                    return
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.warning("cannot remove the written spool file %s: %s", self.path, error)
        self.release()

    def release(self) -> None:
        """Close the file, keeping what it holds for a later process."""
        self._file.close()


def set_aside(key: str, store: str, batch_id: UUID, entry: Entry, reason: str) -> Path:
    """Keep an entry the store refused for good in a file of its own, and return its path.

    For a batch that can never be stored as it is (a server that answers 413 for a batch
    that cannot be cut smaller, an ``InvalidArgumentError`` for a malformed point): it must
    not stay in front of the points logged after it. The file, ``<key>-<pid>-<random>
    .refused`` in :func:`spool_directory`, is never replayed by :meth:`Spool.orphans`. It is
    a spool file in every other way: a header line ``{"store": ..., "pid": ...,
    "refused": reason, "time": ISO 8601}``, then the batch's line, with its id; renamed to
    ``.spool`` it is replayed like one.

    Args:
        key: The store's part of spool file names (``store_key(uri)`` today).
        store: The store as shown to people; a URI's password is hidden (:func:`display`).
        batch_id: The batch's id, kept so that a replay is recognised by the store.
        entry: The batch of points, or the operation.
        reason: Why the store refused it (its error message).

    Raises:
        OSError: The file cannot be written (nothing is left of it; the batch is not kept).
    """
    directory = spool_directory()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}{REFUSED_SUFFIX}"
    header = {"store": display(store), "pid": os.getpid(), "refused": reason, "time": _now()}
    data = json.dumps(header).encode() + b"\n" + _line(batch_id, entry)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(descriptor, data)
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    return path


def display(uri: str) -> str:
    """A store's URI fit for a message: a SQLite file's path, a URL without its password."""
    if uri.startswith("sqlite:///"):
        return uri[len("sqlite:///") :]
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", uri)


def _write_all(descriptor: int, data: bytes) -> None:
    """Write every byte at the descriptor's position (``os.write`` may write only some)."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written == 0:  # pragma: no cover - a regular file writes or raises
            raise OSError(errno.EIO, "nothing written")
        view = view[written:]


def _write_all_at(descriptor: int, data: bytes, offset: int) -> None:
    """Write every byte at ``offset``; the descriptor's position is then unspecified."""
    if not hasattr(os, "pwrite"):  # pragma: no cover - Windows
        os.lseek(descriptor, offset, os.SEEK_SET)
        _write_all(descriptor, data)
        return
    view = memoryview(data)
    while view:
        written = os.pwrite(descriptor, view, offset)
        if written == 0:  # pragma: no cover - a regular file writes or raises
            raise OSError(errno.EIO, "nothing written")
        view, offset = view[written:], offset + written


def _read_at(descriptor: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``; the descriptor's position is then unspecified."""
    if not hasattr(os, "pread"):  # pragma: no cover - Windows
        os.lseek(descriptor, offset, os.SEEK_SET)
        return os.read(descriptor, size)
    return os.pread(descriptor, size, offset)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _say(message: str) -> None:
    """Tell the person running the process, on stderr, whatever logging is set up."""
    try:
        print(f"mltracker: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left
        pass
    logger.warning(message)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
