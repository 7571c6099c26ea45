"""The JSON documents a tracking server and its clients exchange (API version 1).

One module knows the wire format, so the server (``mltracker.server``) and the HTTP backend
(``mltracker.backends.http``) cannot drift apart. Rows and entities become plain JSON
objects; metric points travel as columns, in logged order:

``{"series": [[model_id, name, phase(, run_id)], ...], "s": [...], "step": [...], "value": [...],
"timestamp": [...], "exact": {"i": [kind, text], ...}}``

``s[i]`` is the index of point ``i``'s series in ``series``. ``value[i]`` is the value itself
when JSON holds it exactly (a finite float, an int of at most 2**53, a bool); anything else
(NaN, infinities, -0.0, big ints, strings and JSON values) is ``null`` in ``value`` and
``[kind, text]`` in ``exact`` under the point's index, in the storage encoding of
``mltracker.values``. A read adds ``"ordinal": [...]``, for points imported with ids of
their own ``"ids": {"i": uuid}``, and where some point belongs to a run
``"runs": [run_id or null, ...]``: the run of each series, in the order of ``series``
(whose entries a read keeps at three, so that a client that predates runs reads them; a
name and phase logged by several runs is a series each). A read that asks for superseded
points (``?superseded=true``) adds ``"superseded": [i, ...]``, the indexes of those points.

A write that creates something or moves a model's step carries the id that makes it
idempotent, chosen by the client: ``{"name", "attributes_json", "id"}`` for a module,
``{"step", "id"}`` for an iteration, ``{"delta", "op_id"}`` for a step increment. The server
applies a request whose id it has seen once, and answers a repeat as the first time, so the
client repeats such a request after a dropped connection. An id left out (a client that
predates them) is made by the store: the request is then applied each time it arrives.

Everything a client sends is validated here again, as the library validates its arguments,
and refused with :class:`~mltracker.errors.InvalidArgumentError`. (Documents for people, the
CLI's ``--json`` and exports, are ``mltracker.codec``'s: times in ISO 8601, NaN as a token.
The wire keeps every value exact instead, and times as seconds.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID

import orjson

from mltracker import values
from mltracker.collector import collector_paused
from mltracker.entities import Metric, Module, Summary
from mltracker.errors import InvalidArgumentError
from mltracker.ports.store import (
    BatchRow,
    ExperimentRecord,
    ExperimentRow,
    IterationRecord,
    IterationRow,
    MetricRecord,
    ModelRecord,
    ModelRow,
    ModuleRecord,
    Point,
    RestoreReport,
    RunRecord,
    RunRow,
    RunStart,
    Series,
)

API_PREFIX = "/api/v1"

_FLOAT = values.FLOAT
_INT = values.INT
_BOOL = values.BOOL
_EXACT_INT = 2**53
_isfinite = math.isfinite


# Rows and entities


def experiment_document(row: ExperimentRow) -> dict[str, Any]:
    return {"id": str(row.id), "name": row.name, "created_at": row.created_at}


def experiment_row(document: Mapping[str, Any]) -> ExperimentRow:
    return ExperimentRow(UUID(document["id"]), document["name"], document["created_at"])


def model_document(row: ModelRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "experiment_id": str(row.experiment_id),
        "hash": row.hash,
        "name": row.name,
        "description": row.description,
        "created_at": row.created_at,
        "step": row.step,
    }


def model_row(document: Mapping[str, Any]) -> ModelRow:
    return ModelRow(
        UUID(document["id"]),
        UUID(document["experiment_id"]),
        document["hash"],
        document["name"],
        document["description"],
        document["created_at"],
        document["step"],
    )


def iteration_document(row: IterationRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "model_id": str(row.model_id),
        "step": row.step,
        "created_at": row.created_at,
        "run_id": _id_text(row.run_id),
    }


def iteration_row(document: Mapping[str, Any]) -> IterationRow:
    run_id = document.get("run_id")
    return IterationRow(
        UUID(document["id"]),
        UUID(document["model_id"]),
        document["step"],
        document["created_at"],
        None if run_id is None else UUID(run_id),
    )


def run_document(row: RunRow) -> dict[str, Any]:
    """A run; ``params_json`` keeps its parameters exact (NaN and infinities, which JSON's
    ``params`` shows as null)."""
    return {
        "id": str(row.id),
        "model_id": str(row.model_id),
        "name": row.name,
        "status": row.status,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "heartbeat_at": row.heartbeat_at,
        "timeout": row.timeout,
        "params": row.params,
        "params_json": values.encode_attributes(row.params, "params"),
        "context": row.context,
        "exit": row.exit,
    }


def run_row(document: Mapping[str, Any]) -> RunRow:
    return RunRow(
        UUID(document["id"]),
        UUID(document["model_id"]),
        document["name"],
        document["status"],
        document["started_at"],
        document["ended_at"],
        document["heartbeat_at"],
        document["timeout"],
        values.loads_json(document["params_json"])
        if "params_json" in document
        else document["params"],
        document["context"],
        document["exit"],
    )


def run_start_request(start: RunStart) -> dict[str, Any]:
    """The body of a request that starts a run (its id in the path)."""
    return {
        "model_id": str(start.model_id),
        "name": start.name,
        "params_json": start.params_json,
        "context_json": start.context_json,
        "started_at": start.started_at,
        "timeout": start.timeout,
    }


def module_request(name: str, attributes_json: str, id: UUID | None) -> dict[str, Any]:
    """The body of a request that logs a module."""
    return {"name": name, "attributes_json": attributes_json, "id": _id_text(id)}


def iteration_request(step: int, id: UUID | None, run_id: UUID | None = None) -> dict[str, Any]:
    """The body of a request that creates an iteration (in a run, or in none)."""
    return {"step": step, "id": _id_text(id), "run_id": _id_text(run_id)}


def step_request(step: int, op_id: UUID | None) -> dict[str, Any]:
    """The body of a request that sets a model's step."""
    return {"step": step, "op_id": _id_text(op_id)}


