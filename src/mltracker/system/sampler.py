"""The sampler of one run: a daemon thread that queues the system's figures as points of
the run, in phase ``system``, every interval, through the session's metric writer (the
queue of ``metrics.log``), until the run ends.

Series (step: the sample's number, from 0):

- ``cpu_percent``: the machine's CPU use since the last sample (100 = every core);
  ``memory_percent``, ``memory_used_mb``: the machine's memory in use; ``process_rss_mb``:
  the memory of this process;
- ``disk_read_mb``, ``disk_write_mb``, ``net_sent_mb``, ``net_recv_mb``: the machine's disk
  and network traffic since the run started (left out where the system does not count it);
- per GPU (see ``mltracker.system.gpus``): ``gpu0/util``, ``gpu0/memory_used_mb``,
  ``gpu0/memory_percent``, ``gpu0/temperature``, ``gpu0/power_w``.

Where it samples is a module of the run, ``system_metrics``: host, rank (``$RANK``, else
``$SLURM_PROCID``, else 0), local rank, interval, CPU count, memory, the GPUs sampled, and
``gpu``: ``sampled``, or why not. When GPUs cannot be sampled (no ``nvidia-ml-py``, no
driver) that reason is also said once on stderr, for the process. Nothing here ever raises
into the training loop: a failure of the sampler stops the sampler, said once on stderr.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from mltracker import values
from mltracker.operations import LogModule, new_id
from mltracker.ports.store import ModuleOwner, Series
from mltracker.system import PHASE
from mltracker.system.gpus import Gpu, GpusUnavailable, close, open_gpus, sample

if TYPE_CHECKING:
    from mltracker.writer import MetricWriter

_MB = 1024 * 1024

#: What was said on stderr already (once per process each).
_said: set[str] = set()
_said_lock = threading.Lock()


def _say_once(key: str, message: str) -> None:
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    try:
        print(f"mltracker: {message}", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001, S110 - a closed stderr is no reason to fail
        pass


def _rank() -> tuple[int, int]:
    def number(*names: str) -> int:
        for name in names:
            raw = os.environ.get(name, "").strip()
            if raw.isdigit():
                return int(raw)
        return 0

    return number("RANK", "SLURM_PROCID"), number("LOCAL_RANK", "SLURM_LOCALID")


class SystemSampler:
    """Samples the system for one run (see the module's docstring)."""

    def __init__(self, writer: MetricWriter, model_id: UUID, run_id: UUID, interval: float) -> None:
        self._writer = writer
        self._model_id = model_id
        self._run_id = run_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._series: dict[str, Series] = {}
        self._step = 0
        #: CPU seconds the sampler's thread has used (for measuring its cost).
        self.cpu_seconds = 0.0
        self.samples = 0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="mltracker-system-metrics", daemon=True
        )
        self._thread.start()

    def stop(self, wait: float = 0.0) -> None:
        """Stop sampling (the thread ends within ``wait`` seconds, or on its own soon after)."""
        self._stop.set()
        thread = self._thread
        if wait > 0 and thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        began = time.thread_time()
        try:
            probe = _Probe()
            self._describe(probe)
            self.cpu_seconds = time.thread_time() - began
            while not self._stop.wait(self.interval):
                began = time.thread_time()
                self._queue(probe.sample())
                self.cpu_seconds += time.thread_time() - began
            probe.close()
        except Exception as error:  # noqa: BLE001 - never into the training loop
            _say_once(
                f"failed:{type(error).__name__}",
                f"system metrics stopped for run {self._run_id}: {type(error).__name__}: {error}",
            )

    def _describe(self, probe: _Probe) -> None:
        rank, local_rank = _rank()
        attributes = {
            "host": socket.gethostname(),
            "rank": rank,
            "local_rank": local_rank,
            "interval": self.interval,
            **probe.description,
        }
        operation = LogModule(
            new_id(),
            ModuleOwner("run", self._run_id),
            "system_metrics",
            values.encode_attributes(attributes),
        )
        self._writer.submit(operation, wait=False)

    def _queue(self, figures: dict[str, float]) -> None:
        now = time.time()
        step = self._step
        self._step += 1
        self.samples += 1
        append = self._writer.append
        for name, value in figures.items():
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = Series(self._model_id, name, PHASE, self._run_id)
            kind, number, text = values.encode_value(float(value))
            append((series, step, kind, number, text, now))


class _Probe:
    """What a sample reads: psutil, and NVML where it can."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.process = psutil.Process()
        psutil.cpu_percent(None)  # the first call only starts the count
        self.disk0 = self._disk()
        self.net0 = self._net()
        memory = psutil.virtual_memory()
        self.description: dict[str, Any] = {
            "cpus": psutil.cpu_count(),
            "memory_total_mb": round(memory.total / _MB),
        }
        self.nvml: Any = None
        self.gpus: list[Gpu] = []
        try:
            self.nvml, self.gpus = open_gpus()
        except GpusUnavailable as reason:
            self.description["gpu"] = f"not sampled: {reason}"
            _say_once("gpu", f"GPU metrics are not sampled: {reason}")
        else:
            self.description["gpu"] = "sampled"
            self.description["gpus"] = [
                {"series": gpu.label, **gpu.description} for gpu in self.gpus
            ]

    def _disk(self) -> Any:
        try:
            return self.psutil.disk_io_counters()
        except Exception:  # noqa: BLE001 - not counted here (a container, say)
            return None

    def _net(self) -> Any:
        try:
            return self.psutil.net_io_counters()
        except Exception:  # noqa: BLE001
            return None

    def sample(self) -> dict[str, float]:
        psutil = self.psutil
        memory = psutil.virtual_memory()
        figures = {
            "cpu_percent": psutil.cpu_percent(None),
            "memory_percent": memory.percent,
            "memory_used_mb": (memory.total - memory.available) / _MB,
            "process_rss_mb": self.process.memory_info().rss / _MB,
        }
        disk = self._disk()
        if disk is not None and self.disk0 is not None:
            figures["disk_read_mb"] = (disk.read_bytes - self.disk0.read_bytes) / _MB
            figures["disk_write_mb"] = (disk.write_bytes - self.disk0.write_bytes) / _MB
        net = self._net()
        if net is not None and self.net0 is not None:
            figures["net_sent_mb"] = (net.bytes_sent - self.net0.bytes_sent) / _MB
            figures["net_recv_mb"] = (net.bytes_recv - self.net0.bytes_recv) / _MB
        for gpu in self.gpus:
            for name, value in sample(self.nvml, gpu).items():
                figures[f"{gpu.label}/{name}"] = value
        return figures

    def close(self) -> None:
        if self.nvml is not None:
            close(self.nvml)


def start_sampler(
    writer: MetricWriter, model_id: UUID, run_id: UUID, interval: float
) -> SystemSampler | None:
    """A running sampler for a run, or ``None`` (said once on stderr) when ``psutil`` is
    missing; never raises."""
    try:
        import psutil  # noqa: F401 - checked here, used by the thread
    except ImportError:
        _say_once(
            "psutil",
            "system metrics need psutil, which is not installed: pip install 'mltracker[system]'",
        )
        return None
    try:
        sampler = SystemSampler(writer, model_id, run_id, interval)
        sampler.start()
    except Exception as error:  # noqa: BLE001 - never into the training loop
        _say_once("start", f"system metrics cannot start: {error}")
        return None
    return sampler
