"""The exception tree of MLTracker.

Every error the public API raises is an :class:`MLTrackerError`::

    MLTrackerError
    ├── NotFoundError                 update/delete/remove of something that does not exist
    ├── AlreadyExistsError            (also ValueError) a duplicate experiment name or model hash
    ├── InvalidArgumentError          (also ValueError) a bad name, value, step or attribute
    │   └── InvalidTypeError          (also TypeError) an argument of the wrong type
    └── BackendError                  the store could not do what was asked
        ├── SchemaVersionError        the store was written by a newer MLTracker
        ├── ForeignStoreError         the database holds something else than an MLTracker store
        ├── ReadOnlyStoreError        the store can be read but not written
        ├── BackendUnavailableError   the store cannot be reached or stays locked
        └── RemoteError               a tracking server answered with an error

Exceptions of SQLAlchemy, the database drivers and the HTTP client are translated at the
backend boundary; none of them escapes the public API.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "BackendError",
    "BackendUnavailableError",
    "ForeignStoreError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "MLTrackerError",
    "NotFoundError",
    "ReadOnlyStoreError",
    "RemoteError",
    "SchemaVersionError",
]


class MLTrackerError(Exception):
    """The base of every error raised by MLTracker."""


class NotFoundError(MLTrackerError, LookupError):
    """The experiment, model, metric, module or iteration does not exist."""


class AlreadyExistsError(MLTrackerError, ValueError):
    """An experiment of that name, or a model of that hash in its experiment, exists already."""


class InvalidArgumentError(MLTrackerError, ValueError):
    """An argument was refused: nothing was stored and nothing stored was changed."""


class InvalidTypeError(InvalidArgumentError, TypeError):
    """An argument has a type that MLTracker does not accept."""


class BackendError(MLTrackerError):
    """The store failed to carry out an operation."""


class SchemaVersionError(BackendError):
    """The store's schema is newer than this version of MLTracker understands."""


class ForeignStoreError(BackendError):
    """The database is not an MLTracker store: it has tables of another application (or is
    a file of another format), so MLTracker neither reads nor writes it.

    ``mltracker db upgrade --adopt`` adds MLTracker's tables to such a database, when none of
    its tables has the name of one of MLTracker's.
    """


class ReadOnlyStoreError(BackendError):
    """The store can be read but not written by this process (file or folder permissions, a
    read-only file system, a database role without write privileges)."""


class BackendUnavailableError(BackendError):
    """The store could not be reached, or stayed locked, for longer than the retry budget."""


class RemoteError(BackendError):
    """A tracking server answered with an error that has no more specific class."""
