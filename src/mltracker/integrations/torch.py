"""PyTorch: a model's hash from its architecture, its modules, its optimizer, tensor metrics.

>>> from mltracker import get_experiment                               # doctest: +SKIP
>>> from mltracker.integrations.torch import track, log_optimizer, log_metrics
>>> model = track(get_experiment("mnist"), net)  # a new run of it      # doctest: +SKIP
>>> log_optimizer(model, optimizer, step=model.step)                    # doctest: +SKIP
>>> log_metrics(model, {"loss": loss, "accuracy": accuracy}, step=10, phase="train")

**The model hash.** :func:`model_hash` is the first 16 hexadecimal digits of the SHA-256 of a
canonical JSON document that lists, for the module and each of its descendants in
``named_modules()`` order: the dotted name, the class's ``__qualname__``, ``extra_repr()``,
and the name, shape and dtype of each parameter and buffer it registers itself. Weights,
devices and ``requires_grad`` are left out, so the hash is the same in every process, on
every machine and after training, for the same architecture and settings; it changes when
any layer's type or settings, or any parameter's or buffer's name, shape or dtype changes.
Wrappers are looked through (``DistributedDataParallel``, ``DataParallel``,
``torch.compile``). Settings that the architecture does not show (a learning rate, a seed)
can be added with ``extra=``. Requires ``pip install 'mltracker[torch]'``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from mltracker.errors import InvalidArgumentError, InvalidTypeError
from mltracker.integrations import runs
from mltracker.integrations._extras import missing_extra
from mltracker.integrations.attributes import to_attributes, to_json
from mltracker.ports import Experiment, Iteration, Model
from mltracker.run_views import Run

try:
    import torch
    from torch import nn
except ModuleNotFoundError as error:
    raise missing_extra(error, "torch") from None

__all__ = [
    "HASH_VERSION",
    "ROOT_MODULE",
    "log_metrics",
    "log_optimizer",
    "model_hash",
    "module_attributes",
    "modules_of",
    "optimizer_attributes",
    "scalars",
    "scheduler_attributes",
    "track",
]

#: Part of the hashed document: a change of what :func:`model_hash` reads changes it.
HASH_VERSION: Final = 1
_HEX_DIGITS: Final = 16
#: Instance attributes that are state, not settings.
_NOT_SETTINGS: Final = frozenset({"training"})
#: The name of the module that holds the parameters and buffers the root module registers
#: itself (``modules_of``); a module's name is never empty.
ROOT_MODULE: Final = "(root)"


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside ``DistributedDataParallel``, ``DataParallel`` or ``torch.compile``."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
            continue
        inner = getattr(module, "_orig_mod", None)  # torch.compile's OptimizedModule
        if isinstance(inner, nn.Module) and inner is not module:
            module = inner
            continue
        return module


def _tensor_signature(tensor: torch.Tensor) -> list[Any]:
    if _is_lazy(tensor):
        return ["uninitialized", str(tensor.dtype)]
    return [list(tensor.shape), str(tensor.dtype)]


def model_hash(module: nn.Module, extra: Mapping[str, Any] | None = None) -> str:
    """A stable hash of ``module``'s architecture and settings (see the module docstring).

    Args:
        module: The model.
        extra: Settings to hash with the architecture (JSON values), e.g. ``{"lr": 0.1}``
            to tell apart runs of one architecture.

    Raises:
        InvalidTypeError: ``module`` is not an ``nn.Module``.
    """
    if not isinstance(module, nn.Module):
        raise InvalidTypeError(f"model_hash needs an nn.Module, not {type(module).__name__}")
    layers = []
    for name, child in unwrap(module).named_modules():
        layers.append(
            [
                name,
                type(child).__qualname__,
                child.extra_repr(),
                [[key, *_tensor_signature(p)] for key, p in child.named_parameters(recurse=False)],
                [[key, *_tensor_signature(b)] for key, b in child.named_buffers(recurse=False)],
            ]
        )
    document: dict[str, Any] = {"version": HASH_VERSION, "modules": layers}
    if extra:
        document["extra"] = to_json(extra)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:_HEX_DIGITS]


def _setting(value: object) -> Any:
    """A module setting as a JSON value, or ``_SKIP`` for state and other objects."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, tuple | list) and all(
        item is None or type(item) in (bool, int, float, str) for item in value
    ):
        return list(value)
    return _SKIP


