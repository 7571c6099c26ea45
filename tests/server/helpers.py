"""Helpers of the server tests: raw HTTP requests, the error envelope, rows seen from outside."""

from __future__ import annotations

import sqlite3
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


def stored_steps(path: Path, hash: str) -> list[int]:
    """The steps of the model ``hash``'s points in the SQLite store ``path``, in storage
    order."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT x.step FROM metrics x JOIN series s ON x.series_pk = s.pk "
            "JOIN models m ON s.model_pk = m.pk WHERE m.hash = ? ORDER BY x.seq",
            (hash,),
        ).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]
