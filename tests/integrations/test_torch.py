"""``mltracker.integrations.torch``: the model hash, the modules, the optimizer, tensor values."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip(
    "torch", reason="the torch extra is not installed: pip install '.[torch]'"
)

import numpy  # noqa: E402
from torch import nn  # noqa: E402

import mltracker  # noqa: E402
from mltracker import InvalidArgumentError, InvalidTypeError, MLTrackerError  # noqa: E402
from mltracker.integrations.attributes import to_attributes  # noqa: E402
from mltracker.integrations.torch import (  # noqa: E402
    ROOT_MODULE,
    log_metrics,
    log_optimizer,
    model_hash,
    module_attributes,
    modules_of,
    optimizer_attributes,
    scalars,
    scheduler_attributes,
    track,
)
from tests.integrations.nets import mlp  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


# -- model_hash ------------------------------------------------------------------------------


def test_model_hash_is_16_hex_digits() -> None:
    digest = model_hash(mlp())
    assert len(digest) == 16 and int(digest, 16) >= 0


def test_model_hash_ignores_weights_mode_and_requires_grad() -> None:
    torch.manual_seed(0)
    first = mlp()
    torch.manual_seed(1)
    second = mlp()
    assert not torch.equal(first[0].weight, second[0].weight)
    second.eval()
    second.requires_grad_(False)
    assert model_hash(first) == model_hash(second)


def test_model_hash_survives_training() -> None:
    net = mlp()
    before = model_hash(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    net(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    assert model_hash(net) == before


def _changed(build: object) -> nn.Module:
    assert callable(build)
    module = build()
    assert isinstance(module, nn.Module)
    return module


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: mlp(hidden=9), id="hidden-size"),
        pytest.param(lambda: mlp(activation=nn.GELU), id="layer-type"),
        pytest.param(lambda: mlp(dropout=0.2), id="layer-setting"),
        pytest.param(lambda: mlp().double(), id="dtype"),
        pytest.param(lambda: nn.Sequential(*mlp()[:3], nn.BatchNorm1d(8), mlp()[4]), id="buffers"),
        pytest.param(
            lambda: nn.Sequential(
                *mlp()[:3], nn.BatchNorm1d(8, track_running_stats=False), mlp()[4]
            ),
            id="buffers-removed",
        ),
        pytest.param(
            lambda: nn.Sequential(nn.Linear(4, 8, bias=False), *mlp()[1:]), id="parameter-removed"
        ),
        pytest.param(
            lambda: nn.ModuleDict({"first": mlp()[0], "rest": nn.Sequential(*mlp()[1:])}),
            id="names",
        ),
    ],
)
def test_model_hash_changes_with_the_architecture(build: object) -> None:
    assert model_hash(_changed(build)) != model_hash(mlp())


def test_model_hash_takes_extra_settings() -> None:
    net = mlp()
    assert model_hash(net, extra={"lr": 0.1}) != model_hash(net)
    assert model_hash(net, extra={"lr": 0.1}) != model_hash(net, extra={"lr": 0.2})
    assert model_hash(net, extra={"lr": 0.1, "seed": 1}) == model_hash(
        mlp(), extra={"seed": 1, "lr": 0.1}
    )


def test_model_hash_looks_through_data_parallel() -> None:
    net = mlp()
    assert model_hash(nn.DataParallel(net)) == model_hash(net)


def test_model_hash_refuses_what_is_not_a_module() -> None:
    with pytest.raises(mltracker.InvalidTypeError, match="nn.Module"):
        model_hash("mlp")  # type: ignore[arg-type]


PROBE = """
import json, torch
from mltracker.integrations.torch import model_hash
from tests.integrations.nets import mlp, tiny_bert
torch.manual_seed({seed})
print(json.dumps([model_hash(mlp()), model_hash(mlp(hidden=12)), model_hash(tiny_bert())]))
"""


@pytest.mark.slow
def test_model_hash_is_the_same_in_another_process() -> None:
    pytest.importorskip("transformers", reason="the transformers extra is not installed")
    from tests.integrations.nets import tiny_bert

    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(seed=1234)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONHASHSEED": "random", "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    here = [model_hash(mlp()), model_hash(mlp(hidden=12)), model_hash(tiny_bert())]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == here


# -- modules ---------------------------------------------------------------------------------


def test_module_attributes_give_type_and_settings() -> None:
    assert module_attributes(nn.Linear(4, 2)) == {
        "type": "Linear",
        "in_features": 4,
        "out_features": 2,
        "extra_repr": "in_features=4, out_features=2, bias=True",
        "parameters": {"weight": [2, 4], "bias": [2]},
    }
    assert module_attributes(nn.Dropout(0.25)) == {
        "type": "Dropout",
        "p": 0.25,
        "inplace": False,
        "extra_repr": "p=0.25, inplace=False",
    }


def test_module_attributes_of_lazy_and_buffered_modules() -> None:
    lazy = module_attributes(nn.LazyLinear(3))
    assert lazy["parameters"] == {"weight": "uninitialized", "bias": "uninitialized"}
    norm = module_attributes(nn.BatchNorm1d(5))
    assert norm["buffers"] == {"running_mean": [5], "running_var": [5], "num_batches_tracked": []}
    assert model_hash(nn.LazyLinear(3)) == model_hash(nn.LazyLinear(3))


def test_modules_of_records_the_root_own_tensors() -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))
            self.register_buffer("shift", torch.zeros(3))
            self.inner = nn.Linear(3, 3)

    modules = dict(modules_of(Scaled()))
    assert list(modules) == [ROOT_MODULE, "inner"]
    assert modules[ROOT_MODULE] == {
        "type": "Scaled",
        "parameters": {"scale": [3]},
        "buffers": {"shift": [3]},
    }
    assert ROOT_MODULE not in dict(modules_of(mlp()))  # a root without tensors of its own


def test_modules_of_names_every_descendant() -> None:
    net = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    assert [name for name, _ in modules_of(net)] == ["0", "0.0", "0.1", "1"]
    assert [attributes["type"] for _, attributes in modules_of(net)] == [
        "Sequential",
        "Linear",
        "ReLU",
        "Linear",
    ]


# -- track -----------------------------------------------------------------------------------


def test_track_creates_the_model_with_its_modules(uri: str) -> None:
    net = mlp()
    model = track(mltracker.get_experiment("torch", uri), net)
    assert model.hash == model_hash(net)
    assert model.name == "Sequential"
    assert model.description == "Sequential with 74 parameters"
    stored = mltracker.get_experiment("torch", uri).models.read(model.hash)
    assert stored is not None
    assert [(m.name, m.attributes) for m in stored.modules.list()] == list(modules_of(net))


def test_track_again_continues_the_model(uri: str) -> None:
    experiment = mltracker.get_experiment("torch", uri)
    first = track(experiment, mlp(), name="mine")
    first.step = 7
    torch.manual_seed(3)
    again = track(experiment, mlp(), name="other name")  # other weights, same architecture
    assert again.id == first.id and again.step == 7 and again.name == "mine"
    assert len(again.modules.list()) == len(list(modules_of(mlp())))
    assert track(experiment, mlp(hidden=16)).id != first.id


def test_track_with_a_given_hash(uri: str) -> None:
    model = track(mltracker.get_experiment("torch", uri), mlp(), hash="run-1", description="")
    assert model.hash == "run-1" and model.description == ""


def test_each_track_is_a_run_and_ends_the_last(uri: str) -> None:
    experiment = mltracker.get_experiment("torch", uri)
    first = track(experiment, mlp(), run_name="lr=0.1", params={"lr": 0.1, "seed": None})
    first_run = first.runs.current
    log_metrics(first, {"loss": torch.tensor(1.0)}, step=1)
    first.step = 1
    again = track(experiment, mlp(), extra=None, run_name="lr=0.2", params={"lr": 0.2})
    log_metrics(again, {"loss": torch.tensor(0.5)}, step=again.step + 1)
    ran = again.runs.list()
    assert [(r.name, r.params, r.status) for r in ran] == [
        ("lr=0.1", {"lr": 0.1, "seed": None}, "finished"),
        ("lr=0.2", {"lr": 0.2}, "running"),
    ]
    assert ran[0].id == first_run.id and again.runs.current.id == ran[1].id
    assert [[p.step for p in again.metrics.list("loss", run=r)] for r in ran] == [[1], [2]]


def test_a_sweep_over_one_architecture_is_one_model(uri: str) -> None:
    experiment = mltracker.get_experiment("torch", uri)
    for lr in (0.1, 0.2, 0.3):
        track(experiment, mlp(), params={"lr": lr})
    (model,) = experiment.models.list()
    assert [r.params["lr"] for r in model.runs.list()] == [0.1, 0.2, 0.3]


def test_a_sweep_with_extra_settings_is_a_model_per_setting(uri: str) -> None:
    experiment = mltracker.get_experiment("torch", uri)
    tracked = [track(experiment, mlp(), extra={"lr": lr}) for lr in (0.1, 0.2)]
    assert [m.hash for m in tracked] == [model_hash(mlp(), {"lr": lr}) for lr in (0.1, 0.2)]
    models = experiment.models.list()
    assert [[r.params for r in m.runs.list()] for m in models] == [[{"lr": 0.1}], [{"lr": 0.2}]]


def test_track_refuses_params_that_are_not_a_mapping(sqlite_uri: str) -> None:
    with pytest.raises(InvalidTypeError, match="params must be a mapping"):
        track(mltracker.get_experiment("torch", sqlite_uri), mlp(), params=[0.1])  # type: ignore[arg-type]


#: A loop that logs steps 1 to 5 of a model whose step stays 2, then dies (no exit hooks).
_KILLED_LOOP = """
import os, sys, torch
import mltracker
from mltracker.integrations.torch import log_metrics, track
from tests.integrations.nets import mlp
uri = sys.argv[1]
model = track(mltracker.get_experiment("torch", uri), mlp())
model.step = 2
for step in range(1, 6):
    log_metrics(model, {"loss": torch.tensor(1.0 / step)}, step=step)
