"""``MLTrackerLogger``: real Lightning ``fit``, ``validate`` and ``test`` calls on CPU into each
backend, a run per fit."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("lightning", reason="the lightning extra is not installed: '.[lightning]'")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402

import mltracker  # noqa: E402
from mltracker.integrations.lightning import MLTrackerLogger  # noqa: E402
from mltracker.integrations.torch import model_hash, modules_of  # noqa: E402
from tests.integrations import lightning_job  # noqa: E402
from tests.integrations.lightning_job import (  # noqa: E402
    BATCHES,
    EXPERIMENT,
    Classifier,
    loader,
    trainer,
)

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 2
STEPS = EPOCHS * BATCHES  # of a fit


def fit(uri: str, root: Path, *, hidden: int = 8, lr: float = 0.1, test: bool = False) -> Any:
    """Train a fresh ``Classifier`` for ``EPOCHS`` epochs; return the logger."""
    torch.manual_seed(0)
    fitting = trainer(uri, str(root))
    module = Classifier(hidden=hidden, lr=lr)
    fitting.fit(module, loader(), loader())
    if test:
        fitting.test(module, loader(), verbose=False)
    return fitting.logger


@dataclass
class Runs:
    uri: str
    hash: str
    first_step: int  # the model's step after the first run
    other_step: int  # the step of the model of another hidden size
    run_ids: list[UUID]  # of the runs of the first three fits


@pytest.fixture(scope="module")
def runs(module_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Into one store: a fit and a test, the same script again (same hash), once more with
    another learning rate (same hash, other hyper-parameters), and one with another hidden
    size (another model)."""
    root = tmp_path_factory.mktemp("lightning")
    first = fit(module_uri, root, test=True)
    first_step = first.model.step
    second = fit(module_uri, root)
    third = fit(module_uri, root, lr=0.05)
    other = fit(module_uri, root, hidden=12)
    # Values, not entities: an entity used after the test's sessions were closed would open
    # a session of its own.
    run_ids = [first.run.id, second.run.id, third.run.id]
    return Runs(module_uri, first.model.hash, first_step, other.model.step, run_ids)


def stored(uri: str, hash: str | None = None) -> mltracker.Model:
    model = mltracker.get_experiment(EXPERIMENT, uri).models.read(hash or model_hash(Classifier()))
    assert model is not None
    return model


def steps(model: mltracker.Model, name: str, run: object, phase: str | None = None) -> list[int]:
    return [p.step for p in model.metrics.list(name, phase=phase, run=run)]


# -- what a fit records ------------------------------------------------------------------------


def test_the_model_is_found_by_its_hash(runs: Runs) -> None:
    assert runs.hash == model_hash(Classifier())
    assert stored(runs.uri).name == "Classifier"
    assert [m.hash for m in mltracker.get_experiment(EXPERIMENT, runs.uri).models.list()] == [
        runs.hash,
        model_hash(Classifier(hidden=12)),
    ]


def test_each_fit_is_a_run_with_the_hyperparameters_as_params(runs: Runs) -> None:
    found = stored(runs.uri).runs.list()
    assert [r.id for r in found] == runs.run_ids  # the test after the first fit is in its run
    assert [r.params for r in found] == [{"hidden": 8, "lr": 0.1}] * 2 + [{"hidden": 8, "lr": 0.05}]
    assert [(r.status, r.name) for r in found] == [("finished", None)] * 3
    assert len(stored(runs.uri, model_hash(Classifier(hidden=12))).runs.list()) == 1


def test_modules_match_the_architecture(runs: Runs) -> None:
    modules = stored(runs.uri).modules.list()
    architecture = list(modules_of(Classifier()))
    assert [(m.name, m.attributes) for m in modules[: len(architecture)]] == architecture
    assert [m.name for m in modules] == ["net", "net.0", "net.1", "net.2"] + ["hyperparameters"] * 3
    assert modules[1].attributes["out_features"] == 8


def test_each_run_has_its_hyperparameters_module(runs: Runs) -> None:
    model = stored(runs.uri)
    per_run = [[m.attributes for m in r.modules.list()] for r in model.runs.list()]
    assert per_run == [[{"hidden": 8, "lr": 0.1}]] * 2 + [[{"hidden": 8, "lr": 0.05}]]


