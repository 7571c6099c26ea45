"""The README's "Tokens" commands run as written: two tokens made into a tokens file, and a
server of that file that lets the first write and the second only read."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import mltracker

from .helpers import ServerProcess, call

README = Path(__file__).resolve().parents[2] / "README.md"


def tokens_commands() -> list[list[str]]:
    """The commands of the first shell block of the README's "### Tokens", as arguments."""
    section = README.read_text(encoding="utf-8").split("\n### Tokens\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "no ```bash block under ### Tokens"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line]


def test_the_readme_tokens_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTRACKER_TOKEN", raising=False)
    *making, serving = tokens_commands()
    made = []
    for command in making:
        assert command[:3] == ["mltracker", "token", "new"], command
        done = subprocess.run(
            [sys.executable, "-m", "mltracker", *command[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        made.append(done.stdout.strip())
    writer, reader = made
    assert serving[:2] == ["mltracker", "--uri"] and serving[3] == "server", serving
    options = serving[4:]
    # Listening on this machine's loopback only: the test reaches it at 127.0.0.1.
    options[options.index("--host") + 1] = "127.0.0.1"
    with ServerProcess(serving[2], *options, log=tmp_path / "server.log") as server:
        with mltracker.connect(server.url, token=writer) as tracker:
            tracker.experiments.create("by-alice")
        answer = call("POST", server.url + "/api/v1/experiments", {"name": "x"}, token=reader)
        assert answer.status == 403, answer.body
        listed = call("GET", server.url + "/api/v1/experiments", token=reader)
        assert [entry["name"] for entry in listed.json] == ["by-alice"]