def experiment_request(name: str, id: UUID | None, *, get_or_create: bool) -> dict[str, Any]:
    """The body of a request that creates (or gets or creates) an experiment."""
    return {"name": name, "get_or_create": get_or_create, "id": _id_text(id)}


def model_request(
    hash: str, name: str | None, description: str | None, id: UUID | None, *, get_or_create: bool
) -> dict[str, Any]:
    """The body of a request that creates (or gets or creates) a model."""
    return {
        "hash": hash,
        "name": name,
        "description": description,
        "get_or_create": get_or_create,
        "id": _id_text(id),
    }


def step_delta_request(delta: int, op_id: UUID | None) -> dict[str, Any]:
    """The body of a request that adds to a model's step."""
    return {"delta": delta, "op_id": _id_text(op_id)}


def _id_text(id: UUID | None) -> str | None:
    return None if id is None else str(id)


def module_document(module: Module) -> dict[str, Any]:
    """A module; its attributes as the exact JSON text stored (it may hold NaN)."""
    return {
        "id": str(module.id),
        "name": module.name,
        "attributes_json": values.dumps_json(module.attributes, "module attributes"),
        "created_at": module.created_at,
    }


def module_entity(document: Mapping[str, Any]) -> Module:
    return Module(
        UUID(document["id"]),
        document["name"],
        values.loads_json(document["attributes_json"]),
        document["created_at"],
    )


# Metric values


def _wire_value(kind: int, number: float | None, text: str | None) -> Any:
    """The JSON value of an encoded metric value, or ``None`` when it needs ``exact``."""
    if text is not None or number is None or not _isfinite(number):
        return None
    if kind == _FLOAT:
        return number
    if kind == _INT:
        return int(number)
    if kind == _BOOL:
        return number != 0.0
    return None


def _exact_text(kind: int, number: float | None, text: str | None) -> str:
    return text if text is not None else repr(number)