def test_step_follows_the_trainer_across_runs(runs: Runs) -> None:
    assert runs.first_step == STEPS
    assert stored(runs.uri).step == 3 * STEPS
    assert runs.other_step == STEPS


def test_reruns_have_curves_of_their_own_that_go_on(runs: Runs) -> None:
    model = stored(runs.uri)
    for index, run in enumerate(runs.run_ids):
        assert steps(model, "loss", run, "train") == list(range(index * STEPS, (index + 1) * STEPS))
    losses = model.metrics.list("loss", phase="train")
    assert all(isinstance(p.value, float) and p.value > 0 for p in losses)
    assert model.metrics.list("train_loss") == []


def test_validation_and_test_metrics_have_their_phase(runs: Runs) -> None:
    model = stored(runs.uri)
    for index, run in enumerate(runs.run_ids):
        ends_of_epochs = [index * STEPS + (epoch + 1) * BATCHES - 1 for epoch in range(EPOCHS)]
        assert steps(model, "acc", run, "validation") == ends_of_epochs
    assert steps(model, "acc", runs.run_ids[0], "test") == [STEPS]
    tested = model.metrics.list("acc", phase="test")
    assert len(tested) == 1 and 0.0 <= tested[0].value <= 1.0


def test_epoch_is_logged_without_a_phase(runs: Runs) -> None:
    epochs = stored(runs.uri).metrics.list("epoch", phase=mltracker.NO_PHASE)
    assert {p.value for p in epochs} == {0, 1, EPOCHS}  # EPOCHS: in trainer.test after fit


def test_iterations_hold_the_optimizer_at_each_epoch(runs: Runs) -> None:
    model = stored(runs.uri)
    iterations = model.iterations.list()
    per_run = [run * STEPS + epoch * BATCHES for run in range(3) for epoch in range(3)]
    assert [i.step for i in iterations] == per_run
    first_run = [{m.name: m.attributes for m in i.modules.list()} for i in iterations[:3]]
    assert [i["optimizer"]["param_groups"][0]["lr"] for i in first_run] == [0.1, 0.05, 0.025]
    assert [i["lr_scheduler"]["type"] for i in first_run] == ["StepLR"] * 3
    third_run = model.runs.read(runs.run_ids[2])
    assert third_run is not None
    first_of_third = third_run.iterations.list()[0].modules.list()[0].attributes
    assert first_of_third["param_groups"][0]["lr"] == 0.05


# -- sweeps ------------------------------------------------------------------------------------


def test_a_sweep_with_extra_settings_is_a_model_per_setting(
    sqlite_uri: str, tmp_path: Path
) -> None:
    for lr in (0.1, 0.05):
        torch.manual_seed(0)
        logger = MLTrackerLogger(EXPERIMENT, uri=sqlite_uri, extra={"lr": lr})
        trainer(sqlite_uri, str(tmp_path), logger=logger).fit(Classifier(lr=lr), loader(), loader())
    models = mltracker.get_experiment(EXPERIMENT, sqlite_uri).models.list()
    hashes = [model_hash(Classifier(), {"lr": lr}) for lr in (0.1, 0.05)]
    assert [m.hash for m in models] == hashes
    assert [len(m.runs.list()) for m in models] == [1, 1]
    assert [steps(m, "loss", None) for m in models] == [list(range(STEPS))] * 2


# -- checkpoints, resuming, several calls ----------------------------------------------------


def checkpointing(uri: str, root: Path, epochs: int, logger: Any = None) -> L.Trainer:
    return trainer(
        uri,
        str(root),
        epochs=epochs,
        enable_checkpointing=True,
        **({} if logger is None else {"logger": logger}),
    )


def test_each_run_checkpoints_into_a_folder_named_after_it(sqlite_uri: str, tmp_path: Path) -> None:
    logger = MLTrackerLogger(EXPERIMENT, uri=sqlite_uri)
    first = checkpointing(sqlite_uri, tmp_path, 1, logger)
    version = logger.version  # before the run starts
    first.fit(Classifier(), loader(), loader())
    second = checkpointing(sqlite_uri, tmp_path, 1, logger)
    second.fit(Classifier(), loader(), loader())
    ids = [r.id for r in stored(sqlite_uri).runs.list()]
    assert str(ids[0]) == version
    for each, run in zip((first, second), ids, strict=True):
        folder = tmp_path / EXPERIMENT / str(run) / "checkpoints"
        assert each.checkpoint_callback.dirpath == str(folder)  # type: ignore[union-attr]
        assert [p.name for p in folder.iterdir()] == [f"epoch=0-step={BATCHES}.ckpt"]


