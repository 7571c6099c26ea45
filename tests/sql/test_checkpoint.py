"""After a normal run the SQLite file alone holds the data: its write-ahead log was
checkpointed into it, at ``close()`` and at interpreter exit (after the metric writers'
last flush), so that copying the ``.db`` file copies the store."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

POINTS = 10_000

#: A job that logs ``POINTS`` points to the store at ``argv[1]`` and ends normally: through
#: ``get_experiment`` (whose session stays open until exit), or ``connect()``/``close()``.
JOB = textwrap.dedent(
    """
    import sys, mltracker
    path, way, points = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if way == "get_experiment":
        model = mltracker.get_experiment("e", path).models.get_or_create("m")
        for step in range(points):
            model.metrics.log("loss", step * 0.5, step=step)
    else:
        tracker = mltracker.connect(path)
        model = tracker.experiments.get_or_create("e").models.get_or_create("m")
        for step in range(points):
            model.metrics.log("loss", step * 0.5, step=step)
        tracker.close()
    """
)


@pytest.mark.parametrize("way", ["get_experiment", "connect-close"])
def test_the_db_file_alone_holds_every_point_after_a_normal_run(tmp_path: Path, way: str) -> None:
    path = tmp_path / "run" / "run.db"
    done = subprocess.run(
        [sys.executable, "-c", JOB, str(path), way, str(POINTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    copy = tmp_path / "copy" / "run.db"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)  # the .db file only, without its -wal

    with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as connection:
        rows = connection.execute("SELECT step, value FROM metrics ORDER BY seq").fetchall()
    assert rows == [(step, step * 0.5) for step in range(POINTS)]
    wal = Path(str(path) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