mltracker.connect(uri).flush()
os._exit(1)
"""


def test_track_after_a_crash_moves_the_step_to_the_last_one_logged(sqlite_uri: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_LOOP, sqlite_uri],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1, done.stderr[-3000:]
    experiment = mltracker.get_experiment("torch", sqlite_uri)
    crashed = experiment.models.read(model_hash(mlp()))
    assert crashed is not None and crashed.step == 2
    model = track(experiment, mlp())
    assert model.step == 5  # a loop that logs at step + 1 repeats no step
    assert model.runs.list()[0].status != "finished"


# -- optimizer and scheduler -----------------------------------------------------------------


def test_optimizer_attributes_leave_out_the_tensors() -> None:
    net = mlp()
    optimizer = torch.optim.SGD(
        [
            {"params": net[0].parameters(), "lr": 0.1},
            {"params": net[4].parameters(), "lr": 0.01, "momentum": 0.9},
        ],
        lr=0.5,
    )
    attributes = optimizer_attributes(optimizer)
    assert attributes["type"] == "SGD"
    groups = attributes["param_groups"]
    assert [(g["lr"], g["momentum"], g["parameters"]) for g in groups] == [
        (0.1, 0, 2),
        (0.01, 0.9, 2),
    ]
    assert "params" not in groups[0]


def test_log_optimizer_makes_an_iteration(uri: str) -> None:
    net = mlp()
    model = track(mltracker.get_experiment("torch", uri), net)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.8, 0.9))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    log_optimizer(model, optimizer, 0, scheduler=scheduler)
    optimizer.step()
    scheduler.step()
    log_optimizer(model, [optimizer, torch.optim.SGD(net.parameters(), lr=1.0)], 10)

    iterations = model.iterations.list()
    assert [i.step for i in iterations] == [0, 10]
    first = {m.name: m.attributes for m in iterations[0].modules.list()}
    assert first["optimizer"]["param_groups"][0]["betas"] == [0.8, 0.9]
    assert first["lr_scheduler"] == scheduler_attributes(scheduler) | {
        "last_lr": [0.01],
        "last_epoch": 0,
    }
    second = {m.name: m.attributes for m in iterations[1].modules.list()}
    assert second["optimizer"]["param_groups"][0]["lr"] == 0.005
    assert second["optimizer.1"]["type"] == "SGD"


# -- tensors and NumPy scalars as metric values ----------------------------------------------


def test_scalars_read_tensors_as_python_numbers() -> None:
    loss = torch.tensor(0.1, requires_grad=True) * 3
    values = scalars(
        {
            "loss": loss,
            "f32": torch.tensor(0.1),
            "f64": torch.tensor(0.1, dtype=torch.float64),
            "count": torch.tensor(3),
            "flag": torch.tensor(True),
            "one": torch.tensor([2.5]),
            "plain": 1.5,
        }
    )
    assert values == {
        "loss": float(torch.tensor(0.1, requires_grad=True).detach() * 3),
        "f32": float(torch.tensor(0.1)),
        "f64": 0.1,
        "count": 3,
        "flag": True,
        "one": 2.5,
        "plain": 1.5,
    }
    assert [type(value) for value in values.values()] == [
        float,
        float,
        float,
        int,
        bool,
        float,
        float,
    ]


def test_scalars_refuse_a_tensor_of_many_numbers() -> None:
    with pytest.raises(InvalidArgumentError, match="'acc'.*one number"):
        scalars({"acc": torch.zeros(3)})


def test_meta_tensors_are_refused_with_a_typed_error(sqlite_uri: str) -> None:
    meta = torch.tensor(1.0, device="meta")
    with pytest.raises(InvalidArgumentError, match="'loss' is a meta tensor"):
        scalars({"loss": meta, "acc": torch.tensor(0.5)})
    model = track(mltracker.get_experiment("torch", sqlite_uri), mlp())
    with pytest.raises(InvalidArgumentError, match="meta tensor"):
        log_metrics(model, {"loss": meta}, step=1)
    with pytest.raises(InvalidArgumentError, match="metric value has no value to read"):
        model.metrics.log("loss", meta, step=1)
    assert model.metrics.list() == []
    assert to_attributes({"w": torch.zeros(2, device="meta")}) == {
        "w": "Tensor(shape=[2], dtype=torch.float32)"
    }


def test_tensor_and_numpy_values_round_trip(uri: str) -> None:
    model = track(mltracker.get_experiment("torch", uri), mlp())
    log_metrics(
        model,
        {"loss": torch.tensor(0.1), "count": torch.tensor(7), "nan": torch.tensor(math.nan)},
        step=1,
        phase="train",
    )
    model.metrics.log("direct", torch.tensor(0.25, dtype=torch.float64), step=2)
    log_metrics(model, {"np32": numpy.float32(0.1), "np64": numpy.int64(2**62)}, step=3)

    points = {point.name: point for point in model.metrics.list()}
    assert points["loss"].value == float(numpy.float32(0.1)) and points["loss"].phase == "train"
    assert points["count"].value == 7 and type(points["count"].value) is int
    assert math.isnan(points["nan"].value)
    assert points["direct"].value == 0.25 and points["direct"].step == 2
    assert points["np32"].value == float(numpy.float32(0.1))
    assert points["np64"].value == 2**62 and type(points["np64"].value) is int


# -- the extra -------------------------------------------------------------------------------


def test_a_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "mltracker.integrations.torch")
    with pytest.raises(MLTrackerError, match=r"needs torch.*pip install 'mltracker\[torch\]'"):
        importlib.import_module("mltracker.integrations.torch")


def test_import_mltracker_imports_no_framework() -> None:
    probe = (
        "import sys, mltracker; "
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'torch', 'lightning', "
        "'transformers'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
