"""Importing TensorBoard event files written by torch's SummaryWriter and tensorboard's own
writer: every scalar read back (as TensorBoard's own reader reads it), hparams as params,
idempotent, and a damaged file named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest

import mltracker
from mltracker.importers.streaming import SourceFormatError, external_run_id
from mltracker.importers.tensorboard import import_tensorboard

pytest.importorskip("tensorboard", reason="needs tensorboard: pip install 'mltracker[tensorboard]'")
torch_tensorboard = pytest.importorskip("torch.utils.tensorboard", reason="needs torch")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RUNS = ("lr0.1/seed0", "lr0.1/seed1", "lr0.01/seed0")


def write_run(folder: Path, run: int, steps: int, start: int = 0) -> None:
    writer = torch_tensorboard.SummaryWriter(str(folder))
    for step in range(start, start + steps):
        writer.add_scalar("loss/train", 1.0 / (step + 1 + run), step)
        if step % 10 == 0:
            writer.add_scalar("acc/val", step / 1000 + run, step)
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs in nested folders, 1,000 steps each, with hparams beside their scalars."""
    root = tmp_path_factory.mktemp("tb") / "sweep"
    for run, name in enumerate(RUNS):
        write_run(root / name, run, 1000)
        writer = torch_tensorboard.SummaryWriter(str(root / name))
        lr = float(name.split("/")[0].removeprefix("lr"))
        writer.add_hparams({"lr": lr, "batch": 32, "opt": "sgd"}, {"hp/acc": 0.5}, run_name=".")
        writer.close()
    return root


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Every scalar of a run folder as TensorBoard's own EventAccumulator reads it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    found: dict[str, list[tuple[int, float, float]]] = {}
    for path in sorted(folder.iterdir()):
        if "tfevents" not in path.name:
            continue
        single = EventAccumulator(str(path), size_guidance={"scalars": 0})
        single.Reload()
        for tag in single.Tags()["scalars"]:
            found.setdefault(tag, []).extend(
                (e.step, e.value, e.wall_time) for e in single.Scalars(tag)
            )
    del accumulator
    return found


def check_every_point(tracker: mltracker.Connection, root: Path, experiment: str) -> int:
    compared = 0
    found = tracker.experiments.get_or_create(experiment)
    for name in RUNS:
        (model,) = [m for m in found.models.list() if m.name == name]
        (run,) = model.runs.list()
        assert run.id == external_run_id("tensorboard", f"{experiment}/{name}")
        for tag, expected in tensorboard_scalars(root / name).items():
            ours = [(m.step, m.value, m.timestamp) for m in run.metrics.iterate(tag)]
            assert ours == expected, tag
            compared += len(ours)
    return compared


def test_every_scalar_is_read_back(tracker: mltracker.Connection, logdir: Path) -> None:
    result = import_tensorboard(tracker, logdir)

    assert result.experiment == "sweep"
    assert result.counts.runs == result.counts.runs_added == 3
    assert check_every_point(tracker, logdir, "sweep") == result.counts.points == 3 * 1101
    model = next(m for m in tracker.experiments.get_or_create("sweep").models.list())
    (run,) = model.runs.list()
    assert run.status == "finished"
    assert run.params["batch"] == 32 and run.params["opt"] == "sgd"
    assert run.params["lr"] in (0.1, 0.01)
    assert run.started_at <= run.ended_at  # type: ignore[operator]


def test_importing_again_adds_only_what_is_new(sqlite_uri: str, logdir: Path) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        import_tensorboard(tracker, logdir, experiment="tb")
        again = import_tensorboard(tracker, logdir, experiment="tb")
        assert (again.counts.runs_added, again.counts.points) == (0, 0)
        assert again.counts.points_skipped == 3 * 1101


def test_a_run_that_logged_more_gets_only_the_new_points(sqlite_uri: str, tmp_path: Path) -> None:
    root = tmp_path / "logs"
    write_run(root / "a", 0, 200)
    with mltracker.connect(sqlite_uri) as tracker:
        first = import_tensorboard(tracker, root)
        write_run(root / "a", 0, 100, start=200)  # a restarted job: a second event file
        write_run(root / "b", 1, 50)
        second = import_tensorboard(tracker, root)
        assert first.counts.points == 220
        assert (second.counts.runs_added, second.counts.points) == (1, 110 + 55)
        run = tracker.experiments.get_or_create("logs").models.list()[0].runs.list()[0]
        assert [m.step for m in run.metrics.iterate("loss/train")] == list(range(300))


def test_group_by_hparam(sqlite_uri: str, logdir: Path) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        import_tensorboard(tracker, logdir, group_by_params=["lr"])
        models = tracker.experiments.get_or_create("sweep").models.list()
        assert sorted((m.name, len(m.runs.list())) for m in models) == [
            ("lr=0.01", 1),
            ("lr=0.1", 2),
        ]


