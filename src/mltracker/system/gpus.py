"""The NVIDIA GPUs a process may use, read through NVML (``nvidia-ml-py``).

Only the GPUs of ``$CUDA_VISIBLE_DEVICES`` are sampled (indices, ``GPU-`` or ``MIG-`` UUIDs,
in its order; all of them when it is not set, none when it is empty or ``-1``), each named
``gpu<N>`` by its place in that list, as CUDA numbers them. A GPU in MIG mode counts as its
MIG instances (``gpu<N>`` each): NVML gives their memory, not their utilisation, power or
temperature, so those series are left out for them. A figure NVML does not give for a
device (``NotSupported``) is left out from then on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_MB = 1024 * 1024


@dataclass
class Gpu:
    """A device to sample: its name in the series (``gpu0``), NVML handle and kind."""

    label: str
    handle: Any
    mig: bool
    description: dict[str, Any]
    unsupported: set[str] = field(default_factory=set)


class GpusUnavailable(Exception):
    """GPUs cannot be sampled; the message says why."""


def _visible() -> list[str] | None:
    """The entries of ``$CUDA_VISIBLE_DEVICES`` (``None``: not set, every GPU)."""
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    chosen = []
    for entry in entries:
        if entry.lstrip("-").isdigit() and int(entry) < 0:
            break  # CUDA stops at the first invalid index
        chosen.append(entry)
    return chosen


def open_gpus() -> tuple[Any, list[Gpu]]:
    """NVML and the GPUs to sample.

    Raises:
        GpusUnavailable: No ``nvidia-ml-py``, no driver, or no visible GPU (the message says
            which).
    """
    try:
        import pynvml
    except ImportError:
        raise GpusUnavailable(
            "nvidia-ml-py is not installed (pip install 'mltracker[system]')"
        ) from None
    try:
        pynvml.nvmlInit()
    except Exception as error:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        raise GpusUnavailable(f"NVML cannot start (no NVIDIA driver?): {error}") from None
    try:
        devices = _devices(pynvml)
    except Exception as error:  # noqa: BLE001
        _shutdown(pynvml)
        raise GpusUnavailable(f"NVML cannot list the GPUs: {error}") from None
    visible = _visible()
    if visible is not None:
        by_key: dict[str, tuple[Any, bool, dict[str, Any]]] = {}
        for handle, mig, description in devices:
            by_key[description["uuid"]] = (handle, mig, description)
            if not mig:
                by_key[str(description["index"])] = (handle, mig, description)
        chosen = []
        for entry in visible:
            found = by_key.get(entry)
            if found is None:  # a UUID may be given by a prefix, as CUDA allows
                found = next(
                    (value for key, value in by_key.items() if key.startswith(entry)), None
                )
            if found is not None:
                chosen.append(found)
        devices = chosen
    gpus = [
        Gpu(f"gpu{number}", handle, mig, description)
        for number, (handle, mig, description) in enumerate(devices)
    ]
    if not gpus:
        _shutdown(pynvml)
        listed = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = "" if visible is None else f" among CUDA_VISIBLE_DEVICES={listed!r}"
        raise GpusUnavailable(f"no NVIDIA GPU{where}")
    return pynvml, gpus


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _devices(nvml: Any) -> list[tuple[Any, bool, dict[str, Any]]]:
    """Every device: a GPU, or the MIG instances of a GPU in MIG mode."""
    found: list[tuple[Any, bool, dict[str, Any]]] = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = _text(nvml.nvmlDeviceGetName(handle))
        uuid = _text(nvml.nvmlDeviceGetUUID(handle))
        migs = []
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
            if current == nvml.NVML_DEVICE_MIG_ENABLE:
                for slot in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
                    try:
                        mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                    except nvml.NVMLError:
                        continue
                    migs.append(mig)
        except nvml.NVMLError:  # no MIG on this GPU
            pass
        if not migs:
            found.append((handle, False, {"index": index, "name": name, "uuid": uuid}))
            continue
        for slot, mig in enumerate(migs):
            description = {
                "index": index,
                "mig": slot,
                "name": name,
                "uuid": _text(nvml.nvmlDeviceGetUUID(mig)),
                "parent_uuid": uuid,
            }
            found.append((mig, True, description))
    return found


def _shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001, S110 - nothing to do about it
        pass


def sample(nvml: Any, gpu: Gpu) -> dict[str, float]:
    """The figures of one device now: ``util`` (%), ``memory_used_mb``, ``memory_percent``,
    ``temperature`` (°C), ``power_w``; those NVML does not give are left out."""
    figures: dict[str, float] = {}

    def read(name: str, getter: Callable[[], dict[str, float]]) -> None:
        if name in gpu.unsupported:
            return
        try:
            figures.update(getter())
        except nvml.NVMLError_NotSupported:
            gpu.unsupported.add(name)
        except nvml.NVMLError:
            pass  # a passing failure: this sample goes without it

    handle = gpu.handle

    def memory() -> dict[str, float]:
        info = nvml.nvmlDeviceGetMemoryInfo(handle)
        return {
            "memory_used_mb": info.used / _MB,
            "memory_percent": 100.0 * info.used / info.total if info.total else 0.0,
        }

    read("memory", memory)
    if gpu.mig:
        return figures
    read("util", lambda: {"util": float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)})
    read(
        "temperature",
        lambda: {
            "temperature": float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        },
    )
    read("power", lambda: {"power_w": nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0})
    return figures


def close(nvml: Any) -> None:
    """Let NVML go."""
    _shutdown(nvml)
