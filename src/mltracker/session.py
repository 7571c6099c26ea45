"""The session: a store and its metric writer, shared by every view of one URI in a process.

Views reach the store through :func:`session_store`, which writes the queued metric points
(and other queued writes) first, so the store always holds a prefix of what was logged. The
writes of a training loop go through the writer instead (``MetricWriter.submit``).
"""

from __future__ import annotations

import logging
from uuid import UUID

from mltracker.errors import NotFoundError
from mltracker.ports.store import Store
from mltracker.runs.lifecycle import RunBook
from mltracker.writer import MetricWriter

logger = logging.getLogger(__name__)


class Session:
    """A store and its metric writer: what every view of one URI shares in a process."""

    def __init__(self, store: Store, writer: MetricWriter) -> None:
        self._store = store
        self.writer = writer
        #: The step of each model (by the id its handles know) as this process knows it:
        #: read from the store, then moved by the step writes it made since. What
        #: ``model.step`` answers while the store is away.
        self.steps: dict[UUID, int] = {}
        #: The runs this process writes through this session (``mltracker.runs``).
        self.runs = RunBook(self)
        #: Whether its runs sample the system (``connect(..., system_metrics=True)``).
        self.system_metrics = False

    @property
    def store(self) -> Store:
        """The store, after every queued metric point (and other write) has been written to
        it.

        Raises:
            BackendUnavailableError: The store is known to be away and still does not take
                the queued writes (within ``$MLTRACKER_WRITE_WAIT_SECONDS``): reads need it.
        """
        self.writer.flush_for_read()
        return self._store

    def resolve(self, id: UUID) -> UUID:
        """The store's id of an experiment or model that a handle knows by ``id`` (another
        if the client named it while the store was away, and the store held it already)."""
        return self.writer.ids(id)

    @property
    def uri(self) -> str:
        return self._store.uri

    def close(self) -> None:
        """End the runs this process writes here (``finished``), write what is queued, and
        close the store."""
        try:
            self.runs.end_all("finished")
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
