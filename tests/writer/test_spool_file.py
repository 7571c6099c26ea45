"""The spool file under faults: a write that fails half-way, lines damaged in the file, and a
batch the store refuses for good. Every whole batch reaches a real SQLite store, in order;
what cannot be read is kept beside the spool, and nothing raises a raw exception."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from contextlib import closing
from pathlib import Path

import pytest

import mltracker
from mltracker.connect import close_all
from mltracker.ports.store import Point
from mltracker.spool import Spool, set_aside, store_key


def _stored_steps(path: str) -> list[int]:
    with closing(sqlite3.connect(path)) as connection:  # a with of its own only commits
        return [row[0] for row in connection.execute("SELECT step FROM metrics ORDER BY seq")]


def _store(sqlite_uri: str) -> str:
    """Create the store with model ``m`` of experiment ``e``; its URI as the store names it."""
    with mltracker.connect(sqlite_uri) as tracker:
        tracker.experiments.create("e").models.create("m")
        return tracker.store.uri


def _batches(sqlite_uri: str, steps: list[range]) -> list[tuple[uuid.UUID, list[Point]]]:
    """Batches of points of model ``m`` (encoded as the writer queues them), one per range."""
    with mltracker.connect(sqlite_uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        for step in range(steps[-1].stop):
            model.metrics.log("loss", float(step), step=step)
        # The points only (the start of the process's run is queued before them).
        points = [item for item in tracker.writer._queue if type(item) is tuple]
        tracker.writer._queue.clear()
    return [(uuid.uuid4(), points[r.start : r.stop]) for r in steps]


def _next_process_writes(sqlite_uri: str, step: int) -> None:
    """What a later process does: log one point, which first writes what was spooled."""
    close_all()  # a session of its own, as in a new process (this one's writer looked already)
    with mltracker.connect(sqlite_uri) as tracker:
        experiment = tracker.experiments.read("e")
        assert experiment is not None
        model = experiment.models.read("m")
        assert model is not None
        model.metrics.log("loss", float(step), step=step)


def _sync(sqlite_uri: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", sqlite_uri, "sync", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result = dict(json.loads(done.stdout))
    result["stderr"] = done.stderr
    return result


# A write that fails half-way: a real file-size limit (EFBIG) in a child process.

_LIMITED_WRITER = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    import mltracker
    from mltracker.backends.sql import engine
    engine.RETRY_SECONDS = 0.2
    engine.SQLITE_BUSY_TIMEOUT_MS = 50
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    tracker = mltracker.connect(sys.argv[1])
    writer = tracker.writer
    writer.interval = 3600.0
    writer.max_pending = 1_000
    model = tracker.experiments.read("e").models.read("m")
    for step in range(1_000):  # the store is locked: these go to the spool
        model.metrics.log("loss", float(step), step=step)
    [spool] = writer.spool_files
    before = os.path.getsize(spool)
    # The next spill (about 100 KB) fails with EFBIG half-way through its line.
    resource.setrlimit(resource.RLIMIT_FSIZE, (before + 40_000, hard))
    for step in range(1_000, 2_000):
        model.metrics.log("loss", float(step), step=step)
    after = os.path.getsize(spool)
    with open(spool, "rb") as file:
        whole = file.read().endswith(b"\\n")
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    for step in range(2_000, 3_000):  # the spool takes points again, after whole lines
        model.metrics.log("loss", float(step), step=step)
    print(json.dumps({"before": before, "after": after, "whole": whole,
                      "queued": len(writer._queue), "pending": writer.pending}))
    """
)