def _encoded(value: Any, exact: Any, where: str) -> values.EncodedValue:
    """Validate one wire value back into the storage encoding."""
    if value is None:
        if not (isinstance(exact, list) and len(exact) == 2):
            raise InvalidArgumentError(f"{where}: a null value needs [kind, text] in exact")
        kind, text = exact
        if kind not in (values.FLOAT, values.INT, values.BOOL, values.JSON) or not isinstance(
            text, str
        ):
            raise InvalidArgumentError(f"{where}: exact must be [kind 0-3, text]")
        try:
            decoded = values.decode_value(kind, None, text)
        except (ValueError, TypeError, InvalidArgumentError) as error:
            raise InvalidArgumentError(f"{where}: cannot read {text!r}: {error}") from None
        except RecursionError:
            raise InvalidArgumentError(f"{where}: the exact text is nested too deeply") from None
        return values.encode_value(decoded)
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return values.encode_value(value)
    raise InvalidArgumentError(f"{where}: a value must be a number, a bool or null")


# Summaries of series


def _exact_value(value: Any) -> Any:
    """A metric value (or ``None``) as JSON: itself when JSON holds it exactly, else
    ``{"exact": [kind, text]}`` in the storage encoding."""
    if value is None:
        return None
    kind, number, text = values.encode_value(value)
    plain = _wire_value(kind, number, text)
    if plain is not None:
        return plain
    return {"exact": [kind, _exact_text(kind, number, text)]}


def _value_of_exact(document: Any, where: str) -> Any:
    if isinstance(document, Mapping):
        return _decoded_exact(document.get("exact"), where)
    return document


def _decoded_exact(exact: Any, where: str) -> Any:
    if not (isinstance(exact, list) and len(exact) == 2 and isinstance(exact[1], str)):
        raise InvalidArgumentError(f"{where}: exact must be [kind, text]")
    kind, text = exact
    if kind == values.FLOAT:
        return float(text)
    if kind == values.INT:
        return int(text)
    return values.decode_value(kind, None, text)


_SUMMARY_VALUES = ("first", "last", "min", "max")
_SUMMARY_INTS = ("count", "nan_count", "first_step", "last_step", "argmin", "argmax")


def summary_document(summary: Summary) -> dict[str, Any]:
    """A series' summary; its values exact (see :func:`_exact_value`)."""
    document: dict[str, Any] = {
        "run_id": None if summary.run_id is None else str(summary.run_id),
        "name": summary.name,
        "phase": summary.phase,
    }
    for key in _SUMMARY_INTS:
        document[key] = getattr(summary, key)
    for key in _SUMMARY_VALUES:
        document[key] = _exact_value(getattr(summary, key))
    return document


def summary_from_document(document: Mapping[str, Any]) -> Summary:
    read = {key: _value_of_exact(document[key], key) for key in _SUMMARY_VALUES}
    run_id = document["run_id"]
    return Summary(
        None if run_id is None else UUID(run_id),
        document["name"],
        document["phase"],
        document["count"],
        document["nan_count"],
        read["first"],
        read["last"],
        document["first_step"],
        document["last_step"],
        None if read["min"] is None else float(read["min"]),
        None if read["max"] is None else float(read["max"]),
        document["argmin"],
        document["argmax"],
    )


# Metric points: writes


#: The keys of a batch write's body, in the order :func:`points_document` gives them (a
#: server parses such a body a key at a time: see ``mltracker.server.bodies``).
POINTS_KEYS = ("batch_id", "series", "s", "step", "value", "timestamp", "exact")


def points_document(
    points: Sequence[Point], batch_id: UUID | None, part_of: Sequence[UUID] = ()
) -> dict[str, Any]:
    """The body of a batch write: ``points`` in their order, with the batch's id (its keys
    are :data:`POINTS_KEYS`, in that order), and ``"part_of"`` last: the ids of the batches
    it was split from, only when there are some (see ``Store.write_points``)."""
    series_index: dict[int, int] = {}
    series: list[list[Any]] = []
    s: list[int] = []
    steps: list[int | None] = []
    wire_values: list[Any] = []
    timestamps: list[float] = []
    exact: dict[str, list[Any]] = {}
    for i, (one, step, kind, number, text, timestamp) in enumerate(points):
        index = series_index.get(id(one))
        if index is None:
            index = series_index[id(one)] = len(series)
            entry = [str(one.model_id), one.name, one.phase]
            if one.run_id is not None:
                entry.append(str(one.run_id))
            series.append(entry)
        s.append(index)
        steps.append(step)
        if text is None and kind == _FLOAT and number is not None and _isfinite(number):
            wire_values.append(number)
        else:
            value = _wire_value(kind, number, text)
            wire_values.append(value)
            if value is None:
                exact[str(i)] = [kind, _exact_text(kind, number, text)]
        timestamps.append(timestamp)
    document = {
        "batch_id": None if batch_id is None else str(batch_id),
        "series": series,
        "s": s,
        "step": steps,
        "value": wire_values,
        "timestamp": timestamps,
        "exact": exact,
    }
    if part_of:
        document["part_of"] = [str(one) for one in part_of]
    return document