def test_scalars_written_by_tensorboards_own_writer(sqlite_uri: str, tmp_path: Path) -> None:
    """TF2's layout: a scalar is a tensor, with the plugin's metadata on its first value."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.scalar import metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(str(tmp_path / "tf2" / "run"))
    for step in range(5):
        value = summary_pb2.Summary.Value(
            tag="loss", tensor=tensor_util.make_tensor_proto(0.5 / (step + 1))
        )
        if step == 0:
            value.metadata.CopyFrom(metadata.create_summary_metadata("", ""))
        event = event_pb2.Event(
            wall_time=1_700_000_000.0 + step, step=step, summary=summary_pb2.Summary(value=[value])
        )
        writer.add_event(event)
    writer.close()
    with mltracker.connect(sqlite_uri) as tracker:
        import_tensorboard(tracker, tmp_path / "tf2")
        run = tracker.experiments.get_or_create("tf2").models.list()[0].runs.list()[0]
        points = [(m.step, m.value, m.timestamp) for m in run.metrics.iterate("loss")]
    as_float32 = [float(numpy.float32(0.5 / (s + 1))) for s in range(5)]
    assert points == [(s, as_float32[s], 1_700_000_000.0 + s) for s in range(5)]


def test_a_damaged_file_is_named_and_the_rest_waits(sqlite_uri: str, tmp_path: Path) -> None:
    root = tmp_path / "logs"
    write_run(root / "a", 0, 100)
    write_run(root / "b", 1, 100)
    (damaged,) = (root / "b").iterdir()
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with mltracker.connect(sqlite_uri) as tracker:
        with pytest.raises(SourceFormatError, match=str(damaged)):
            import_tensorboard(tracker, root)
        assert len(tracker.experiments.get_or_create("logs").models.list()) == 2
        damaged.unlink()
        write_run(root / "b", 1, 100)
        result = import_tensorboard(tracker, root)
        assert result.counts.points_skipped == 110  # run a, imported before
        run_b = next(
            m for m in tracker.experiments.get_or_create("logs").models.list() if m.name == "b"
        ).runs.list()[0]
        assert run_b.status == "finished"


def test_a_file_cut_short_imports_what_it_holds(sqlite_uri: str, tmp_path: Path) -> None:
    root = tmp_path / "logs"
    write_run(root / "a", 0, 100)
    (path,) = (root / "a").iterdir()
    path.write_bytes(path.read_bytes()[:-7])  # a file still being written
    with mltracker.connect(sqlite_uri) as tracker:
        result = import_tensorboard(tracker, root)
    assert 100 <= result.counts.points < 110


def test_not_a_log_folder(sqlite_uri: str, tmp_path: Path) -> None:
    with mltracker.connect(sqlite_uri) as tracker:
        with pytest.raises(mltracker.InvalidArgumentError, match="nowhere"):
            import_tensorboard(tracker, tmp_path / "nowhere")
        with pytest.raises(mltracker.InvalidArgumentError, match="no event files"):
            import_tensorboard(tracker, tmp_path)
        (tmp_path / "events.out.tfevents.1.host").write_bytes(b"not an event file at all!")
        with pytest.raises(SourceFormatError, match="tfevents"):
            import_tensorboard(tracker, tmp_path)


def test_the_command(sqlite_uri: str, logdir: Path) -> None:
    from click.testing import CliRunner

    from mltracker.cli import cli

    args = ["--uri", sqlite_uri, "--json", "import", "--from", "tensorboard", str(logdir)]
    result = CliRunner().invoke(cli, [*args, "--experiment", "mine"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["runs_added"], document["points"]) == (3, 3 * 1101)
    with mltracker.connect(sqlite_uri) as tracker:
        assert [e.name for e in tracker.experiments.list()] == ["mine"]


def test_into_a_tracking_server_twice(sqlite_uri: str, tmp_path: Path) -> None:
    """Over HTTP the store counts a run's points by reading them: importing again adds
    nothing there too."""
    from tests.conftest import serving

    root = tmp_path / "logs"
    write_run(root / "a", 0, 120)
    with serving(sqlite_uri) as url, mltracker.connect(url) as tracker:
        first = import_tensorboard(tracker, root)
        write_run(root / "a", 0, 30, start=120)
        second = import_tensorboard(tracker, root)
        run = tracker.experiments.get_or_create("logs").models.list()[0].runs.list()[0]
        steps = [m.step for m in run.metrics.iterate("loss/train")]
    assert (first.counts.points, second.counts.points) == (132, 33)
    assert second.counts.points_skipped == 132
    assert steps == list(range(150))
