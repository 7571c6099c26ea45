"""The exception tree of MLTracker.

Every error the public API raises is an :class:`MLTrackerError`. Each class carries a stable
``code`` (shown on the right of its name) that crosses JSON unchanged::

    MLTrackerError                    error
    ├── NotFoundError                 not_found
    │     update/delete/remove of something that does not exist
    ├── AlreadyExistsError            already_exists
    │     (also ValueError) a duplicate experiment name or model hash
    ├── InvalidArgumentError          invalid_argument
    │   │ (also ValueError) a bad name, value, step or attribute
    │   ├── InvalidTypeError          invalid_argument.type
    │   │     (also TypeError) an argument of the wrong type
    │   └── PayloadTooLargeError      invalid_argument.too_large
    │         a request larger than a tracking server takes (HTTP 413)
    └── BackendError                  backend
        │ the store could not do what was asked
        ├── SchemaVersionError        backend.schema_version
        │     the store was written by a newer MLTracker
        ├── ForeignStoreError         backend.foreign_store
        │     the database holds something else than an MLTracker store
        ├── ReadOnlyStoreError        backend.read_only
        │     the store can be read but not written
        ├── BackendUnavailableError   backend.unavailable
        │     the store cannot be reached or stays locked
        ├── RemoteError               backend.remote
        │     a tracking server answered with an error
        ├── AccessDeniedError         backend.access_denied
        │     a tracking server refused the token (none, or a wrong one)
        └── CertificateError          backend.certificate
              an https:// server's certificate does not verify (no outage: never retried)

A code is its parent's code (if the parent is not :class:`MLTrackerError`) followed by a dot
and one more word, and no two classes share one. Codes never change once released: a client
may compare them. ``error.to_dict()`` gives ``{"code": ..., "message": ...}``;
:func:`error_from_code` (or :func:`error_from_dict`) rebuilds an error of the same class on
the other side. A code it does not know (one of a newer MLTracker) rebuilds as the nearest
class it knows, found by dropping words from the end of the code (``backend.new_thing`` is a
:class:`BackendError`), else as :class:`MLTrackerError`; rebuilding never raises. A subclass
defined elsewhere without a ``code`` of its own sends its parent's code and is rebuilt as its
parent.

Exceptions of SQLAlchemy, the database drivers and the HTTP client are translated at the
backend boundary; none of them escapes the public API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "BackendError",
    "BackendUnavailableError",
    "CertificateError",
    "ForeignStoreError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "MLTrackerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ReadOnlyStoreError",
    "RemoteError",
    "SchemaVersionError",
    "error_classes",
    "error_from_code",
    "error_from_dict",
]

#: Every class that declares a code, by its code.
_BY_CODE: dict[str, type[MLTrackerError]] = {}


class MLTrackerError(Exception):
    """The base of every error raised by MLTracker."""

    #: The stable name of this class of error, for the wire and for clients.
    code: ClassVar[str] = "error"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)

    def to_dict(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}``, which :func:`error_from_dict` turns back into an
        error of the same class."""
        return {"code": self.code, "message": str(self)}


def _register(cls: type[MLTrackerError]) -> None:
    """Record the class under its code, if it declares one; two classes never share a code."""
    code = cls.__dict__.get("code")
    if code is None:
        return
    if not isinstance(code, str) or not code:
        raise TypeError(f"{cls.__qualname__}.code must be a non-empty str, not {code!r}")
    taken = _BY_CODE.get(code)
    if taken is not None and taken is not cls:
        raise TypeError(
            f"{cls.__qualname__}.code {code!r} is already the code of {taken.__qualname__}"
        )
    _BY_CODE[code] = cls


_register(MLTrackerError)


def error_classes() -> dict[str, type[MLTrackerError]]:
    """Every error class that declares a code, by its code."""
    return dict(_BY_CODE)


def error_from_code(code: str, message: str) -> MLTrackerError:
    """The error of class ``code`` with ``message``; never raises.

    An unknown code gives the nearest known class: words are dropped from the end of the
    code (``backend.unavailable.new`` -> :class:`BackendUnavailableError`) until one is
    known, else :class:`MLTrackerError`.
    """
    cls = MLTrackerError
    if isinstance(code, str):
        candidate = code
        while candidate:
            known = _BY_CODE.get(candidate)
            if known is not None:
                cls = known
                break
            candidate = candidate.rpartition(".")[0]
    return cls(message if isinstance(message, str) else str(message))


def error_from_dict(data: Mapping[str, object]) -> MLTrackerError:
    """The error that ``error.to_dict()`` described; never raises (a missing or odd
    ``code`` gives :class:`MLTrackerError`, a missing ``message`` an empty one)."""
    code = data.get("code") if isinstance(data, Mapping) else None
    message = data.get("message", "") if isinstance(data, Mapping) else ""
    return error_from_code(
        code if isinstance(code, str) else "", message if isinstance(message, str) else str(message)
    )


class NotFoundError(MLTrackerError, LookupError):
    """The experiment, model, metric, module or iteration does not exist."""

    code = "not_found"


class AlreadyExistsError(MLTrackerError, ValueError):
    """An experiment of that name, or a model of that hash in its experiment, exists already."""

    code = "already_exists"


class InvalidArgumentError(MLTrackerError, ValueError):
    """An argument was refused: nothing was stored and nothing stored was changed."""

    code = "invalid_argument"


class InvalidTypeError(InvalidArgumentError, TypeError):
    """An argument has a type that MLTracker does not accept."""

    code = "invalid_argument.type"


class PayloadTooLargeError(InvalidArgumentError):
    """A request is larger than the tracking server takes (HTTP 413): send less at once."""

    code = "invalid_argument.too_large"


class BackendError(MLTrackerError):
    """The store failed to carry out an operation."""

    code = "backend"


class SchemaVersionError(BackendError):
    """The store's schema is newer than this version of MLTracker understands."""

    code = "backend.schema_version"


class ForeignStoreError(BackendError):
    """The database is not an MLTracker store: it has tables of another application (or is
    a file of another format), so MLTracker neither reads nor writes it.

    ``mltracker db upgrade --adopt`` adds MLTracker's tables to such a database, when none of
    its tables has the name of one of MLTracker's.
    """

    code = "backend.foreign_store"


class ReadOnlyStoreError(BackendError):
    """The store can be read but not written by this process (file or folder permissions, a
    read-only file system, a database role without write privileges)."""

    code = "backend.read_only"


class BackendUnavailableError(BackendError):
    """The store could not be reached, or stayed locked, for longer than the retry budget."""

    code = "backend.unavailable"


class RemoteError(BackendError):
    """A tracking server answered with an error that has no more specific class."""

    code = "backend.remote"


class AccessDeniedError(BackendError):
    """A tracking server refused the request: it needs a token and got none, or a wrong one.
    Give it with ``connect(url, token=...)`` or ``$MLTRACKER_TOKEN``."""

    code = "backend.access_denied"


class CertificateError(BackendError):
    """The TLS certificate of an ``https://`` tracking server does not verify: signed by an
    authority this client does not trust, made for another host name, or out of date. Trust
    a private authority (or a self-signed certificate) with ``$MLTRACKER_CA_BUNDLE``.

    This is no outage: asking again gets the same certificate, so the request is not retried
    and nothing was sent. The writes of a training loop that wait for the store raise it
    (like :class:`AccessDeniedError`); metric points already logged are kept, then spooled,
    as for an outage, and delivered by the next process that reaches the server (or
    ``mltracker sync``).
    """

    code = "backend.certificate"