_SKIP: Final = object()


def module_attributes(module: nn.Module) -> dict[str, Any]:
    """One module's type and settings, without its children's, e.g. for ``nn.Linear(4, 2)``
    ``{"type": "Linear", "in_features": 4, "out_features": 2, "extra_repr":
    "in_features=4, out_features=2, bias=True", "parameters": {"weight": [2, 4], "bias":
    [2]}}``.

    The settings are the module's public instance attributes that are numbers, strings,
    booleans, ``None``, dtypes or flat tuples and lists of those; ``extra_repr`` is what
    PyTorch prints in the module's ``repr``; ``parameters`` and ``buffers`` give the shape of
    each tensor the module registers itself (``"uninitialized"`` for a lazy one).
    """
    attributes: dict[str, Any] = {}
    for key, value in vars(module).items():
        if key.startswith("_") or key in _NOT_SETTINGS:
            continue
        setting = _setting(value)
        if setting is not _SKIP:
            attributes[key] = setting
    extra_repr = module.extra_repr()
    if extra_repr:
        attributes["extra_repr"] = extra_repr
    parameters = {key: _tensor_signature(p)[0] for key, p in module.named_parameters(recurse=False)}
    if parameters:
        attributes["parameters"] = parameters
    buffers = {key: _tensor_signature(b)[0] for key, b in module.named_buffers(recurse=False)}
    if buffers:
        attributes["buffers"] = buffers
    return {"type": type(module).__name__, **attributes}


