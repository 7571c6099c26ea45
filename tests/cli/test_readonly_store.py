"""A store the user can read but not write: reading works, writing says why it cannot.

The store belongs to another user (``nobody`` reads a file of root's, through ``setpriv``),
or, when the tests do not run as root, is made read-only (file 0444, folder 0555). Either way
nothing may appear beside it: SQLite's ``-wal``/``-shm`` files created by a reader would
belong to the reader, and the owner could no longer write.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import mltracker
from mltracker.connect import close_all

from .helpers import FIRST_HASH, assert_error, fill, invoke

AS_ROOT = os.geteuid() == 0


def as_reader(*command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as a user who may read the store but not write it."""
    prefix: list[str] = []
    if AS_ROOT:
        nobody = pwd.getpwnam("nobody")
        prefix = [
            "setpriv",
            f"--reuid={nobody.pw_uid}",
            f"--regid={nobody.pw_gid}",
            "--clear-groups",
        ]
    environment = {**os.environ, "HOME": "/tmp", "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}
    environment.pop("MLTRACKER_URI", None)
    return subprocess.run(
        [*prefix, *command],
        capture_output=True,
        text=True,
        env=environment,
        cwd="/",
        timeout=120,
        check=False,
    )


def cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return as_reader(sys.executable, "-m", "mltracker", "--uri", str(path), *args)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder the reader can enter (pytest's own is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="mltracker-readonly-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        close_all()
        path.chmod(0o755)
        for child in path.iterdir():
            child.chmod(stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(path)


def protect(path: Path) -> None:
    """Make ``path`` and its folder read-only for a reader that is not root."""
    if not AS_ROOT:
        path.chmod(0o444)
        path.parent.chmod(0o555)


@pytest.fixture
def store(folder: Path) -> Path:
    """A filled store, closed (no -wal or -shm beside it), that the reader cannot write."""
    path = folder / "store.db"
    fill(str(path))
    close_all()
    assert sorted(p.name for p in folder.iterdir()) == ["store.db"]
    protect(path)
    return path


def state(path: Path) -> tuple[bytes, list[str]]:
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        pytest.param(["experiments", "list"], "mnist", id="experiments-list"),
        pytest.param(["experiments", "show", "mnist"], "mlp", id="experiments-show"),
        pytest.param(["models", "show", "mnist", FIRST_HASH], "layers.0", id="models-show"),
        pytest.param(["metrics", "list", "mnist", FIRST_HASH], "accuracy", id="metrics-list"),
        pytest.param(["export", "mnist", FIRST_HASH], "accuracy", id="export"),
        pytest.param(["db", "check"], "ok", id="db-check"),
    ],
)
def test_reading_commands_work_and_change_nothing(store: Path, args: list[str], shown: str) -> None:
    before = state(store)

    result = cli(store, *args)

    assert result.returncode == 0, result.stderr
    assert shown in result.stdout
    assert "readonly" not in result.stderr
    assert state(store) == before


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["experiments", "rename", "mnist", "digits"], id="experiments-rename"),
        pytest.param(["experiments", "delete", "empty", "--yes"], id="experiments-delete"),
        pytest.param(["models", "rename", "mnist", FIRST_HASH, "new"], id="models-rename"),
        pytest.param(["db", "upgrade"], id="db-upgrade"),
    ],
)
def test_writing_commands_say_the_store_is_not_writable(store: Path, args: list[str]) -> None:
    before = state(store)

    result = cli(store, *args)

    assert result.returncode == 1, result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "not writable for this user" in result.stderr
    assert "Traceback" not in result.stderr
    assert state(store) == before


LIBRARY_SCRIPT = """
import json, sys
import mltracker
path = sys.argv[1]
names = [e.name for e in mltracker.get_all_experiments(path).list()]
model = mltracker.get_experiment("mnist", path).models.read(sys.argv[2])
points = len(model.metrics.list())
try:
    mltracker.get_experiment("new", path)
    error = None
except mltracker.MLTrackerError as caught:
    error = [type(caught).__name__, isinstance(caught, mltracker.BackendError), str(caught)]
print(json.dumps({"names": names, "points": points, "error": error}))
"""


def test_library_reads_and_refuses_to_write_with_a_typed_error(store: Path) -> None:
    before = state(store)

    result = as_reader(sys.executable, "-c", LIBRARY_SCRIPT, str(store), FIRST_HASH)

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["names"] == ["mnist", "empty"]
    assert outcome["points"] == 11
    name, is_backend_error, message = outcome["error"]
    assert (name, is_backend_error) == ("ReadOnlyStoreError", True)
    assert f"{store}: cannot write" in message
    assert state(store) == before


def test_reader_sees_what_a_writer_that_has_the_store_open_wrote(folder: Path) -> None:
    path = folder / "store.db"
    fill(str(path))
    with mltracker.connect(path) as writer:
        writer.experiments.create("live")
        assert (folder / "store.db-wal").exists()
        protect(path)

        result = cli(path, "--json", "experiments", "list")

    assert result.returncode == 0, result.stderr
    assert [row["name"] for row in json.loads(result.stdout)] == ["mnist", "empty", "live"]


def test_reading_a_missing_store_in_a_folder_the_user_cannot_write(folder: Path) -> None:
    protect(folder / "absent.db")  # only the folder matters here

    result = as_reader(
        sys.executable,
        "-c",
        "import sys, mltracker; print(mltracker.get_all_experiments(sys.argv[1]).list())",
        str(folder / "absent.db"),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
    assert list(folder.iterdir()) == []


def read_only_postgres(uri: str) -> str:
    """The same PostgreSQL store, through sessions whose transactions are read-only (what a
    standby server or a role with ``default_transaction_read_only`` gives)."""
    return uri + "%20-cdefault_transaction_read_only%3Don"


def test_postgresql_store_that_refuses_writes_can_be_read(postgres_uri: str) -> None:
    fill(postgres_uri)
    close_all()
    uri = read_only_postgres(postgres_uri)

    assert [e.name for e in mltracker.get_all_experiments(uri).list()] == ["mnist", "empty"]
    listed = invoke("--uri", uri, "--json", "experiments", "list")
    assert listed.exit_code == 0, listed.output
    with pytest.raises(mltracker.ReadOnlyStoreError, match="read-only"):
        mltracker.get_experiment("new", uri)
    assert_error(invoke("--uri", uri, "experiments", "rename", "mnist", "digits"), "read-only")
    assert [e.name for e in mltracker.get_all_experiments(postgres_uri).list()] == [
        "mnist",
        "empty",
    ]