#: The most batches a batch may say it was split from: halving 2**64 points takes 64.
MAX_PART_DEPTH = 64


def part_of_from_document(document: dict[str, Any]) -> list[UUID]:
    """The ids of the batches a batch-write body says it was split from (none if absent).

    Raises:
        InvalidArgumentError: ``part_of`` is not a list of UUIDs.
    """
    found = document.get("part_of")
    if found is None:
        return []
    if not isinstance(found, list) or len(found) > MAX_PART_DEPTH:
        raise InvalidArgumentError(f"part_of must be a list of at most {MAX_PART_DEPTH} batch ids")
    return [_uuid(one, "part_of") for one in found]


#: The most bytes JSON takes for a finite float (``-1.2345678901234567e-308``), and so for
#: a value or timestamp written as one.
_FLOAT_BYTES = 24
#: A batch's body with no point: the keys, the brackets and the batch id.
_EMPTY_BODY_BYTES = len(
    orjson.dumps(
        {
            "batch_id": str(UUID(int=0)),
            "series": [],
            "s": [],
            "step": [],
            "value": [],
            "timestamp": [],
            "exact": {},
        }
    )
)


def encoded_size(points: Sequence[Point]) -> int:
    """At least the bytes of the batch-write body of ``points`` (what
    ``orjson.dumps(points_document(points, batch_id))`` gives), and a few bytes a point more
    at most, without building the body.

    For cutting a batch by size before it is sent: a server refuses a body over its limit.
    Each column is encoded on its own as it is (the values as floats: an int is so 2 bytes
    longer, a bool 2 bytes shorter, made up for); a text value's ``exact`` entry is
    measured as it is encoded. It costs about what encoding the body costs for a batch of
    floats (0.2 us a point), half of it for text values.
    """
    count = len(points)
    if not count:
        return _EMPTY_BODY_BYTES
    column = list(map(_series_of_point, points))
    series = dict(zip(map(id, column), column, strict=True))
    size = _EMPTY_BODY_BYTES + sum(map(series_size, series.values()))
    size += count * (len(str(len(series) - 1)) + 1)  # s
    size += len(_dumps(list(map(_step_of_point, points))))
    numbers = list(map(_number_of_point, points))  # NaN and infinities are null
    size += len(_dumps(numbers)) + 2 * list(map(_kind_of_point, points)).count(_BOOL)
    size += len(_dumps(list(map(_timestamp_of_point, points))))
    # "index":[kind,"text"], in exact, for a text value or an infinity.
    key = len(str(count - 1)) + 2 + 1 + 3 + 2
    texts = list(map(_text_of_point, points))
    if texts.count(None) != count:
        size += sum(len(_dumps(text)) + key for text in texts if text is not None)
    infinities = numbers.count(math.inf) + numbers.count(-math.inf)
    return size + infinities * (key + 6)


def series_size(series: Series) -> int:
    """The bytes a series adds to a batch's body the first time a point of it appears."""
    # ["<uuid>","<name>",<phase>],
    phase = 4 if series.phase is None else len(orjson.dumps(series.phase))
    return 36 + 2 + len(orjson.dumps(series.name)) + phase + 5


