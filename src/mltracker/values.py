"""Validation and storage encoding of names, steps, metric values and attributes.

A metric value is stored as three columns: a kind, a float ``value`` (what charts and SQL
aggregates use) and an optional exact text ``extra``. The text is only written when the float
column cannot hold the value exactly, so the common case costs one float:

=========  ===============================  ==============================================
kind       ``value`` column                 ``extra`` column
=========  ===============================  ==============================================
FLOAT      the float                        ``"nan"`` or ``"-0.0"`` (SQLite keeps neither)
INT        ``float(v)``                     ``str(v)`` when ``|v| > 2**53``
BOOL       0.0 or 1.0                       NULL
JSON       NULL                             the JSON text (NaN and infinities allowed)
=========  ===============================  ==============================================

Everything here raises :class:`~mltracker.errors.InvalidArgumentError` (or its
``TypeError`` child) at the call that was given the bad input.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any, Final

from mltracker.errors import InvalidArgumentError, InvalidTypeError

FLOAT: Final = 0
INT: Final = 1
BOOL: Final = 2
JSON: Final = 3

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
_EXACT_FLOAT_INT: Final = 2**53

EncodedValue = tuple[int, float | None, str | None]

_copysign = math.copysign
_isnan = math.isnan


#: The longest name, in UTF-8 bytes: a name is part of unique indexes, and PostgreSQL's
#: index entries hold at most about 2.7 kB (a metric name and a phase share one entry).
MAX_NAME_BYTES: Final = 1024


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a non-empty ``str`` without NUL that encodes as UTF-8 in at
    most :data:`MAX_NAME_BYTES` bytes."""
    if type(name) is not str:
        if not isinstance(name, str):
            raise InvalidTypeError(f"{what} must be a str, not {type(name).__name__}")
        name = str(name)
    if not name:
        raise InvalidArgumentError(f"{what} must not be empty")
    if "\x00" in name:
        raise InvalidArgumentError(f"{what} must not contain NUL characters: {name!r}")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise InvalidArgumentError(f"{what} is not valid Unicode: {name!r}") from error
    if size > MAX_NAME_BYTES:
        raise InvalidArgumentError(
            f"{what} is {size} bytes long in UTF-8; the limit is {MAX_NAME_BYTES}"
        )
    return name


def check_optional_name(name: object, what: str) -> str | None:
    """Like :func:`check_name`, but ``None`` is allowed."""
    return None if name is None else check_name(name, what)


def check_text(text: object, what: str) -> str | None:
    """Return ``text`` if it is ``None`` or a ``str`` (possibly empty) that a database can hold."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidTypeError(f"{what} must be a str or None, not {type(text).__name__}")
    if "\x00" in text:
        raise InvalidArgumentError(f"{what} must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidArgumentError(f"{what} is not valid Unicode") from error
    return str(text)


def check_step(step: object, what: str = "step") -> int | None:
    """Return ``step`` as an ``int`` in the int64 range, or ``None``."""
    if step is None:
        return None
    return _check_int64(step, what, "an int or None")


def check_int(value: object, what: str) -> int:
    """Return ``value`` as an ``int`` in the int64 range (``None`` refused)."""
    return _check_int64(value, what, "an int")


def _check_int64(value: object, what: str, expected: str) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise InvalidTypeError(f"{what} must be {expected}, not {type(value).__name__}")
        try:
            value = int(value.__index__())
        except (TypeError, ValueError) as error:
            raise InvalidTypeError(f"{what} must be {expected}: {error}") from None
    assert isinstance(value, int)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgumentError(f"{what} {value} is outside the int64 range")
    return value


def check_timestamp(timestamp: object, what: str = "timestamp") -> float:
    """Return ``timestamp`` (seconds since the Unix epoch: an ``int`` or a ``float``,
    NumPy's included) as a finite ``float``."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise InvalidTypeError(
            f"{what} must be a float or an int (seconds since the Unix epoch), "
            f"not {type(timestamp).__name__}"
        )
    try:
        seconds = float(timestamp)
    except (OverflowError, TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f"{what} {timestamp!r} is not a usable number: {error}"
        ) from None
    if not math.isfinite(seconds):
        raise InvalidArgumentError(f"{what} must be finite, not {timestamp!r}")
    return seconds


