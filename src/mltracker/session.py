"""The session: a store and its metric writer, shared by every view of one URI in a process.

Views reach the store through :func:`session_store`, which writes the queued metric points
first, so the store always holds a prefix of what was logged.
"""

from __future__ import annotations

import logging

from mltracker.errors import NotFoundError
from mltracker.ports.store import Store
from mltracker.writer import MetricWriter

logger = logging.getLogger(__name__)


class Session:
    """A store and its metric writer: what every view of one URI shares in a process."""

    def __init__(self, store: Store, writer: MetricWriter) -> None:
        self._store = store
        self.writer = writer

    @property
    def store(self) -> Store:
        """The store, after every queued metric point has been written to it."""
        self.writer.flush()
        return self._store

    @property
    def uri(self) -> str:
        return self._store.uri

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self._store.close()


def session_store(session: Session) -> Store:
    """The session's store, after the queued metric points were written to it.

    Points queued for a model that was deleted meanwhile (by another process, say) cannot be
    written: the flush drops them and reports them with ``NotFoundError``. A call about
    something else is no place for that report: here it goes to the log as a warning and the
    call proceeds. (An explicit ``flush()`` or ``close()`` that meets such points raises it.)
    """
    while True:
        try:
            return session.store
        except NotFoundError as error:  # each report comes with the batch it dropped
            logger.warning("%s", error)