def test_a_fit_resumed_from_a_checkpoint_resumes_its_run(sqlite_uri: str, tmp_path: Path) -> None:
    first = checkpointing(sqlite_uri, tmp_path, 1)
    first.fit(Classifier(), loader(), loader())
    checkpoint = first.checkpoint_callback.best_model_path  # type: ignore[union-attr]
    # A new trainer and logger, as after a restart: no warning that the folder changed.
    resumed = checkpointing(sqlite_uri, tmp_path, 2)
    resumed.fit(Classifier(), loader(), loader(), ckpt_path=checkpoint)

    model = stored(sqlite_uri)
    (run,) = model.runs.list()
    assert resumed.logger.run.id == run.id
    assert str(run.id) == Path(checkpoint).parent.parent.name
    assert resumed.checkpoint_callback.dirpath == str(Path(checkpoint).parent)  # type: ignore[union-attr]
    assert run.status == "finished" and model.step == STEPS
    assert steps(model, "loss", run) == list(range(STEPS))  # no step twice
    iterations = model.iterations.list()
    assert [i.step for i in iterations] == [0, BATCHES, BATCHES, 2 * BATCHES]
    resumed_lr = iterations[2].modules.list()[0].attributes  # the checkpoint's optimizer state
    assert resumed_lr["param_groups"][0]["lr"] == 0.05


def test_a_second_fit_on_the_same_logger_is_a_second_run(sqlite_uri: str, tmp_path: Path) -> None:
    logger = MLTrackerLogger(EXPERIMENT, uri=sqlite_uri)
    for _ in range(2):
        trainer(sqlite_uri, str(tmp_path), logger=logger).fit(Classifier(), loader(), loader())
    model = stored(sqlite_uri)
    first, second = model.runs.list()
    assert steps(model, "loss", first) == list(range(STEPS))
    assert steps(model, "loss", second) == list(range(STEPS, 2 * STEPS))
    assert model.step == 2 * STEPS


def test_a_second_fit_on_the_same_trainer_is_a_second_run(sqlite_uri: str, tmp_path: Path) -> None:
    fitting = checkpointing(sqlite_uri, tmp_path, 1)
    module = Classifier()
    fitting.fit(module, loader(), loader())
    fitting.fit_loop.max_epochs = 2
    fitting.fit(module, loader(), loader())  # goes on from the trainer's step
    model = stored(sqlite_uri)
    first, second = model.runs.list()
    assert steps(model, "loss", first) == list(range(BATCHES))
    assert steps(model, "loss", second) == list(range(BATCHES, 2 * BATCHES))
    folder = tmp_path / EXPERIMENT / str(second.id) / "checkpoints"
    assert fitting.checkpoint_callback.dirpath == str(folder)  # type: ignore[union-attr]
    assert [p.name for p in folder.iterdir()] == [f"epoch=1-step={2 * BATCHES}.ckpt"]


def test_validate_then_fit_from_a_checkpoint(sqlite_uri: str, tmp_path: Path) -> None:
    first = checkpointing(sqlite_uri, tmp_path, 1)
    first.fit(Classifier(), loader(), loader())
    checkpoint = first.checkpoint_callback.best_model_path  # type: ignore[union-attr]

    again = checkpointing(sqlite_uri, tmp_path, 2)
    module = Classifier()
    again.validate(module, loader(), verbose=False)  # a run of its own: a fresh module
    again.fit(module, loader(), loader(), ckpt_path=checkpoint)

    model = stored(sqlite_uri)
    fitted, validated = model.runs.list()
    assert again.logger.run.id == fitted.id
    assert steps(model, "loss", fitted) == list(range(STEPS))
    assert steps(model, "acc", fitted, "validation") == [BATCHES - 1, STEPS - 1]
    assert steps(model, "acc", validated, "validation") == [BATCHES]  # at the model's step
    assert model.step == STEPS


