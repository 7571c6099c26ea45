"""Runs as the dashboard shows them: each with the status a reader sees at the server's
clock (``mltracker.runs.status.status_of``: a running run whose heartbeat went stale reads
``crashed``), and only what its tables show of the run's context (the host).

A page computes a run's duration from ``started_at`` to ``ended_at`` (an ended run), to
``heartbeat_at`` (a crashed one: when it was last heard of) or to the document's ``now``
(a running one), so that the browser's clock plays no part.
"""

from __future__ import annotations

from typing import Any

from mltracker.codec import json_safe
from mltracker.ports.store import RunRow
from mltracker.runs.status import status_of

__all__ = ["run_document"]


def run_document(row: RunRow, now: float) -> dict[str, Any]:
    """A run for a page: ``status`` is the one shown at ``now``; ``params`` as strict JSON
    (NaN and the infinities as text, see ``mltracker.codec.json_safe``)."""
    host = row.context.get("host")
    return {
        "id": str(row.id),
        "model_id": str(row.model_id),
        "name": row.name,
        "status": status_of(row, now),
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "heartbeat_at": row.heartbeat_at,
        "host": host if isinstance(host, str) else None,
        "params": json_safe(row.params),
        "exit": row.exit,
    }