def _scalar(value: Any, what: str) -> Any:
    """Unwrap a NumPy scalar or a 0-d array or tensor into the Python number it holds.

    A scalar that ``item()`` cannot turn into a Python object (NumPy's ``longdouble`` and
    ``clongdouble``) is taken as a ``float`` when a ``float`` holds it exactly, else refused.
    """
    if getattr(value, "ndim", None) != 0 or not hasattr(value, "item"):
        return value
    try:
        item = value.item()
    except Exception as error:  # noqa: BLE001 - a meta tensor, say: it holds no value
        raise InvalidArgumentError(f"{what} has no value to read: {error}") from None
    if item is value or type(item) is type(value):
        return _exact_float(item, what)
    return item


def _exact_float(number: Any, what: str) -> float:
    kind = getattr(getattr(number, "dtype", None), "kind", None)
    name = type(number).__name__
    if kind == "c":
        raise InvalidTypeError(f"{what} is a complex number ({name}), which cannot be stored")
    if kind != "f":
        raise InvalidTypeError(f"{what} contains a {name}, which cannot be stored")
    as_float = float(number)
    if as_float == number or (as_float != as_float and number != number):
        return as_float
    raise InvalidArgumentError(
        f"{what} {number!r} is a {name} that a float cannot hold exactly: "
        "convert it with float() to store it rounded"
    )


def encode_value(value: Any) -> EncodedValue:
    """Encode a metric value for storage; see the module docstring for the layout."""
    kind = type(value)
    if kind is float:
        if value == value and (value != 0.0 or _copysign(1.0, value) > 0):
            return FLOAT, value, None
        return FLOAT, (None if _isnan(value) else 0.0), repr(value)
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            if -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT:
                return INT, float(value), None
            return INT, float(value), str(value)
        raise InvalidArgumentError(f"metric value {value} is outside the int64 range")
    if kind is bool:
        return BOOL, float(value), None
    if value is None:
        raise InvalidTypeError("metric value must not be None")
    unwrapped = _scalar(value, "metric value")
    if unwrapped is not value:
        return encode_value(unwrapped)
    if isinstance(value, bool):
        return encode_value(bool(value))
    if isinstance(value, int):
        return encode_value(int(value))
    if isinstance(value, float):
        return encode_value(float(value))
    return JSON, None, dumps_json(value, "metric value")


def decode_value(kind: int, value: float | None, extra: str | None) -> Any:
    """Invert :func:`encode_value`."""
    if kind == FLOAT:
        if extra is None:
            return value if value is not None else math.nan
        return float(extra)
    if kind == INT:
        return int(extra) if extra is not None else int(value)  # type: ignore[arg-type]
    if kind == BOOL:
        return bool(value)
    return loads_json(extra)  # type: ignore[arg-type]


def _check_json(value: Any, what: str, depth: int = 0) -> Any:
    """Return ``value`` with NumPy scalars unwrapped, or refuse what JSON cannot round-trip."""
    if depth > 200:
        raise InvalidArgumentError(f"{what} is nested too deeply")
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        if kind is str:
            check_text(value, what)
        return value
    if kind is dict or isinstance(value, Mapping):
        checked = {}
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidTypeError(
                    f"{what} keys must be str, not {type(key).__name__}: {key!r}"
                )
            check_text(key, f"{what} key")
            checked[key] = _check_json(item, what, depth + 1)
        return checked
    if kind is list:
        return [_check_json(item, what, depth + 1) for item in value]
    unwrapped = _scalar(value, what)
    if unwrapped is not value:
        return _check_json(unwrapped, what, depth)
    for base in (str, int, float):
        if isinstance(value, base):
            return _check_json(base(value), what, depth)
    if isinstance(value, tuple):
        raise InvalidTypeError(
            f"{what} contains a tuple, which would come back as a list: use a list"
        )
    raise InvalidTypeError(f"{what} contains a {kind.__name__}, which is not JSON-serialisable")


def dumps_json(value: Any, what: str) -> str:
    """Serialise a JSON value exactly (NaN and infinities kept), or raise a typed error."""
    return json.dumps(_check_json(value, what), ensure_ascii=True, separators=(",", ":"))


def loads_json(text: str) -> Any:
    """Parse what :func:`dumps_json` wrote."""
    return json.loads(text)


def encode_attributes(attributes: object, what: str = "attributes") -> str:
    """Validate module attributes, or a run's params or context (``what``; ``None`` means
    ``{}``), and return their JSON text."""
    if attributes is None:
        return "{}"
    if not isinstance(attributes, Mapping):
        raise InvalidTypeError(f"{what} must be a dict, not {type(attributes).__name__}")
    return dumps_json(attributes, what)