def modules_of(module: nn.Module) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each descendant of ``module`` as its dotted name (``encoder.layers.0``) and
    :func:`module_attributes`, in ``named_modules()`` order; first ``module`` itself, named
    :data:`ROOT_MODULE`, when it registers parameters or buffers of its own (those of a
    ``LightningModule`` with ``self.scale = nn.Parameter(...)``, say)."""
    for name, child in unwrap(module).named_modules():
        if name:
            yield name, module_attributes(child)
        elif _owns_tensors(child):
            attributes = module_attributes(child)
            root: dict[str, Any] = {
                key: attributes[key]
                for key in ("type", "parameters", "buffers")
                if key in attributes
            }
            yield ROOT_MODULE, root


def _owns_tensors(module: nn.Module) -> bool:
    for _ in module.named_parameters(recurse=False):
        return True
    for _ in module.named_buffers(recurse=False):
        return True
    return False


def track(
    experiment: Experiment,
    module: nn.Module,
    *,
    name: str | None = None,
    description: str | None = None,
    hash: str | None = None,
    extra: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    system_metrics: bool | None = None,
) -> Model:
    """The model of ``module`` in ``experiment`` (read by its hash, or created with its
    modules), with a new run of it: each call is a run (``model.runs.current``), which the
    model's writes in this process go to.

    A model that exists (the same script run again, another run of a sweep over one
    architecture) is returned as it is, ``step`` included, so that training continues it.
    A new model (or one without modules) gets a module per descendant of ``module``
    (:func:`modules_of`). The run that the previous ``track`` of the same model in this
    process started ends here (``finished``) if it still runs; the last one ends with the
    process (``finished``; ``failed`` after an uncaught exception, ``killed`` by a signal),
    or with ``model.runs.current.finish()``.

    **Steps.** A point's step is the caller's; ``model.step`` is where the run starts. When
    the model's runs logged points beyond the model's ``step`` (a run killed before it wrote
    its step), ``step`` is moved up to the last step they logged: a loop that, like
    ``examples/torch_mlp.py``, counts a step when it is done (``step += 1``, then
    ``log_metrics(..., step=step)``) never logs a step twice (see
    :mod:`mltracker.integrations.runs`).

    It reads only what training needs and waits for nothing: while the store is away the
    model is got, its run started and its modules logged as writes of the training loop
    (queued, then spooled, and written in order when the store is back), and ``step`` is the
    one this process knows (0 for a model first got while the store is away).

    Args:
        experiment: Where the model lives.
        module: The model being trained.
        name: The model's name if it is created; by default the module's class name.
        description: The model's description if it is created; by default the number of
            parameters.
        hash: The model's hash; by default :func:`model_hash` of ``module`` and ``extra``.
        extra: Settings hashed with the architecture (``model_hash``): runs with other
            ``extra`` are other models. They are the run's params unless ``params`` is given.
        run_name: The run's name.
        params: The run's params (hyper-parameters: JSON values), by default ``extra``.

    Raises:
        InvalidTypeError: ``module`` is not an ``nn.Module``, or ``params`` not a mapping.
        InvalidArgumentError: A run name or parameter that is not valid.
    """
    model = model_of(experiment, module, name=name, description=description, hash=hash, extra=extra)
    if params is not None and not isinstance(params, Mapping):
        raise InvalidTypeError(f"params must be a mapping, not {type(params).__name__}")
    settings = extra if params is None else params
    previous = _tracked_runs.pop(model.id, None)
    if previous is not None and previous.status == "running":
        try:
            previous.finish()
        except InvalidArgumentError:  # a forked child's parent's run: not ours to end
            pass
    step = int(model.step)
    start = runs.start_step(model, first=1, step=step)
    run = runs.begin(
        model,
        run_name,
        None if settings is None else to_attributes(settings),
        system_metrics=system_metrics,
    )
    _tracked_runs[model.id] = run
    if start > step:
        model.step = start
    return model


#: The run that the last ``track`` of each model (by its id) started in this process.
_tracked_runs: dict[UUID, Run] = {}


def model_of(
    experiment: Experiment,
    module: nn.Module,
    *,
    name: str | None = None,
    description: str | None = None,
    hash: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Model:
    """The model of ``module`` in ``experiment``, read by its hash or created, with a module
    per descendant if it has none (as :func:`track`, without starting a run: the Lightning
    logger and the Hugging Face callback start theirs)."""
    if not isinstance(module, nn.Module):
        raise InvalidTypeError(f"track needs an nn.Module, not {type(module).__name__}")
    inner = unwrap(module)
    if description is None:
        count = sum(p.numel() for p in inner.parameters() if not _is_lazy(p))
        description = f"{type(inner).__name__} with {count:,} parameters"
    model = experiment.models.get_or_create(
        model_hash(inner, extra) if hash is None else hash,
        name=type(inner).__name__ if name is None else name,
        description=description,
    )
    # Whether the model has modules already (the same script run again) is decided by the
    # store when it applies this write, in its place after the model's get_or_create: not
    # by a read here, which would need the store to be up. While the store is away the
    # write waits in the queue (then the spool) like the others, and a run again logs no
    # second copy of the modules, while a new model gets them all.
    model.modules.log_if_empty(modules_of(inner))
    return model


def _is_lazy(tensor: torch.Tensor) -> bool:
    return bool(nn.parameter.is_lazy(tensor))


def optimizer_attributes(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimizer's type and each parameter group's settings, without the tensors:
    ``{"type": "SGD", "param_groups": [{"lr": 0.1, "momentum": 0.9, ..., "parameters": 4}]}``
    (``parameters`` counts the group's tensors)."""
    optimizer = _unwrap_optimizer(optimizer)
    groups = []
    for group in optimizer.param_groups:
        settings = {key: value for key, value in group.items() if key != "params"}
        groups.append({**to_attributes(settings), "parameters": len(group.get("params", ()))})
    return {"type": type(optimizer).__name__, "param_groups": groups}


