"""Helpers of the server tests: raw HTTP requests, the error envelope, rows seen from outside,
a server in a process of its own."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import urllib3

_http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5.0, read=60.0))

#: The tables whose row counts tell whether anything was written.
TABLES = ("experiments", "models", "series", "metrics", "modules", "iterations", "write_batches")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    chunked: bool = False,
) -> Answer:
    """One request, no retries; ``body`` is sent as JSON, ``raw`` as it is (``chunked``: in
    two chunks, without a content-length)."""
    sent = {"content-type": "application/json", **(headers or {})}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    data: Any = raw if raw is not None else None if body is None else orjson.dumps(body)
    if chunked and data is not None:
        half = len(data) // 2
        data = iter([data[:half], data[half:]])
    response = _http.request(method, url, body=data, headers=sent, redirect=False, chunked=chunked)
    return Answer(response.status, dict(response.headers), response.data)


def assert_envelope(answer: Answer, status: int, code: str | None = None) -> dict[str, str]:
    """``answer`` has ``status`` and the error envelope (with ``code``); its error object."""
    assert answer.status == status, (answer.status, answer.body[:500])
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    document = answer.json
    assert set(document) == {"error"}, document
    error = document["error"]
    assert set(error) == {"code", "message"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def row_counts(path: Path) -> dict[str, int]:
    """How many rows each table of the SQLite store ``path`` holds, read with sqlite3."""
    connection = sqlite3.connect(path)
    try:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in TABLES
        }
    finally:
        connection.close()


def stored_points(path: Path, hash: str, name: str) -> list[tuple[int, float]]:
    """The (step, value) of the points of series ``name`` of the model ``hash`` in the SQLite
    store ``path``, in storage order (read with sqlite3)."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT x.step, x.value FROM metrics x JOIN series s ON x.series_pk = s.pk "
            "JOIN models m ON s.model_pk = m.pk WHERE m.hash = ? AND s.name = ? "
            "ORDER BY x.seq",
            (hash, name),
        ).fetchall()
    finally:
        connection.close()
    return [(row[0], row[1]) for row in rows]


def sync(url: str) -> dict[str, object]:
    """`mltracker --uri URL sync --json`, which must succeed: what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", url, "sync", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


class ServerProcess:
    """``mltracker --uri STORE server --port PORT`` in a process of its own; use it as a
    context manager (what is still running at the end is killed).

    ``url`` is the first line the server prints on stdout; its stderr goes to ``log``.
    """

    def __init__(
        self,
        uri: str,
        *options: str,
        port: int = 0,
        log: Path,
        environment: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.log = log
        with open(log, "ab") as stderr:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "mltracker", "--uri", uri, "server", "--port", str(port)]
                + list(options),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, **(environment or {})},
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            self.__exit__()
            raise AssertionError(f"the server printed no URL; its log:\n{self.stderr()}")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``signum`` and wait for the process to end; its exit code."""
        self.popen.send_signal(signum)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the server still runs {timeout} s after signal {signum}:\n{self.stderr()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        self.__exit__()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.popen.stdout is not None
        self.popen.stdout.close()