def point_size(point: Point) -> int:
    """At least the bytes one point adds to the body of any batch (of fewer than 10**9
    points and series), its series entry aside (:func:`series_size`): for cutting a batch
    point by point as it is taken. :func:`encoded_size` is closer, and cheaper, for a whole
    batch."""
    _series, step, _kind, number, text, timestamp = point
    size = 10 + len(_dumps(step)) + 1 + _FLOAT_BYTES + 1 + len(_dumps(timestamp)) + 1
    if text is not None:
        size += len(_dumps(text)) + 9 + 8
    elif number is not None and not _isfinite(number):
        size += 9 + 8 + 6
    return size


_series_of_point = itemgetter(0)
_step_of_point = itemgetter(1)
_number_of_point = itemgetter(3)
_kind_of_point = itemgetter(2)
_text_of_point = itemgetter(4)
_timestamp_of_point = itemgetter(5)
_dumps = orjson.dumps


class SeriesCache:
    """The server's ``Series`` objects by model, name, phase and run, so that a store
    resolves each series once and not at every batch."""

    def __init__(self, limit: int = 100_000) -> None:
        self._series: dict[tuple[str, str, str | None, str | None], Series] = {}
        self._limit = limit

    def get(self, model_id: str, name: str, phase: str | None, run_id: str | None = None) -> Series:
        key = (model_id, name, phase, run_id)
        found = self._series.get(key)
        if found is None:
            if len(self._series) >= self._limit:
                self._series.clear()
            run = None if run_id is None else UUID(run_id)
            found = self._series[key] = Series(UUID(model_id), name, phase, run)
        return found


def points_from_document(
    document: Any, cache: SeriesCache | None = None
) -> tuple[list[Point], UUID | None]:
    """The points and batch id of a batch-write body, validated.

    Raises:
        InvalidArgumentError: The body is not a batch, or a name, phase, step, value or
            timestamp is not one the library would take (nothing of the batch is kept).
    """
    if not isinstance(document, dict):
        raise InvalidArgumentError("a batch must be a JSON object")
    cache = cache if cache is not None else SeriesCache()
    batch_id = _optional_uuid(document.get("batch_id"), "batch_id")
    series_list = document.get("series")
    columns = [document.get(key) for key in ("s", "step", "value", "timestamp")]
    exact = document.get("exact") or {}
    if not isinstance(series_list, list) or not all(isinstance(c, list) for c in columns):
        raise InvalidArgumentError("a batch needs the lists series, s, step, value, timestamp")
    if not isinstance(exact, dict):
        raise InvalidArgumentError("exact must be an object")
    s, steps, wire_values, timestamps = columns
    assert s is not None and steps is not None and wire_values is not None
    assert timestamps is not None
    if not len(s) == len(steps) == len(wire_values) == len(timestamps):
        raise InvalidArgumentError("the columns s, step, value and timestamp differ in length")
    resolved: list[Series] = []
    for entry in series_list:
        if not (isinstance(entry, list) and len(entry) in (3, 4)):
            raise InvalidArgumentError("each series must be [model_id, name, phase(, run_id)]")
        model_id, name, phase = entry[:3]
        model_uuid = _uuid(model_id, "series model_id")
        name = values.check_name(name, "metric name")
        phase = values.check_optional_name(phase, "metric phase")
        run_uuid = _optional_uuid(entry[3], "series run_id") if len(entry) == 4 else None
        run = None if run_uuid is None else str(run_uuid)
        resolved.append(cache.get(str(model_uuid), name, phase, run))
    count = len(resolved)
    points: list[Point] = []
    append = points.append
    check_step = values.check_step
    check_timestamp = values.check_timestamp
    for i in range(len(s)):
        index = s[i]
        if type(index) is not int or not 0 <= index < count:
            raise InvalidArgumentError(f"point {i}: s must index series")
        value = wire_values[i]
        number: float | None
        if type(value) is float and _isfinite(value) and value != 0.0:
            kind, number, text = _FLOAT, value, None
        else:
            kind, number, text = _encoded(value, exact.get(str(i)), f"point {i}")
        step = steps[i]
        if step is not None and type(step) is not int:
            step = check_step(step)
        elif step is not None and not values.INT64_MIN <= step <= values.INT64_MAX:
            step = check_step(step)
        timestamp = timestamps[i]
        if type(timestamp) is not float or not _isfinite(timestamp):
            timestamp = check_timestamp(timestamp)
        append((resolved[index], step, kind, number, text, timestamp))
    return points, batch_id


