"""``mltracker runs list|show``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

import pytest
from conftest import serving

import mltracker
from mltracker.ports.store import RunStart, Series
from mltracker.values import FLOAT

from .helpers import Run, assert_error, invoke, parse_json, table_header, table_rows

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
BASELINE = UUID("aaaa1111-0000-4000-8000-000000000001")
TUNED = UUID("aaaa1111-0000-4000-8000-000000000002")
SILENT = UUID("bbbb2222-0000-4000-8000-000000000003")
CONTEXT = {
    "host": "gpu-1",
    "pid": 4242,
    "command": ["train.py", "--lr", "0.1", "--note", "two words"],
    "git": {"commit": "0123abcd", "branch": "main", "dirty": True},
    "environment": {"python": "3.11.9", "torch": "2.1.0"},
}


@dataclass
class Stored:
    uri: str
    mlp_id: str
    cnn_id: str


def fill_runs(uri: str) -> Stored:
    """Experiment "mnist": model "a1" (mlp) with a finished and a failed run, model "b2"
    (cnn) with a run that started and never beat again, model "c3" with none; "empty"."""
    with mltracker.connect(uri) as tracker:
        mnist = tracker.experiments.create("mnist")
        tracker.experiments.create("empty")
        mlp = mnist.models.create("a1", name="mlp")
        cnn = mnist.models.create("b2", name="cnn")
        mnist.models.create("c3")
        store = tracker.store

        def start(run_id: UUID, model_id: UUID, name: str | None, params: object) -> None:
            store.start_run(
                RunStart(
                    run_id,
                    model_id,
                    name,
                    json.dumps(params),
                    json.dumps(CONTEXT if name else {}),
                    START,
                    60.0,
                )
            )

        start(BASELINE, mlp.id, "baseline", {"lr": 0.1, "optimizer": "adam", "layers": [64, 64]})
        loss = Series(mlp.id, "loss", "train", BASELINE)
        store.write_points(
            [(loss, 1, FLOAT, 0.5, None, START + 1), (loss, 2, FLOAT, 0.25, None, START + 2)]
        )
        store.end_run(BASELINE, "finished", None, START + 3725)
        start(TUNED, mlp.id, "tuned", {"lr": 0.01})
        tuned_loss = Series(mlp.id, "loss", "train", TUNED)
        store.write_points([(tuned_loss, 1, FLOAT, 0.75, None, START + 10)])
        store.end_run(TUNED, "failed", "ValueError: diverged", START + 52.5)
        start(SILENT, cnn.id, None, {})
        return Stored(uri, str(mlp.id), str(cnn.id))


@pytest.fixture
def stored(uri: str) -> Stored:
    return fill_runs(uri)


def test_list_of_an_experiment_shows_each_run_with_its_model(run: Run, stored: Stored) -> None:
    result = run("runs", "list", "mnist")

    assert result.exit_code == 0, result.output
    assert table_header(result.stdout) == [
        "run",
        "model",
        "name",
        "status",
        "started (UTC)",
        "duration",
        "host",
        "params",
    ]
    assert table_rows(result.stdout) == [
        [
            "aaaa1111",
            "a1",
            "baseline",
            "finished",
            "2023-11-14 22:13:20",
            "1h 02m 05s",
            "gpu-1",
            "lr=0.1 optimizer=adam layers=[64, 64]",
        ],
        ["aaaa1111", "a1", "tuned", "failed", "2023-11-14 22:13:20", "52.5s", "gpu-1", "lr=0.01"],
        ["bbbb2222", "b2", "", "crashed", "2023-11-14 22:13:20", "0.0s", "", ""],
    ]


def test_list_of_a_model_has_no_model_column(run: Run, stored: Stored) -> None:
    result = run("runs", "list", "mnist", "a")  # a start of the hash is enough

    assert result.exit_code == 0, result.output
    assert "model" not in table_header(result.stdout)
    assert [row[1] for row in table_rows(result.stdout)] == ["baseline", "tuned"]


def test_list_with_a_search(run: Run, stored: Stored) -> None:
    result = run("runs", "list", "mnist", "--where", "params.lr < 0.05 OR run.status = 'crashed'")
    assert result.exit_code == 0, result.output
    assert [row[2] for row in table_rows(result.stdout)] == ["tuned", ""]

    ordered = run(
        "runs", "list", "mnist", "--order-by", "metrics.loss@train.min DESC", "--limit", "2"
    )
    assert [row[2] for row in table_rows(ordered.stdout)] == ["tuned", "baseline"]

    of_model = run("--json", "runs", "list", "mnist", "a1", "--where", "params.lr = 0.1")
    assert [document["name"] for document in parse_json(of_model.stdout)] == ["baseline"]
    of_other = run("runs", "list", "mnist", "b2", "--where", "params.lr = 0.1")
    assert table_rows(of_other.stdout) == []


def test_list_with_a_bad_search_names_the_position(run: Run, stored: Stored) -> None:
    assert_error(run("runs", "list", "mnist", "--where", "params.lr <"), "at position 11")
    assert_error(run("runs", "list", "mnist", "--order-by", "lr"), "at position 0")


def test_list_of_a_model_without_runs_is_empty(run: Run, stored: Stored) -> None:
    assert parse_json(run("--json", "runs", "list", "mnist", "c3").stdout) == []
    assert table_rows(run("runs", "list", "empty").stdout) == []


def test_list_json_has_every_field_in_iso_times(run: Run, stored: Stored) -> None:
    documents = parse_json(run("runs", "list", "mnist", "--json").stdout)

    assert [document["id"] for document in documents] == [str(BASELINE), str(TUNED), str(SILENT)]
    assert documents[0] == {
        "id": str(BASELINE),
        "model_id": stored.mlp_id,
        "model_hash": "a1",
        "name": "baseline",
        "status": "finished",
        "started_at": "2023-11-14T22:13:20+00:00",
        "ended_at": "2023-11-14T23:15:25+00:00",
        "heartbeat_at": "2023-11-14T23:15:25+00:00",
        "duration": 3725.0,
        "host": "gpu-1",
        "pid": 4242,
        "command": CONTEXT["command"],
        "git": CONTEXT["git"],
        "environment": CONTEXT["environment"],
        "params": {"lr": 0.1, "optimizer": "adam", "layers": [64, 64]},
        "exit": None,
    }
    assert (documents[1]["status"], documents[1]["exit"]) == ("failed", "ValueError: diverged")
    assert documents[2]["status"] == "crashed"
    assert documents[2]["model_hash"] == "b2"
    assert documents[2]["ended_at"] is None


def test_show_prints_every_field_and_the_runs_own_latest_metrics(run: Run, stored: Stored) -> None:
    result = run("runs", "show", str(BASELINE))

    assert result.exit_code == 0, result.output
    details = dict((line.split(None, 1) + [""])[:2] for line in result.stdout.splitlines()[:15])
    assert details == {
        "id": str(BASELINE),
        "experiment": "mnist",
        "model": "a1 (mlp)",
        "name": "baseline",
        "status": "finished",
        "started": "2023-11-14 22:13:20 UTC",
        "ended": "2023-11-14 23:15:25 UTC",
        "heartbeat": "2023-11-14 23:15:25 UTC",
        "duration": "1h 02m 05s",
        "host": "gpu-1",
        "pid": "4242",
        "command": "train.py --lr 0.1 --note 'two words'",
        "git": "0123abcd (main, dirty)",
        "environment": "python=3.11.9, torch=2.1.0",
        "exit": "",
    }
    rows = table_rows(result.stdout)
    assert rows[:3] == [["lr", "0.1"], ["optimizer", "adam"], ["layers", "[64, 64]"]]
    # The tuned run's 0.75 is the model's last loss, not this run's.
    assert rows[3][:4] == ["loss", "train", "2", "0.25"]
    assert len(rows) == 4


def test_show_json(run: Run, stored: Stored) -> None:
    document = parse_json(run("--json", "runs", "show", str(TUNED)).stdout)

    assert list(document) == [
        "id",
        "experiment",
        "model_id",
        "model_hash",
        "name",
        "status",
        "started_at",
        "ended_at",
        "heartbeat_at",
        "duration",
        "host",
        "pid",
        "command",
        "git",
        "environment",
        "params",
        "exit",
        "latest",
    ]
    assert (document["experiment"], document["model_hash"], document["name"]) == (
        "mnist",
        "a1",
        "tuned",
    )
    assert (document["status"], document["exit"], document["duration"]) == (
        "failed",
        "ValueError: diverged",
        52.5,
    )
    assert [(point["name"], point["value"], point["step"]) for point in document["latest"]] == [
        ("loss", 0.75, 1)
    ]


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("bbbb2222", id="start"),
        pytest.param("BBBB", id="upper-case"),
        pytest.param("bbbb2222-0000", id="start-with-dash"),
        pytest.param(str(SILENT), id="whole"),
    ],
)
def test_show_accepts_a_unique_start_of_an_id(run: Run, stored: Stored, given: str) -> None:
    document = parse_json(run("--json", "runs", "show", given).stdout)

    assert document["id"] == str(SILENT)
    assert (document["model_hash"], document["status"], document["latest"]) == (
        "b2",
        "crashed",
        [],
    )


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        pytest.param("aaaa1111", "'aaaa1111' is the start of 2 run ids", id="ambiguous"),
        pytest.param("cccc", "no run id starts with 'cccc'", id="no-start"),
        pytest.param(
            "aaaa1111-0000-4000-8000-000000000009",
            "no run aaaa1111-0000-4000-8000-000000000009",
            id="no-id",
        ),
        pytest.param("run-1", "'run-1' is not a run id", id="not-an-id"),
        pytest.param("", "'' is not a run id", id="empty"),
    ],
)
def test_show_unknown_run_exits_1(run: Run, stored: Stored, given: str, fragment: str) -> None:
    assert_error(run("runs", "show", given), fragment)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        pytest.param(("cifar",), "no experiment named 'cifar'", id="no-experiment"),
        pytest.param(("mnist", "zz"), "no model with hash 'zz'", id="no-model"),
    ],
)
def test_list_unknown_experiment_or_model_exits_1(
    run: Run, stored: Stored, arguments: tuple[str, ...], fragment: str
) -> None:
    assert_error(run("runs", "list", *arguments), fragment)


def test_list_and_show_over_http(sqlite_uri: str) -> None:
    fill_runs(sqlite_uri)
    with serving(sqlite_uri) as url:
        listed = parse_json(invoke("--uri", url, "--json", "runs", "list", "mnist").stdout)
        shown = parse_json(invoke("--uri", url, "--json", "runs", "show", str(BASELINE)).stdout)
    assert [(document["model_hash"], document["status"]) for document in listed] == [
        ("a1", "finished"),
        ("a1", "failed"),
        ("b2", "crashed"),
    ]
    assert shown["id"] == str(BASELINE)
    assert [point["value"] for point in shown["latest"]] == [0.25]
