"""Import TensorBoard event files: ``mltracker import --from tensorboard LOGDIR``.

The files are TFRecords of ``tensorboard``'s event protos (``pip install
'mltracker[tensorboard]'``; TensorFlow is not needed): the records are read here, each
checked against its CRC-32C (google-crc32c's C code, else tensorboard's own), and parsed by
tensorboard's protos. As TensorBoard shows
them, every folder under the log folder (the log folder too) that holds event files
(``*tfevents*``) is a run, named by its path relative to the log folder (the log folder's
own name for its own files), and its files are read in the order of their names (the time
each was created).

=================================  ===================================================
in the event files                 in MLTracker
=================================  ===================================================
the log folder                     the experiment of its name (or ``experiment=``)
a run folder                       a run named by its path, finished at its last event,
                                   of a model of its own (hash from the path, name the
                                   path); with ``group_by_params``, the model of those
                                   hparams' values
a scalar (``add_scalar``, TF2's    a point of the series of its tag (no phase): step
``tf.summary.scalar``)             and wall time kept
hparams (``add_hparams``, the      the run's params (an integral number is an int)
hparams plugin's session start)
=================================  ===================================================

Images, histograms, text and the rest are left out. Importing again adds what is new (see
:mod:`mltracker.importers.streaming`): the runs by their experiment and path, the points
after those of each series imported before. A record cut short at the end of a file (a
file still being written) ends that file; a damaged record (a failed checksum) stops the
import with an error that names the file, after what was read before it was written.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltracker.errors import InvalidArgumentError, MLTrackerError
from mltracker.importers.streaming import (
    ImportCounts,
    Progress,
    RunHandle,
    RunImport,
    RunWriter,
    SeriesKey,
    SourceFormatError,
    params_hash,
    params_name,
)

if TYPE_CHECKING:
    from mltracker.connect import Connection

SOURCE = "tensorboard"

#: What marks an event file's name.
EVENT_FILE_MARK = "tfevents"


@dataclass
class TensorBoardImport:
    """What :func:`import_tensorboard` did."""

    experiment: str
    counts: ImportCounts


_LENGTH = struct.Struct("<Q")
#: Bytes read from an event file at a time.
_CHUNK = 4 * 1024 * 1024
_CRC = struct.Struct("<I")


def _masked_crc() -> Callable[[bytes], int]:
    """The masked CRC-32C of TFRecords: google-crc32c's C code, else tensorboard's own (in
    Python: some 10 times slower)."""
    try:
        from google_crc32c import value as crc32c
    except ImportError:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

        return masked_crc32c  # type: ignore[no-any-return]

    def masked(data: bytes) -> int:
        crc: int = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    return masked


def _load() -> Any:
    try:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.plugins.hparams import plugin_data_pb2
        from tensorboard.util import tensor_util
    except ModuleNotFoundError as error:
        module = error.name or "tensorboard"
        raise MLTrackerError(
            f"importing TensorBoard logs needs {module}, which is not installed: "
            "pip install 'mltracker[tensorboard]'"
        ) from None
    return event_pb2, plugin_data_pb2, tensor_util


def run_folders(logdir: Path) -> list[Path]:
    """The folders under ``logdir`` (itself included) that hold event files, sorted."""
    found = []
    for folder, _dirs, files in os.walk(logdir):
        if any(EVENT_FILE_MARK in name for name in files):
            found.append(Path(folder))
    return sorted(found)


def event_files(folder: Path) -> list[Path]:
    """A run folder's event files, in the order of their names, numbers by value: the
    time each was created (``events.out.tfevents.TIME.HOST.PID.N``), then its counter."""
    return sorted(
        (path for path in folder.iterdir() if EVENT_FILE_MARK in path.name and path.is_file()),
        key=_natural,
    )


def _natural(path: Path) -> list[tuple[int, int | str]]:
    parts = re.split(r"(\d+)", path.name)
    return [(0, int(part)) if part.isdigit() else (1, part) for part in parts if part]


def import_tensorboard(
    connection: Connection,
    logdir: str | os.PathLike[str],
    *,
    experiment: str | None = None,
    group_by_params: Sequence[str] = (),
    progress: Progress | None = None,
) -> TensorBoardImport:
    """Import the event files under ``logdir`` into the store of ``connection``, streamed
    (see the module's docstring).

    Args:
        experiment: The experiment to import into (default: the log folder's name).
        group_by_params: hparams whose values identify a model: the runs that share them
            are runs of one model. Default: a model per run folder.
        progress: Called as runs begin and points are written.

    Raises:
        InvalidArgumentError: ``logdir`` is not a folder, or holds no event file.
        SourceFormatError: An event file is damaged (it names it). What was imported
            before stays; importing again continues.
        MLTrackerError: ``tensorboard`` is not installed (the message names the extra).
    """
    loaded = _load()
    root = Path(logdir).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"no TensorBoard log folder at {os.fspath(logdir)}")
    root = root.resolve()
    folders = run_folders(root)
    if not folders:
        raise InvalidArgumentError(f"no event files (*{EVENT_FILE_MARK}*) under {root}")
    experiment = experiment or root.name
    reader = _Reader(*loaded)
    writer = RunWriter(connection.store, progress)
    for folder in folders:
        relative = folder.relative_to(root).as_posix()
        name = root.name if relative == "." else relative
        files = event_files(folder)
        params = reader.hparams(files) if group_by_params else {}
        run = RunImport(
            experiment=experiment,
            model_hash=hashlib.sha256(name.encode()).hexdigest()[:16],
            model_name=name,
            source=SOURCE,
            source_id=f"{experiment}/{relative}",
            name=name,
            status="finished",
            started_at=0.0,
            ended_at=None,
            params=params,
            context={"tensorboard": {"logdir": str(root), "run": relative}},
        )
        if group_by_params:
            chosen = {key: params.get(key) for key in group_by_params}
            run.model_hash, run.model_name = params_hash(chosen), params_name(chosen)
        first = reader.first_time(files)
        run.started_at = first if first is not None else 0.0
        handle = writer.begin(run)
        last = reader.scalars(handle, files)
        found = reader.params
        if found != params:  # what the files' hparams say, once they have been read
            run.params = found
            writer.store.start_run(_restart(handle, found))
        run.ended_at = last if last is not None else run.started_at
        handle.end()
    return TensorBoardImport(experiment, writer.counts)


def _restart(handle: RunHandle, params: dict[str, Any]) -> Any:
    """The start of a run again, with the params found in its files (a start is
    idempotent: it keeps the run's status and points)."""
    import dataclasses

    from mltracker import values

    start = handle.start
    return dataclasses.replace(start, params_json=values.encode_attributes(params, "params"))


class _Reader:
    """Reads event files, naming a damaged one."""

    def __init__(self, event_pb2: Any, plugin_data_pb2: Any, tensor_util: Any) -> None:
        self.checksum = _masked_crc()
        self.Event = event_pb2.Event
        self.HParams = plugin_data_pb2.HParamsPluginData
        self.tensor_util = tensor_util
        self.params: dict[str, Any] = {}

    def records(self, path: Path) -> Iterator[bytes]:
        """The records of an event file (TFRecord framing: a length, its checksum, the
        data, its checksum), read in chunks of :data:`_CHUNK`; a damaged record raises, a
        record cut short at the end of the file ends it."""
        check = self.checksum
        length_of, crc_of = _LENGTH.unpack_from, _CRC.unpack_from
        try:
            file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except OSError as error:
            raise SourceFormatError(f"cannot read the event file {path}: {error}") from None
        with file:
            buffer, position, ended = b"", 0, False

            def fill(needed: int) -> bool:
                """Whether ``needed`` bytes from ``position`` are in the buffer (reading
                more if need be)."""
                nonlocal buffer, position, ended
                while len(buffer) - position < needed and not ended:
                    try:
                        more = file.read(max(_CHUNK, needed))
                    except OSError as error:
                        raise SourceFormatError(
                            f"cannot read the event file {path}: {error}"
                        ) from None
                    ended = not more
                    buffer, position = buffer[position:] + more, 0
                return len(buffer) - position >= needed

            while True:
                if not fill(12):
                    return  # the end, or a record cut short while being written
                (length,) = length_of(buffer, position)
                (length_crc,) = crc_of(buffer, position + 8)
                if check(buffer[position : position + 8]) != length_crc:
                    raise self._damaged(path)
                if not fill(12 + length + 4):
                    return
                start = position + 12
                data = buffer[start : start + length]
                if check(data) != crc_of(buffer, start + length)[0]:
                    raise self._damaged(path)
                position = start + length + 4
                yield data

    @staticmethod
    def _damaged(path: Path) -> SourceFormatError:
        return SourceFormatError(
            f"the event file {path} is damaged or not an event file (a record fails its "
            "checksum): move it out of the log folder to import the rest"
        )

    def events(self, path: Path) -> Iterator[Any]:
        parse = self.Event.FromString
        for record in self.records(path):
            try:
                yield parse(record)
            except Exception:  # noqa: BLE001 - protobuf's DecodeError and the like
                raise SourceFormatError(
                    f"{path} is not a TensorBoard event file (a record is not an event)"
                ) from None

    def first_time(self, files: list[Path]) -> float | None:
        for path in files:
            for event in self.events(path):
                return float(event.wall_time)
        return None

    def hparams(self, files: list[Path]) -> dict[str, Any]:
        """The hparams of a run's files (a pass over them that reads nothing else)."""
        self.params = {}
        for path in files:
            for event in self.events(path):
                if event.HasField("summary"):
                    for value in event.summary.value:
                        if value.metadata.plugin_data.plugin_name == "hparams":
                            self._hparams(value.metadata.plugin_data.content)
        return dict(self.params)

    def _hparams(self, content: bytes) -> None:
        data = self.HParams.FromString(content)
        if not data.HasField("session_start_info"):
            return
        for key, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind == "number_value":
                number = value.number_value
                self.params[key] = int(number) if number.is_integer() else number
            elif kind == "string_value":
                self.params[key] = value.string_value
            elif kind == "bool_value":
                self.params[key] = value.bool_value

    def scalars(self, handle: RunHandle, files: list[Path]) -> float | None:
        """Import the scalars of a run's files; the wall time of the last event."""
        self.params = {}
        last: float | None = None
        plugins: dict[str, str] = {}
        point = handle.point
        keys: dict[str, SeriesKey] = {}
        for path in files:
            plugins.clear()  # a tag's metadata comes with its first value in each file
            for event in self.events(path):
                last = event.wall_time
                if not event.HasField("summary"):
                    continue
                for value in event.summary.value:
                    tag = value.tag
                    if value.HasField("metadata"):
                        plugins[tag] = value.metadata.plugin_data.plugin_name
                        if plugins[tag] == "hparams":
                            self._hparams(value.metadata.plugin_data.content)
                    which = value.WhichOneof("value")
                    if which == "simple_value":
                        number: Any = value.simple_value
                    elif which == "tensor" and plugins.get(tag) == "scalars":
                        number = self.tensor_util.make_ndarray(value.tensor).item()
                    else:
                        continue
                    key = keys.get(tag)
                    if key is None:
                        key = keys[tag] = SeriesKey(tag, None)
                    point(key, event.step, number, event.wall_time)
        return last