# Metric points: reads


def metrics_document(metrics: Iterable[Metric]) -> dict[str, Any]:
    """Points read from a store, as columns (with their ordinals and imported ids)."""
    points = metrics if isinstance(metrics, list) else list(metrics)
    # Each column is gathered in one pass; the values that JSON cannot hold exactly and
    # the imported ids are then mended point by point.
    series_index: dict[tuple[UUID, str, str | None, UUID | None], int] = {}
    series: list[list[Any]] = []
    runs: list[str | None] = []
    s: list[int] = []
    last: tuple[UUID, str, str | None, UUID | None] | None = None
    index = 0
    for key in map(_series_of, points):
        if key != last:  # points of one series mostly follow each other
            found = series_index.get(key)
            if found is None:
                found = series_index[key] = len(series)
                series.append([str(key[0]), key[1], key[2]])
                runs.append(None if key[3] is None else str(key[3]))
            index, last = found, key
        s.append(index)
    wire_values = list(map(_value_of, points))
    exact: dict[str, list[Any]] = {}
    encode = values.encode_value
    for i, value in enumerate(wire_values):
        if type(value) is float and _isfinite(value) and (value != 0.0 or str(value)[0] != "-"):
            continue
        if value is None:  # the JSON value null, which an import keeps: read as stored
            exact[str(i)] = [values.JSON, "null"]
            continue
        kind, number, text = encode(value)
        wire = wire_values[i] = _wire_value(kind, number, text)
        if wire is None:
            exact[str(i)] = [kind, _exact_text(kind, number, text)]
    ids = {
        str(i): str(explicit)
        for i, explicit in enumerate(map(_explicit_id_of, points))
        if explicit is not None
    }
    document = {
        "series": series,
        "s": s,
        "ordinal": list(map(_ordinal_of, points)),
        "step": list(map(_step_of, points)),
        "value": wire_values,
        "timestamp": list(map(_timestamp_of, points)),
        "exact": exact,
        "ids": ids,
    }
    if runs.count(None) != len(runs):
        document["runs"] = runs
    superseded = list(compress(range(len(points)), map(_superseded_of, points)))
    if superseded:  # only in a read that asks for them
        document["superseded"] = superseded
    return document


_series_of = attrgetter("model_id", "name", "phase", "run_id")
_value_of = attrgetter("value")
_ordinal_of = attrgetter("ordinal")
_step_of = attrgetter("step")
_timestamp_of = attrgetter("timestamp")
_explicit_id_of = attrgetter("explicit_id")
_superseded_of = attrgetter("superseded")


def metrics_from_document(document: Mapping[str, Any]) -> list[Metric]:
    """Invert :func:`metrics_document` (on the client, trusting its server)."""
    runs: list[str | None] = document.get("runs") or [None] * len(document["series"])
    series = [
        (UUID(entry[0]), entry[1], entry[2], None if run is None else UUID(run))
        for entry, run in zip(document["series"], runs, strict=True)
    ]
    exact: dict[str, list[Any]] = document.get("exact") or {}
    ids: dict[str, str] = document.get("ids") or {}
    with collector_paused:  # many objects that live on: see ``mltracker.collector``
        built = _metrics_from_columns(document, series, exact, ids)
    for index in document.get("superseded") or ():
        built[index]._superseded = True
    return built


def _metrics_from_columns(
    document: Mapping[str, Any],
    series: list[tuple[UUID, str, str | None, UUID | None]],
    exact: dict[str, list[Any]],
    ids: dict[str, str],
) -> list[Metric]:
    decode = values.decode_value
    built: list[Metric] = []
    append = built.append
    for i, (index, ordinal, step, value, timestamp) in enumerate(
        zip(
            document["s"],
            document["ordinal"],
            document["step"],
            document["value"],
            document["timestamp"],
            strict=True,
        )
    ):
        model_id, name, phase, run_id = series[index]
        if value is None:
            kind, text = exact[str(i)]
            value = decode(kind, None, text)
        elif type(value) is int and value.bit_length() > 64:
            raise InvalidArgumentError(f"point {i}: an int outside the int64 range")
        explicit = ids.get(str(i)) if ids else None
        append(
            Metric(
                name,
                value,
                step,
                phase,
                timestamp,
                ordinal,
                model_id,
                None if explicit is None else UUID(explicit),
                run_id,
            )
        )
    return built


