"""Settings of any kind (hyper-parameters, configs, optimizer groups) as module attributes.

Module attributes are JSON values. :func:`to_attributes` turns what trainers hand over
(``argparse.Namespace``, dataclasses, configs with ``to_dict()``, tensors, NumPy values, enums,
paths, classes) into them, so that logging hyper-parameters never fails on a value MLTracker
cannot store: what has no JSON form is kept as its ``repr``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import math
import os
from collections.abc import Mapping
from typing import Any, Final

#: Arrays and tensors up to this many elements are kept as (nested) lists; larger ones (and
#: those without values, like meta tensors) as a short description, e.g.
#: ``"Tensor(shape=[1000, 10], dtype=torch.float32)"``.
MAX_ARRAY_ELEMENTS: Final = 64
_MAX_DEPTH: Final = 32


def to_attributes(settings: object) -> dict[str, Any]:
    """``settings`` (a mapping, a ``Namespace``, a dataclass or an object with ``to_dict()``)
    as a ``dict`` of JSON values; anything else is wrapped as ``{"value": ...}``."""
    value = to_json(settings)
    return value if isinstance(value, dict) else {"value": value}


def to_json(value: object, depth: int = 0) -> Any:
    """A JSON value for ``value``: numbers, strings, booleans and ``None`` as they are (NaN
    and infinities too), mappings as dicts with ``str`` keys, sequences and sets as lists,
    0-d tensors and NumPy scalars as numbers, small arrays as lists, enums as their value,
    paths as strings, classes and functions as their qualified name, dataclasses,
    ``Namespace`` and objects with ``to_dict()`` as dicts, anything else as its ``repr``."""
    if isinstance(value, enum.Enum):
        return to_json(value.value, depth + 1) if depth <= _MAX_DEPTH else repr(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if depth > _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, argparse.Namespace):
        return to_json(vars(value), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        return to_json(fields, depth + 1)
    if isinstance(value, list | tuple):
        return [to_json(item, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((to_json(item, depth + 1) for item in value), key=repr)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", repr(value))
        return f"{module}.{name}" if module and module != "builtins" else name
    array = _array(value, depth)
    if array is not _NOT_AN_ARRAY:
        return array
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_json(to_dict(), depth + 1)
        except Exception:  # noqa: BLE001 - a to_dict() that fails: fall back to repr
            pass
    return repr(value)


_NOT_AN_ARRAY: Final = object()


def _array(value: object, depth: int) -> Any:
    """A tensor's or NumPy array's (or scalar's) JSON form, or ``_NOT_AN_ARRAY``."""
    shape = getattr(value, "shape", None)
    tolist = getattr(value, "tolist", None)
    if shape is None or not callable(tolist):
        return _NOT_AN_ARRAY
    try:
        size = math.prod(int(n) for n in shape)
    except TypeError:
        return _NOT_AN_ARRAY
    dims = [int(n) for n in shape]
    description = f"{type(value).__name__}(shape={dims}, dtype={getattr(value, 'dtype', '?')})"
    if size > MAX_ARRAY_ELEMENTS:
        return description
    try:
        listed = tolist()
    except Exception:  # noqa: BLE001 - a meta tensor, say: a shape without values
        return description
    return to_json(listed, depth + 1)
