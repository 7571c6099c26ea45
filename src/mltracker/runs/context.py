"""What a run records of where it runs: host, process id, command, git and versions.

Read once per process, without a subprocess but for one ``git status`` (whether the work
tree is dirty), bounded by a timeout; any failure leaves a field ``None``, never fails the run.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: The packages whose versions a run records, when the process imported them.
_PACKAGES = ("torch", "lightning", "pytorch_lightning", "transformers", "numpy")
_DISTRIBUTIONS = {"pytorch_lightning": "pytorch-lightning"}


def capture() -> dict[str, Any]:
    """The context of a run started now by this process."""
    return {
        "host": _host(),
        "pid": os.getpid(),
        "command": list(sys.argv),
        "git": git_state(os.getcwd()),
        "environment": environment(),
    }


@functools.cache
def _host() -> str:
    return socket.gethostname()


def environment() -> dict[str, str]:
    """Python's version and those of mltracker and the ML packages this process imported."""
    found = {"python": platform.python_version(), "mltracker": _version("mltracker")}
    for package in _PACKAGES:
        if package in sys.modules:
            version = _version(_DISTRIBUTIONS.get(package, package))
            if version is not None:
                found[package] = version
    return {key: value for key, value in found.items() if value is not None}


@functools.cache
def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def git_state(directory: str) -> dict[str, Any] | None:
    """The commit, branch and dirtiness of the git work tree holding ``directory``; ``None``
    outside one. The commit and branch are read from ``.git`` itself."""
    root = _work_tree(Path(directory))
    if root is None:
        return None
    git_dir = _git_dir(root)
    if git_dir is None:
        return None
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    branch = None
    commit: str | None = head
    if head.startswith("ref: "):
        ref = head[5:]
        branch = ref.removeprefix("refs/heads/")
        commit = _resolve_ref(git_dir, ref)
    return {"commit": commit, "branch": branch, "dirty": _dirty(root)}


def _work_tree(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _git_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    try:  # a worktree or submodule: "gitdir: <path>"
        text = dot_git.read_text().strip()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    found = Path(text[8:])
    return found if found.is_absolute() else (root / found).resolve()


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        try:
            common = (git_dir / commondir.read_text().strip()).resolve()
        except OSError:
            pass
    for base in (git_dir, common):
        try:
            return (base / ref).read_text().strip()
        except OSError:
            continue
    for base in (git_dir, common):
        try:
            lines = (base / "packed-refs").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def _dirty(root: Path) -> bool | None:
    """Whether tracked files have changes (one ``git status``, 2 s at most); ``None`` when
    git cannot say."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            timeout=2.0,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return bool(done.stdout.strip())
