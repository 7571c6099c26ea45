"""System metrics of runs (opt-in): a sampler thread per run writes CPU, memory, disk and
network series in phase ``system`` through the writer, stops with the run, says once when
GPUs cannot be sampled, and never raises into training. The GPU path runs where NVML finds
a GPU."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import mltracker
from mltracker.ports.metrics import NO_PHASE
from mltracker.system import sampler as sampler_module
from mltracker.system.gpus import GpusUnavailable, open_gpus

pytest.importorskip("psutil", reason="needs psutil: pip install 'mltracker[system]'")

INTERVAL = "0.05"


@pytest.fixture(autouse=True)
def _fast_and_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACKER_SYSTEM_METRICS_INTERVAL", INTERVAL)
    monkeypatch.delenv("MLTRACKER_SYSTEM_METRICS", raising=False)
    monkeypatch.setattr(sampler_module, "_said", set())


def wait_for_samples(run: mltracker.ports.Model, count: int) -> None:
    sampler = run._handle.sampler  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while sampler.samples < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.samples >= count


def test_a_run_samples_the_system_into_phase_system(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with mltracker.connect(tmp_path / "s.db", system_metrics=True) as tracker:
        model = tracker.experiments.get_or_create("e").models.get_or_create("m")
        with model.runs.start(name="train") as run:
            run.metrics.log("loss", 0.5, step=0)
            wait_for_samples(run, 3)
        sampler = run._handle.sampler
        assert sampler is not None
        sampler.stop(wait=5)
        assert not sampler.alive  # it stopped with the run
        samples = sampler.samples

        points = model.metrics.list(phase="system", run=run)
        names = {p.name for p in points}
        assert {"cpu_percent", "memory_percent", "memory_used_mb", "process_rss_mb"} <= names
        cpu = [p for p in points if p.name == "cpu_percent"]
        assert [p.step for p in cpu] == list(range(samples))
        assert all(0.0 <= p.value <= 100.0 for p in cpu)
        assert [p.name for p in model.metrics.list(phase=NO_PHASE)] == ["loss"]

        (module,) = run.modules.list()
        assert module.name == "system_metrics"
        assert module.attributes["host"] == run.reload().host
        assert module.attributes["rank"] == 0
        assert module.attributes["interval"] == float(INTERVAL)
        time.sleep(0.2)
    assert len(model.metrics.list(phase="system", run=run)) == len(points)  # none after the end
    try:
        nvml, _gpus = open_gpus()
    except GpusUnavailable:
        assert module.attributes["gpu"].startswith("not sampled: ")
        err = capfd.readouterr().err
        assert err.count("GPU metrics are not sampled") == 1
    else:
        assert module.attributes["gpu"] == "sampled"


def test_off_by_default_on_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mltracker.connect(tmp_path / "s.db") as tracker:
        model = tracker.experiments.get_or_create("e").models.get_or_create("m")
        with model.runs.start() as off:
            assert off._handle.sampler is None
        monkeypatch.setenv("MLTRACKER_SYSTEM_METRICS", "1")
        with model.runs.start() as on:
            wait_for_samples(on, 1)
        with model.runs.start(system_metrics=False) as refused:
            assert refused._handle.sampler is None
        model.metrics.log("loss", 1.0)  # an implicit run samples too
        implicit = model.runs.current
        assert implicit._handle.sampler is not None
        implicit.finish()
        assert {p.run_id for p in model.metrics.list(phase="system")} <= {on.id, implicit.id}


def test_without_psutil_the_run_goes_on_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    with mltracker.connect(tmp_path / "s.db", system_metrics=True) as tracker:
        model = tracker.experiments.get_or_create("e").models.get_or_create("m")
        for _ in range(2):
            with model.runs.start() as run:
                run.metrics.log("loss", 1.0)
        assert run.reload().status == "finished"
    assert capfd.readouterr().err.count("pip install 'mltracker[system]'") == 1


def test_a_failing_sampler_never_reaches_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(self: object) -> dict[str, float]:
        raise OSError("no /proc here")

    monkeypatch.setattr(sampler_module._Probe, "sample", broken)
    with mltracker.connect(tmp_path / "s.db", system_metrics=True) as tracker:
        model = tracker.experiments.get_or_create("e").models.get_or_create("m")
        with model.runs.start() as run:
            sampler = run._handle.sampler
            deadline = time.monotonic() + 30
            while sampler.alive and time.monotonic() < deadline:
                time.sleep(0.01)
            run.metrics.log("loss", 1.0)
        assert run.reload().status == "finished"
    assert "system metrics stopped" in capfd.readouterr().err


def nvml_gpus() -> int:
    try:
        nvml, gpus = open_gpus()
    except GpusUnavailable:
        return 0
    return len(gpus)


@pytest.mark.skipif(nvml_gpus() == 0, reason="no NVIDIA GPU, driver or nvidia-ml-py here")
def test_gpus_are_sampled(tmp_path: Path) -> None:
    with mltracker.connect(tmp_path / "s.db", system_metrics=True) as tracker:
        model = tracker.experiments.get_or_create("e").models.get_or_create("m")
        with model.runs.start() as run:
            wait_for_samples(run, 2)
        names = {p.name for p in model.metrics.list(phase="system", run=run)}
    assert "gpu0/memory_used_mb" in names
    (module,) = run.modules.list()
    assert module.attributes["gpu"] == "sampled"
    assert module.attributes["gpus"][0]["series"] == "gpu0"


def test_cuda_visible_devices_picks_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    with pytest.raises(GpusUnavailable):
        open_gpus()


def test_the_torch_integration_asks_for_them(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="needs torch")
    from mltracker.integrations.torch import track

    with mltracker.connect(tmp_path / "s.db") as tracker:
        experiment = tracker.experiments.get_or_create("e")
        model = track(experiment, torch.nn.Linear(2, 1), system_metrics=True)
        run = model.runs.current
        wait_for_samples(run, 1)
        run.finish()
        assert not track(experiment, torch.nn.Linear(2, 1)).runs.current._handle.sampler