def test_validate_then_fit_is_one_run(sqlite_uri: str, tmp_path: Path) -> None:
    both = trainer(sqlite_uri, str(tmp_path))
    module = Classifier()
    both.validate(module, loader(), verbose=False)
    both.fit(module, loader(), loader())
    model = stored(sqlite_uri)
    (run,) = model.runs.list()
    assert steps(model, "acc", run, "validation") == [0, BATCHES - 1, STEPS - 1]
    assert steps(model, "loss", run) == list(range(STEPS))


def test_a_test_of_another_model_is_a_run_of_that_model(sqlite_uri: str, tmp_path: Path) -> None:
    logger = MLTrackerLogger(EXPERIMENT, uri=sqlite_uri)
    trainer(sqlite_uri, str(tmp_path), logger=logger).fit(Classifier(), loader(), loader())
    other = Classifier(hidden=12)
    trainer(sqlite_uri, str(tmp_path), logger=logger).test(other, loader(), verbose=False)
    (fitted,) = stored(sqlite_uri).runs.list()
    assert steps(stored(sqlite_uri), "acc", fitted, "test") == []
    tested = stored(sqlite_uri, model_hash(other))
    (run,) = tested.runs.list()
    assert steps(tested, "acc", run, "test") == [0]


def job(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, lightning_job.__file__, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


def test_a_test_of_a_checkpoint_in_a_new_process_logs_at_its_step(
    sqlite_uri: str, tmp_path: Path
) -> None:
    fit(sqlite_uri, tmp_path)  # the model's step is STEPS: the next run starts there
    second = checkpointing(sqlite_uri, tmp_path, EPOCHS)
    second.fit(Classifier(), loader(), loader())
    checkpoint = second.checkpoint_callback.best_model_path  # type: ignore[union-attr]

    done = job("test", sqlite_uri, str(tmp_path), checkpoint)
    assert done.returncode == 0, done.stderr[-3000:]
    model = stored(sqlite_uri)
    first, run = model.runs.list()
    assert steps(model, "acc", run, "test") == [2 * STEPS]  # the checkpoint's, in its run
    assert run.status == "finished"


# -- how a run ends --------------------------------------------------------------------------


class Failing(Classifier):
    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        if self.trainer.global_step == 2:
            raise ValueError("no convergence")
        return super().training_step(batch, index)


def test_a_fit_that_raises_fails_its_run(sqlite_uri: str, tmp_path: Path) -> None:
    logger = MLTrackerLogger(EXPERIMENT, uri=sqlite_uri, hash="failing")
    with pytest.raises(ValueError, match="no convergence"):
        trainer(sqlite_uri, str(tmp_path), logger=logger).fit(Failing(), loader(), loader())
    model = stored(sqlite_uri, "failing")
    (run,) = model.runs.list()
    assert (run.status, run.exit) == ("failed", "ValueError: no convergence")
    assert steps(model, "loss", run) == [0, 1]


def test_ctrl_c_kills_the_run(sqlite_uri: str, tmp_path: Path) -> None:
    done = job("interrupt", sqlite_uri, str(tmp_path))
    assert done.returncode == 1, done.stderr[-3000:]  # Lightning's exit after Ctrl-C
    model = stored(sqlite_uri)
    (run,) = model.runs.list()
    assert (run.status, run.exit) == ("killed", "SIGINT")
    assert steps(model, "loss", run) == [0, 1]


def test_a_run_after_a_crash_starts_after_the_last_step_logged(
    sqlite_uri: str, tmp_path: Path
) -> None:
    done = job("crash", sqlite_uri, str(tmp_path))  # killed in its 7th step (index 6)
    assert done.returncode == -9, done.stderr[-3000:]
    model = stored(sqlite_uri)
    assert model.step == BATCHES  # written when the first epoch ended
    assert steps(model, "loss", None) == list(range(BATCHES + 2))

    logger = fit(sqlite_uri, tmp_path)
    crashed, run = model.runs.list()
    assert logger.run.id == run.id
    after = BATCHES + 2
    assert steps(model, "loss", run) == list(range(after, after + STEPS))
    assert model.step == after + STEPS


def _curves(model: mltracker.Model, **where: Any) -> dict[tuple[str, str | None], list[int]]:
    """The steps of each series (name and phase) of the model."""
    found: dict[tuple[str, str | None], list[int]] = {}
    for point in model.metrics.list(**where):
        found.setdefault((point.name, point.phase), []).append(point.step)
    return found


def test_a_fit_resumed_from_an_earlier_checkpoint_rewinds_its_run(
    sqlite_uri: str, tmp_path: Path
) -> None:
    done = job("crash-late", sqlite_uri, str(tmp_path))  # killed at step 10, in epoch 3
    assert done.returncode == -9, done.stderr[-3000:]
    checkpoints = sorted((tmp_path / EXPERIMENT).glob("*/checkpoints/*.ckpt"))
    names = [path.name for path in checkpoints]
    assert names == [f"epoch=0-step={BATCHES}.ckpt", f"epoch=1-step={2 * BATCHES}.ckpt"]
    # Resumed from the first checkpoint, not the last: steps 4 to 9 are logged again.
    torch.manual_seed(0)
    resumed = trainer(sqlite_uri, str(tmp_path), epochs=3, enable_checkpointing=True)
    resumed.fit(Classifier(), loader(), loader(), ckpt_path=str(checkpoints[0]))
    torch.manual_seed(0)
    reference = tmp_path / "reference.db"  # the same fit, never stopped
    trainer(str(reference), str(tmp_path / "reference"), epochs=3).fit(
        Classifier(), loader(), loader()
    )

    model = stored(sqlite_uri)
    (run,) = model.runs.list()
    assert run.status == "finished"
    curves = _curves(model)
    assert curves == _curves(stored(str(reference)))
    assert curves[("loss", "train")] == list(range(3 * BATCHES))  # one value per step
    assert curves[("acc", "validation")] == [BATCHES - 1, 2 * BATCHES - 1, 3 * BATCHES - 1]
    superseded = [
        (p.name, p.phase, p.step) for p in model.metrics.list(superseded=True) if p.superseded
    ]
    assert [(n, s) for n, ph, s in superseded if ph == "train"] == [
        ("loss", step) for step in range(BATCHES, 2 * BATCHES + 2)
    ]
    assert ("acc", "validation", 2 * BATCHES - 1) in superseded
    assert ("acc", "validation", BATCHES - 1) not in superseded  # before the checkpoint


# -- the logger itself -----------------------------------------------------------------------


def test_values_logged_on_step_and_on_epoch_share_the_chart(
    sqlite_uri: str, tmp_path: Path
) -> None:
    class Both(Classifier):
        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            loss, _ = self._loss(batch)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("time_step", 1.0)  # a key of the user's that ends like Lightning's
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            loss, _ = self._loss(batch)
            self.log("val_loss", loss)

    trainer(sqlite_uri, str(tmp_path)).fit(Both(), loader(), loader())
    model = stored(sqlite_uri, model_hash(Both()))
    assert {p.name for p in model.metrics.list()} == {"loss", "epoch", "time_step"}
    assert steps(model, "loss", None, "train") == list(range(STEPS))
    assert steps(model, "loss", None, "train_epoch") == [BATCHES - 1, STEPS - 1]
    assert steps(model, "loss", None, "validation") == [BATCHES - 1, STEPS - 1]


def test_a_non_zero_rank_logs_nothing(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = fit(uri, tmp_path / "root", test=True)
    assert logger.model is None and logger.run is None
    if uri.endswith(".db"):
        assert not Path(uri).exists()
    with mltracker.connect(uri) as tracker:
        assert tracker.experiments.list() == []


def test_the_logger_pickles_without_its_handles(sqlite_uri: str, tmp_path: Path) -> None:
    logger = fit(sqlite_uri, tmp_path)
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.model is None and copy.run is None and copy.name == EXPERIMENT
    assert copy.version == logger.version != str(logger.run.id)  # the next run's
    assert copy.experiment.name == EXPERIMENT


def test_metrics_before_a_run_need_a_hash(sqlite_uri: str) -> None:
    with pytest.raises(mltracker.MLTrackerError, match="hash="):
        MLTrackerLogger(uri=sqlite_uri).log_metrics({"loss": 1.0}, step=0)
    logger = MLTrackerLogger(uri=sqlite_uri, hash="by-hand", run_name="by hand")
    logger.log_metrics({"val_loss": 0.5}, step=3)
    logger.finalize("success")
    model = mltracker.get_experiment("lightning", sqlite_uri).models.read("by-hand")
    assert model is not None
    assert [(p.name, p.phase, p.step) for p in model.metrics.list()] == [("loss", "validation", 3)]
    (run,) = model.runs.list()
    assert (run.name, run.status) == ("by hand", "finished")
