"""The dashboard's API routes (``/api/v1/overview``) on every backend: what each page reads."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from typing import Any

import pytest
import urllib3

import mltracker
from mltracker import wire

from .conftest import Serve
from .stores import EPOCHS, MODELS, Filled, fill


@pytest.fixture(scope="module")
def filled(module_uri: str) -> Filled:
    """One store of each backend for the module: the tests only read it (but one, which
    writes an experiment of its own)."""
    return fill(module_uri)


def get(url: str, path: str, **fields: Any) -> Any:
    answer = urllib3.request("GET", url + "/api/v1/overview" + path, fields=fields)
    assert answer.status == 200, answer.data
    if answer.headers["content-type"].startswith("application/json"):
        return json.loads(answer.data)
    return answer


def test_experiments_come_with_models_points_and_last_activity(
    serve: Serve, filled: Filled
) -> None:
    found = {row["name"]: row for row in get(serve(filled.uri), "/experiments")}
    assert {"spirals", "empty"} <= set(found)

    assert (found["spirals"]["models"], found["spirals"]["points"]) == (3, 3 * EPOCHS * 4)
    assert (found["empty"]["models"], found["empty"]["points"]) == (0, 0)
    assert found["spirals"]["last_activity"] >= found["spirals"]["created_at"]
    assert found["empty"]["last_activity"] == found["empty"]["created_at"]


def test_an_experiment_comes_with_its_models_and_their_latest_points(
    serve: Serve, filled: Filled
) -> None:
    document = get(serve(filled.uri), "/experiment", name="spirals")

    assert document["experiment"]["name"] == "spirals"
    assert [model["hash"] for model in document["models"]] == list(MODELS)
    assert {model["points"] for model in document["models"]} == {EPOCHS * 4}
    latest = wire.metrics_from_document(document["latest"])
    assert len(latest) == 3 * 4  # a point per series and model
    first = next(p for p in latest if (p.name, p.phase) == ("loss", "train"))
    assert (first.step, first.value) == (EPOCHS - 1, 1.0 / EPOCHS)


def test_an_experiment_without_counts_leaves_the_points_out(serve: Serve, filled: Filled) -> None:
    document = get(serve(filled.uri), "/experiment", name="spirals", counts="false")

    assert [model["points"] for model in document["models"]] == [None, None, None]
    assert len(document["latest"]["s"]) == 3 * 4


def test_a_model_comes_with_its_series_and_their_lengths(serve: Serve, filled: Filled) -> None:
    document = get(serve(filled.uri), "/model", experiment="spirals", hash="b2")

    assert (document["model"]["hash"], document["model"]["name"]) == ("b2", "mlp-64")
    assert [(s["name"], s["phase"], s["points"]) for s in document["series"]] == [
        ("loss", "train", EPOCHS),
        ("loss", "validation", EPOCHS),
        ("accuracy", "train", EPOCHS),
        ("lr", None, EPOCHS),
    ]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        pytest.param("/experiment", {"name": "nothing"}, id="experiment"),
        pytest.param("/model", {"experiment": "spirals", "hash": "zz"}, id="model"),
        pytest.param("/model", {"experiment": "nothing", "hash": "a1"}, id="model-experiment"),
    ],
)
def test_something_missing_is_404(
    serve: Serve, filled: Filled, path: str, fields: dict[str, str]
) -> None:
    answer = urllib3.request("GET", serve(filled.uri) + "/api/v1/overview" + path, fields=fields)
    assert answer.status == 404
    assert json.loads(answer.data)["error"]["code"] == "not_found"


def test_iterations_come_with_their_modules(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri)
    model_id = get(url, "/model", experiment="spirals", hash="c3")["model"]["id"]
    iterations = get(url, f"/models/{model_id}/iterations")

    assert [iteration["step"] for iteration in iterations] == list(range(EPOCHS))
    assert iterations[2]["modules"][0]["name"] == "optimizer"
    assert iterations[2]["modules"][0]["attributes"] == {"type": "SGD", "lr": 0.05 * 0.9**2}
    modules = get(url, f"/models/{model_id}/modules")
    assert [module["name"] for module in modules] == ["layers.0", "loss"]


def test_module_attributes_are_strict_json(serve: Serve, filled: Filled) -> None:
    with mltracker.connect(filled.uri) as tracker:
        model = tracker.experiments.create("strict").models.create("m")
        model.modules.log("odd", {"nan": math.nan, "inf": [math.inf, -math.inf]})
        model_id = model.id
    modules = get(serve(filled.uri), f"/models/{model_id}/modules")
    assert modules[0]["attributes"] == {"nan": "NaN", "inf": ["Infinity", "-Infinity"]}


def test_points_come_a_page_at_a_time(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri)
    model_id = get(url, "/model", experiment="spirals", hash="a1")["model"]["id"]
    page = get(url, f"/models/{model_id}/points", name="loss", phase="train", offset=5, limit=4)

    assert (page["total"], page["offset"]) == (EPOCHS, 5)
    assert page["points"]["step"] == [5, 6, 7, 8]
    assert page["next"] == page["points"]["ordinal"][-1]
    unphased = get(url, f"/models/{model_id}/points", name="lr", no_phase="true")
    assert unphased["total"] == EPOCHS and unphased["next"] is None

    # with the cursor: the page after the last one read; a jump to a step
    following = get(
        url, f"/models/{model_id}/points", name="loss", phase="train", after=page["next"], limit=4
    )
    assert following["points"]["step"] == [9, 10, 11] and following["next"] is None
    jumped = get(
        url, f"/models/{model_id}/points", name="loss", phase="train", start_step=7, limit=2
    )
    assert jumped["points"]["step"] == [7, 8] and jumped["total"] == EPOCHS


def test_an_offset_past_what_a_read_can_count_is_refused(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri)
    model_id = get(url, "/model", experiment="spirals", hash="a1")["model"]["id"]
    answer = urllib3.request(
        "GET",
        url + f"/api/v1/overview/models/{model_id}/points",
        fields={"name": "loss", "phase": "train", "offset": str(2**64)},
    )
    assert answer.status == 422, answer.data


def test_parquet_is_offered_where_the_server_can_write_it(
    serve: Serve, filled: Filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pyarrow")
    url = serve(filled.uri)
    export = f"{url}/api/v1/overview/export?experiment=spirals&hash=a1&format=parquet"
    document = get(url, "/model", experiment="spirals", hash="a1")
    answer = urllib3.request("GET", export)
    assert document["exports"] == ["csv", "parquet"]
    assert answer.status == 200 and answer.data.startswith(b"PAR1")

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # the server without pyarrow
    document = get(url, "/model", experiment="spirals", hash="a1")
    answer = urllib3.request("GET", export)
    assert document["exports"] == ["csv"]
    assert answer.status == 422, answer.data
    assert "pyarrow" in json.loads(answer.data)["error"]["message"]


def test_latest_gives_each_model_s_step_and_last_points(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri)
    ids = [get(url, "/model", experiment="spirals", hash=h)["model"]["id"] for h in ("a1", "b2")]
    answer = urllib3.request(
        "GET",
        f"{url}/api/v1/overview/latest?model={ids[0]}&model={ids[1]}"
        "&model=00000000-0000-0000-0000-000000000000",
    )
    found = json.loads(answer.data)

    assert list(found) == ids  # the missing model is left out
    assert {found[i]["step"] for i in ids} == {EPOCHS}
    assert len(found[ids[0]]["latest"]["s"]) == 4


def test_the_export_is_the_model_s_points_as_csv_or_parquet(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri)
    answer = get(url, "/export", experiment="spirals", hash="a1", format="csv")

    assert 'filename="spirals-a1.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.data.decode())))
    assert len(rows) == EPOCHS * 4
    assert (rows[0]["experiment"], rows[0]["model_hash"], rows[0]["name"]) == (
        "spirals",
        "a1",
        "loss",
    )
    with mltracker.connect(filled.uri) as tracker:
        model = tracker.experiments.read("spirals").models.read("a1")  # type: ignore[union-attr]
        assert model is not None
        runs = [str(run.id) for run in model.runs.list()]
    assert len(runs) == 1 and {row["run"] for row in rows} == set(runs)
    pyarrow = pytest.importorskip("pyarrow.parquet")
    parquet = get(url, "/export", experiment="spirals", hash="a1", format="parquet")
    table = pyarrow.read_table(io.BytesIO(parquet.data))
    assert table.num_rows == EPOCHS * 4
    assert set(table.column("run").to_pylist()) == set(runs)


def test_a_read_only_server_serves_the_dashboard(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri, read_only=True)
    assert get(url, "/experiment", name="spirals")["experiment"]["name"] == "spirals"
    page = urllib3.request("GET", url + "/experiments/spirals")
    assert page.status == 200 and b'<main id="page"' in page.data


def test_a_model_counts_the_nan_of_each_series_of_each_run(serve: Serve, filled: Filled) -> None:
    with mltracker.connect(filled.uri) as tracker:
        model = tracker.experiments.create("nan-counts").models.create("m")
        with model.runs.start(name="first") as first:
            for step in range(10):
                first.metrics.log("loss", math.nan if step % 3 == 0 else 1.0, step=step)
                first.metrics.log("acc", 0.5, step=step)
        with model.runs.start(name="second") as second:
            second.metrics.log("loss", math.nan, step=0)
            second.metrics.log("loss", "NaN", step=1)  # a string, not a NaN
            second.metrics.log("loss", math.inf, step=2)
    document = get(serve(filled.uri), "/model", experiment="nan-counts", hash="m")

    nan = {(s["name"], s["phase"]): s["nan"] for s in document["series"]}
    assert nan == {("loss", None): {str(first.id): 4, str(second.id): 1}, ("acc", None): {}}
