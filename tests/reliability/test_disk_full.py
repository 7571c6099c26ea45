"""Disk full under a SQLite store: a typed error at flush, a sound store, and a retry that works.

The store lives on a 2 MB tmpfs mounted for the test (we are root); space is freed by
remounting it at 8 MB. Where mounting is not permitted, a child process gets the same
situation from a file-size limit (``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mltracker.connect import close_all

from .children import Child, disk_full_run


def mount(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def unmount(directory: Path) -> None:
    if (
        subprocess.run(
            ["umount", str(directory)], capture_output=True, timeout=60, check=False
        ).returncode
        != 0
    ):
        subprocess.run(
            ["umount", "-l", str(directory)], capture_output=True, timeout=60, check=False
        )


def open_while_full(path: Path, tmp_path: Path) -> dict[str, Any]:
    with Child("open-read-write", str(path), log=tmp_path / "open-while-full.log") as child:
        return child.result(timeout=120)


def test_disk_full_gives_a_typed_error_and_a_sound_store_then_flush_works_again(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "small-disk"
    disk.mkdir()
    path = disk / "store.db"
    opened: dict[str, Any] | None = None
    if mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)).returncode == 0:
        try:

            def free() -> None:
                nonlocal opened
                opened = open_while_full(path, tmp_path)  # another process, disk still full
                remount = mount("-o", "remount,size=8m", str(disk))
                assert remount.returncode == 0, remount.stderr

            outcome = disk_full_run(str(path), lambda: None, free)
        finally:
            close_all()
            unmount(disk)
    else:
        with Child("rlimit-disk-full", str(path), log=tmp_path / "rlimit.log") as child:
            outcome = child.result(timeout=180)

    error = outcome["error"]
    assert error is not None, f"the disk never filled: {outcome}"
    assert error["backend"] and error["module"] == "mltracker.errors", error
    assert outcome["problems_when_full"] == []
    # Everything flushed before the error is there, and nothing of the failed flush.
    assert outcome["stored_when_full"] == "unbroken"
    assert outcome["stored_count_when_full"] == outcome["flushed"] > 0
    assert outcome["pending_when_full"] == outcome["logged_when_full"] - outcome["flushed"]
    # After freeing space: the queued points arrive, and later ones too.
    assert outcome["retry_error"] is None
    assert outcome["stored"] == "unbroken"
    assert outcome["stored_count"] == outcome["logged"]
    assert outcome["problems"] == []
    if opened is not None:  # a new process opens and reads the full store; a write may fail
        assert opened["stage"] in ("write", "done"), opened
        assert opened["error"] is None or opened["error"]["backend"], opened
    print(f"disk full after {outcome['flushed']} points: {error['type']}: {error['message']}")