def test_a_spill_that_fails_half_way_leaves_whole_lines_and_the_next_process_gets_them_all(
    sqlite_uri: str, tmp_path: Path
) -> None:
    _store(sqlite_uri)
    blocker = sqlite3.connect(sqlite_uri, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        child = subprocess.run(
            [sys.executable, "-c", _LIMITED_WRITER, sqlite_uri],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        assert "File too large" in child.stderr, child.stderr  # the limit was hit, for real
        outcome = json.loads(child.stdout)
        assert outcome["after"] == outcome["before"], "the torn line is cut off"
        assert outcome["whole"]
        assert outcome["pending"] == 3_001  # the points and the start of their run
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    spool = tmp_path / "spool"
    assert len(list(spool.glob("*.spool"))) == 1
    assert _stored_steps(sqlite_uri) == []

    _next_process_writes(sqlite_uri, 3_000)
    assert _stored_steps(sqlite_uri) == list(range(3_001))
    assert list(spool.iterdir()) == [], "nothing set aside: the file held whole lines only"


_LIMITED_APPEND = textwrap.dedent(
    """
    import errno, os, pickle, resource, signal, sys
    from mltracker.spool import Spool
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    uri, batches = sys.argv[1], pickle.loads(bytes.fromhex(sys.stdin.read()))
    spool = Spool.create(uri, uri)
    spool.append(batches[:1])
    size = os.path.getsize(spool.path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 1_000, hard))
    try:
        spool.append(batches[1:2])
    except OSError as error:
        assert error.errno == errno.EFBIG, error
        assert os.path.getsize(spool.path) == size, "cut back"
    else:
        raise AssertionError("the limit did not hold")
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    spool.append(batches[2:])
    print("ok")
    """
)


def test_an_append_past_a_file_size_limit_is_cut_back_and_the_next_one_is_read(
    sqlite_uri: str, tmp_path: Path
) -> None:
    import pickle

    uri = _store(sqlite_uri)
    batches = _batches(sqlite_uri, [range(0, 100), range(100, 200), range(200, 300)])
    child = subprocess.run(
        [sys.executable, "-c", _LIMITED_APPEND, uri],
        input=pickle.dumps(batches).hex(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr
    [adopted] = Spool.orphans(uri)
    try:
        assert adopted.points == 200
        assert adopted.peek() is not None
    finally:
        adopted.release()
    _next_process_writes(sqlite_uri, 300)
    assert _stored_steps(sqlite_uri) == [*range(0, 100), *range(200, 301)]
    assert list((tmp_path / "spool").iterdir()) == []


# Lines damaged in the file: set aside, the batches around them written.


def _damaged_spool(sqlite_uri: str) -> tuple[Path, list[bytes]]:
    """A spool file left by an ended process, holding five good batches among bad lines."""
    uri = _store(sqlite_uri)
    batches = _batches(sqlite_uri, [range(i * 10, i * 10 + 10) for i in range(5)])
    spool = Spool.create(uri, uri)
    spool.append(batches)
    path = spool.path
    spool.release()
    header, *good = path.read_bytes().splitlines(keepends=True)
    row = json.loads(good[0])["points"][0]
    bad = [
        b"not json at all\n",
        b'{"batch": "zz", "points": []}\n',  # not a UUID
        b"[1, 2, 3]\n",  # not a batch
        json.dumps(
            {"batch": uuid.uuid4().hex, "points": [[*row[:5], "0xnot-hex", *row[6:]]]}
        ).encode()
        + b"\n",
        json.dumps({"batch": uuid.uuid4().hex, "points": [row[:3]]}).encode() + b"\n",
        b"\xff\xfe not utf-8\n",
    ]
    torn = good[2][: len(good[2]) // 2]  # a line cut half-way, the next glued to it
    tail = good[4][:30]  # the last line of a process killed mid-write
    path.write_bytes(
        header
        + good[0]
        + bad[0]
        + bad[1]
        + good[1]
        + bad[2]
        + bad[3]
        + torn
        + good[2]
        + bad[4]
        + bad[5]
        + good[3]
        + tail
    )
    return path, [*bad[:4], torn, *bad[4:], tail]  # in the file's order


def _rejected_lines(path: Path) -> list[bytes]:
    lines = path.read_bytes().splitlines(keepends=True)
    headers = [json.loads(line) for line in lines[0::2]]
    assert all(header["reason"] and header["rejected_from"] for header in headers), headers
    return lines[1::2]


@pytest.mark.parametrize("deliver", ["next process", "mltracker sync"])
def test_damaged_lines_are_set_aside_and_every_good_batch_is_written(
    deliver: str, sqlite_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    path, bad = _damaged_spool(sqlite_uri)
    if deliver == "next process":
        _next_process_writes(sqlite_uri, 50)
        err = capfd.readouterr().err
        expected = [*range(40), 50]
    else:
        result = _sync(sqlite_uri)
        assert result["written"] == 40
        assert result["spool_files_left"] == []
        err = str(result["stderr"])
        expected = list(range(40))
    assert _stored_steps(sqlite_uri) == expected
    assert not path.exists()
    rejected = path.with_suffix(".rejected")
    assert _rejected_lines(rejected) == [line.rstrip(b"\n") + b"\n" for line in bad]
    assert f"{path}" in err and f"set aside in {rejected}" in err, err
    assert "JSONDecodeError" not in err and "Traceback" not in err, err


def test_a_spool_read_again_after_setting_lines_aside_sets_none_aside_twice(
    sqlite_uri: str,
) -> None:
    path, bad = _damaged_spool(sqlite_uri)
    uri = f"sqlite:///{sqlite_uri}"
    [first] = Spool.orphans(uri)
    assert first.points == 40
    first.release()  # a process that adopted it and ended before writing anything
    [second] = Spool.orphans(uri)
    assert second.points == 40
    found = []
    while (front := second.peek()) is not None:
        (_batch_id, points), end = front
        found.append(points[0][1])
        second.advance(end, len(points))
    second.release()
    assert found == [0, 10, 20, 30]
    assert len(_rejected_lines(path.with_suffix(".rejected"))) == len(bad)


# A batch the store refuses for good.


def test_set_aside_keeps_a_refused_batch_where_no_replay_takes_it_and_a_person_can(
    sqlite_uri: str, tmp_path: Path
) -> None:
    uri = _store(sqlite_uri)
    [(batch_id, points)] = _batches(sqlite_uri, [range(0, 5)])
    path = set_aside(store_key(uri), uri, batch_id, points, "413: the body is too large")
    assert path.parent == tmp_path / "spool" and path.suffix == ".refused"
    header, line = path.read_bytes().splitlines()
    assert json.loads(header)["refused"] == "413: the body is too large"
    assert json.loads(header)["store"] == sqlite_uri and json.loads(header)["time"]
    assert json.loads(line)["batch"] == batch_id.hex
    assert Spool.orphans(uri) == [], "never replayed on its own"

    path.rename(path.with_suffix(".spool"))  # replayed when a person asks for it
    assert _sync(sqlite_uri)["written"] == 5
    assert _stored_steps(sqlite_uri) == list(range(5))


def test_drop_front_takes_the_refused_batch_out_for_every_later_process(
    sqlite_uri: str,
) -> None:
    uri = _store(sqlite_uri)
    batches = _batches(sqlite_uri, [range(0, 10), range(10, 20), range(20, 30)])
    spool = Spool.create(uri, uri)
    spool.append(batches)
    assert not spool.drop_front(batches[1][0]), "only the batch in front"
    front = spool.peek()
    assert front is not None and front[0][0] == batches[0][0]
    spool.advance(front[1], 10)
    assert spool.drop_front(batches[1][0])
    assert spool.points == 10
    front = spool.peek()
    assert front is not None and front[0][0] == batches[2][0]
    spool.release()  # the process ends before writing the rest

    [adopted] = Spool.orphans(uri)
    assert adopted.points == 20  # the first batch again (the store knows its id), not the second
    adopted.release()
    _next_process_writes(sqlite_uri, 30)
    assert _stored_steps(sqlite_uri) == [*range(10), *range(20, 31)]


def test_a_torn_line_a_failed_cut_left_is_ended_by_the_next_append_then_set_aside(
    sqlite_uri: str, tmp_path: Path
) -> None:
    uri = _store(sqlite_uri)
    first, second = _batches(sqlite_uri, [range(0, 10), range(10, 20)])
    spool = Spool.create(uri, uri)
    try:
        spool.append([first])
        with open(spool.path, "ab") as file:  # what a write that failed and could not be cut
            file.write(b'{"batch": "0123')  # back would leave
        front = spool.peek()
        assert front is not None and front[0][0] == first[0]
        spool.advance(front[1], 10)
        assert spool.peek() is None, "in a living process's spool, a torn end is not a batch"
        assert not spool.path.with_suffix(".rejected").exists()
        spool.append([second])
        front = spool.peek()
        assert front is not None and front[0][0] == second[0]
    finally:
        spool.release()
    assert _rejected_lines(spool.path.with_suffix(".rejected")) == [b'{"batch": "0123\n']
    _next_process_writes(sqlite_uri, 20)
    assert _stored_steps(sqlite_uri) == list(range(21))
