"""A corrupted SQLite file: a typed MLTracker error, never a hang, a crash or a raw sqlite3 error.

A store with data is copied and damaged in one place per case: the file header, the middle of
page 1 (the schema, read by every open), and the middle of pages picked at random. A child
process opens each copy, reads all of it and writes to it, under a timeout.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import mltracker
from mltracker.connect import close_all

from .children import Child

SEED = 4242
RANDOM_PAGES = 8


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """A store with some of everything, checkpointed into one file: (path, page size, pages)."""
    path = tmp_path_factory.mktemp("corrupt") / "pristine.db"
    with mltracker.connect(path) as tracker:
        for name in ("first", "second"):
            model = tracker.experiments.create(name).models.create("m", name="mlp")
            for step in range(10_000):
                model.metrics.log("loss", step * 0.5, step=step, phase="train")
            model.modules.log("layer", {"type": "Linear", "sizes": [784, 128]})
            model.iterations.create(1).modules.log("optimizer", {"lr": 0.1})
    close_all()
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    finally:
        connection.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path, page_size, pages


def damaged_copy(pristine: Path, target: Path, offset: int, data: bytes) -> Path:
    shutil.copyfile(pristine, target)
    with open(target, "r+b") as file:
        file.seek(offset)
        file.write(data)
    return target


def open_read_write(path: Path, tmp_path: Path) -> dict[str, Any]:
    with Child("open-read-write", str(path), log=tmp_path / f"{path.name}.log") as child:
        return child.result(timeout=60)  # the timeout is the proof that nothing hangs


def assert_typed(outcome: dict[str, Any], where: str) -> None:
    error = outcome["error"]
    assert error is not None, f"{where}: {outcome}"
    assert error["module"] == "mltracker.errors" and error["backend"], f"{where}: {error}"


@pytest.mark.parametrize(
    ("case", "offset", "data"),
    [
        pytest.param("magic", 0, b"\xff" * 16, id="magic-string"),
        pytest.param("page-size", 16, b"\x00\x07", id="page-size-field"),
        pytest.param("whole-header", 0, bytes(100), id="whole-header-zeroed"),
    ],
)
def test_damaged_header_is_refused_at_open_with_a_typed_error(
    pristine: tuple[Path, int, int], tmp_path: Path, case: str, offset: int, data: bytes
) -> None:
    path = damaged_copy(pristine[0], tmp_path / f"{case}.db", offset, data)
    outcome = open_read_write(path, tmp_path)
    assert_typed(outcome, case)
    assert outcome["stage"] == "open", outcome


def test_damaged_schema_page_is_refused_at_open_with_a_typed_error(
    pristine: tuple[Path, int, int], tmp_path: Path
) -> None:
    source, page_size, _ = pristine
    for fill in (b"\xff", b"\x00"):
        # The last eighth of page 1: the cells of the schema's b-tree (its content area
        # grows from the page's end), whether the schema fits on the page or spans more.
        path = damaged_copy(
            source,
            tmp_path / f"schema-{fill.hex()}.db",
            page_size - page_size // 8,
            fill * (page_size // 8),
        )
        outcome = open_read_write(path, tmp_path)
        assert_typed(outcome, f"page 1 filled with {fill!r}")
        assert outcome["stage"] == "open", outcome


@pytest.mark.slow
def test_damaged_pages_give_a_typed_error_or_go_unnoticed(
    pristine: tuple[Path, int, int], tmp_path: Path
) -> None:
    source, page_size, pages = pristine
    rng = random.Random(SEED)
    outcomes = []
    for page in sorted(rng.sample(range(2, pages + 1), RANDOM_PAGES)):
        offset = (page - 1) * page_size + page_size // 4
        garbage = rng.randbytes(page_size // 2)
        path = damaged_copy(source, tmp_path / f"page{page}.db", offset, garbage)
        outcome = open_read_write(path, tmp_path)
        if outcome["error"] is not None:
            assert_typed(outcome, f"page {page}")
        outcomes.append((page, outcome["stage"], (outcome["error"] or {}).get("message")))
    print(f"{pages} pages; (damaged page, stage reached, error):", outcomes)