# Restore


def records_document(experiments: Sequence[ExperimentRecord]) -> list[dict[str, Any]]:
    """Experiment records (a whole tree, with ids) for a restore over the wire. A model has
    its ``runs`` (``params_json`` and ``context_json`` as text, as a run's start has them);
    a point, a module and an iteration name their ``run`` (an id, or ``null``)."""

    def module(record: ModuleRecord) -> dict[str, Any]:
        return {
            "id": str(record.id),
            "name": record.name,
            "attributes_json": values.dumps_json(record.attributes, "module attributes"),
            "run": _id_text(record.run),
        }

    def run(record: RunRecord) -> dict[str, Any]:
        return {
            "id": str(record.id),
            "name": record.name,
            "status": record.status,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "heartbeat_at": record.heartbeat_at,
            "timeout": record.timeout,
            "params_json": values.dumps_json(record.params, "run params"),
            "context_json": values.dumps_json(record.context, "run context"),
            "exit": record.exit,
        }

    def metric(record: MetricRecord) -> dict[str, Any]:
        kind, number, text = values.encode_value(record.value)
        wire = _wire_value(kind, number, text)
        return {
            "name": record.name,
            "value": wire,
            "exact": None if wire is not None else [kind, _exact_text(kind, number, text)],
            "step": record.step,
            "phase": record.phase,
            "timestamp": record.timestamp,
            "id": None if record.id is None else str(record.id),
            "run": _id_text(record.run),
        }

    return [
        {
            "id": str(experiment.id),
            "name": experiment.name,
            "models": [
                {
                    "id": str(model.id),
                    "hash": model.hash,
                    "name": model.name,
                    "description": model.description,
                    "step": model.step,
                    "metrics": [metric(point) for point in model.metrics],
                    "modules": [module(part) for part in model.modules],
                    "iterations": [
                        {
                            "id": str(iteration.id),
                            "step": iteration.step,
                            "modules": [module(part) for part in iteration.modules],
                            "run": _id_text(iteration.run),
                        }
                        for iteration in model.iterations
                    ],
                    "runs": [run(record) for record in model.runs],
                }
                for model in experiment.models
            ],
        }
        for experiment in experiments
    ]


def records_from_document(document: Any) -> list[ExperimentRecord]:
    """Invert :func:`records_document`, validating every field.

    Raises:
        InvalidArgumentError: A field is missing or not one the library would take.
    """
    try:
        return [_experiment_record(entry) for entry in _list(document, "experiments")]
    except (KeyError, TypeError, AttributeError) as error:
        raise InvalidArgumentError(f"not a list of experiment records: {error!r}") from None


def _experiment_record(entry: Mapping[str, Any]) -> ExperimentRecord:
    return ExperimentRecord(
        _uuid(entry["id"], "experiment id"),
        values.check_name(entry["name"], "experiment name"),
        [_model_record(model) for model in _list(entry["models"], "models")],
    )


def _model_record(entry: Mapping[str, Any]) -> ModelRecord:
    step = entry["step"]
    return ModelRecord(
        _uuid(entry["id"], "model id"),
        values.check_name(entry["hash"], "model hash"),
        values.check_optional_name(entry["name"], "model name"),
        values.check_text(entry["description"], "model description"),
        None if step is None else values.check_int(step, "model step"),
        [_metric_record(point) for point in _list(entry["metrics"], "metrics")],
        [_module_record(part) for part in _list(entry["modules"], "modules")],
        [
            IterationRecord(
                _uuid(iteration["id"], "iteration id"),
                values.check_int(iteration["step"], "iteration step"),
                [_module_record(part) for part in _list(iteration["modules"], "modules")],
                _optional_uuid(iteration.get("run"), "iteration run"),
            )
            for iteration in _list(entry["iterations"], "iterations")
        ],
        [_run_record(run) for run in _list(entry.get("runs", []), "runs")],
    )