def _unwrap_optimizer(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer inside a wrapper (accelerate's ``AcceleratedOptimizer``, Lightning's
    ``LightningOptimizer``)."""
    for _ in range(8):
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if not isinstance(inner, torch.optim.Optimizer) or inner is optimizer:
            break
        optimizer = inner
    return optimizer


def scheduler_attributes(scheduler: Any) -> dict[str, Any]:
    """A learning-rate scheduler's type, its current learning rate per parameter group
    (``last_lr``) and its settings (the plain values of its ``state_dict()``)."""
    inner = getattr(scheduler, "scheduler", None)  # accelerate's AcceleratedScheduler
    if inner is not None and callable(getattr(inner, "get_last_lr", None)):
        scheduler = inner
    attributes: dict[str, Any] = {"type": type(scheduler).__name__}
    get_last_lr = getattr(scheduler, "get_last_lr", None)
    if callable(get_last_lr):
        try:
            attributes["last_lr"] = to_json(get_last_lr())
        except Exception:  # noqa: BLE001 - a scheduler that has not stepped yet, say
            pass
    state_dict = getattr(scheduler, "state_dict", None)
    state = state_dict() if callable(state_dict) else {}
    for key, value in state.items():
        if key.startswith("_") or key in attributes:
            continue
        setting = to_json(value)
        if setting is None or isinstance(setting, bool | int | float | str | list):
            attributes[key] = setting
    return attributes


def log_optimizer(
    model: Model | Run,
    optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer],
    step: int,
    *,
    scheduler: Any = None,
) -> Iteration:
    """Create an iteration of ``model`` (in its current run; or of a run) at ``step`` that
    holds the optimizer's settings (module ``optimizer``; ``optimizer.1``, ... for further
    ones) and the learning-rate scheduler's (``lr_scheduler``; ``lr_scheduler.1``, ...), as
    they are now."""
    optimizers = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else list(optimizer)
    schedulers = [] if scheduler is None else _as_list(scheduler)
    iteration = model.iterations.create(step)
    for index, each in enumerate(optimizers):
        iteration.modules.log(_indexed("optimizer", index), optimizer_attributes(each))
    for index, each in enumerate(schedulers):
        iteration.modules.log(_indexed("lr_scheduler", index), scheduler_attributes(each))
    return iteration


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _indexed(name: str, index: int) -> str:
    return name if index == 0 else f"{name}.{index}"


def scalars(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with its 0-d tensors as Python numbers.

    A CPU tensor is read with ``.item()`` (no transfer to wait for: the fastest way). The
    tensors of an accelerator are read in one transfer per device and dtype rather than one
    ``.item()`` (one device synchronisation) per tensor. Other values (floats, NumPy
    scalars, ...) are kept as they are.

    Raises:
        InvalidArgumentError: A tensor with more than one element, or a meta tensor (it has
            no value).
    """
    groups: dict[tuple[torch.device, torch.dtype], list[tuple[str, torch.Tensor]]] = {}
    result = dict(values)
    for key, value in values.items():
        if not isinstance(value, torch.Tensor):
            continue
        if value.is_cpu:
            try:
                result[key] = value.item()
                continue
            except RuntimeError:  # many numbers: said below
                pass
        if value.numel() != 1:
            raise InvalidArgumentError(
                f"metric {key!r} is a tensor of shape {list(value.shape)}: one number needed"
            )
        if value.is_meta:
            raise InvalidArgumentError(
                f"metric {key!r} is a meta tensor: it has a shape but no value"
            )
        groups.setdefault((value.device, value.dtype), []).append((key, value))
    for members in groups.values():
        if len(members) == 1:
            key, tensor = members[0]
            result[key] = tensor.detach().reshape(()).item()
            continue
        numbers = torch.stack([tensor.detach().reshape(()) for _, tensor in members]).tolist()
        for (key, _), number in zip(members, numbers, strict=True):
            result[key] = number
    return result


def log_metrics(
    model: Model | Run,
    values: Mapping[str, Any],
    step: int | None = None,
    phase: str | None = None,
) -> None:
    """Log one point per entry of ``values`` (0-d tensors included, see :func:`scalars`) at
    ``step`` and ``phase``, like ``model.metrics.log_many`` (into the model's current run,
    or into a run).

    Raises:
        InvalidArgumentError: A value that cannot be stored (a tensor of many numbers, a
            meta tensor, ...); nothing is logged.
    """
    model.metrics.log_many(scalars(values), step=step, phase=phase)