#: The statuses a run record may have (``crashed`` is a reader's judgement, never stored).
_RUN_STATUSES = ("running", "finished", "failed", "killed")


def _run_record(entry: Mapping[str, Any]) -> RunRecord:
    status = entry["status"]
    if status not in _RUN_STATUSES:
        raise InvalidArgumentError(
            f"run status must be one of {', '.join(_RUN_STATUSES)}, not {status!r}"
        )
    return RunRecord(
        _uuid(entry["id"], "run id"),
        values.check_optional_name(entry["name"], "run name"),
        status,
        values.check_timestamp(entry["started_at"], "run start"),
        _optional_time(entry.get("ended_at"), "run end"),
        _optional_time(entry.get("heartbeat_at"), "run heartbeat"),
        _optional_time(entry.get("timeout"), "run timeout"),
        _json_object(entry.get("params_json", "{}"), "params_json") or {},
        _json_object(entry.get("context_json", "{}"), "context_json") or {},
        values.check_text(entry.get("exit"), "run exit"),
    )


def _optional_time(value: Any, what: str) -> float | None:
    return None if value is None else values.check_timestamp(value, what)


def _json_object(text: Any, what: str, value: str | None = None) -> dict[str, Any]:
    """A JSON object sent as text (module attributes, a run's params or context), checked as
    the library checks the ``value`` it stands for (by default: ``what``)."""
    try:
        found = values.loads_json(_text(text, what))
    except ValueError as error:
        raise InvalidArgumentError(f"{what} is not JSON: {error}") from None
    except RecursionError:
        raise InvalidArgumentError(f"{what} is nested too deeply") from None
    values.encode_attributes(found, value or what)
    return found  # type: ignore[no-any-return]


def _metric_record(entry: Mapping[str, Any]) -> MetricRecord:
    kind, number, text = _encoded(entry["value"], entry.get("exact"), "metric record")
    return MetricRecord(
        values.check_name(entry["name"], "metric name"),
        values.decode_value(kind, number, text),
        values.check_step(entry["step"]),
        values.check_optional_name(entry["phase"], "metric phase"),
        values.check_timestamp(entry["timestamp"]),
        _optional_uuid(entry.get("id"), "metric id"),
        _optional_uuid(entry.get("run"), "metric run"),
    )


def _module_record(entry: Mapping[str, Any]) -> ModuleRecord:
    return ModuleRecord(
        _uuid(entry["id"], "module id"),
        values.check_name(entry["name"], "module name"),
        _json_object(entry["attributes_json"], "attributes_json", "attributes"),
        _optional_uuid(entry.get("run"), "module run"),
    )


def report_document(report: RestoreReport) -> dict[str, Any]:
    return {"added": report.added, "skipped": report.skipped, "updated": report.updated}


def report_from_document(document: Mapping[str, Any]) -> RestoreReport:
    return RestoreReport(document["added"], document["skipped"], document.get("updated", {}))


# Small checks


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgumentError(f"{what} must be a list")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string")
    return value


def _uuid(value: Any, what: str) -> UUID:
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidArgumentError(f"{what} must be a UUID, not {value!r}")


def _optional_uuid(value: Any, what: str) -> UUID | None:
    return None if value is None else _uuid(value, what)


def batch_document(row: BatchRow) -> dict[str, Any]:
    """A metric batch a store wrote: ``{"id", "written_at", "writer"}``."""
    return {"id": str(row.id), "written_at": row.written_at, "writer": row.writer}


def batches_from_document(document: Any) -> list[BatchRow]:
    """The batches of a list of :func:`batch_document` documents.

    Raises:
        InvalidArgumentError: A document of another shape.
    """
    try:
        return [
            BatchRow(UUID(entry["id"]), float(entry["written_at"]), entry["writer"])
            for entry in document
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidArgumentError(f"not a list of batches: {error}") from None
