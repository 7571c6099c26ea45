"""What went wrong on the way to a tracking server: an outage to ride out, or a wrong URL.

The HTTP client retries an outage (nothing listens on the port, the connection dropped, the
server answered 502/503/504) for the retry budget, and says so on stderr once. A URL that
cannot be the address of a tracking server is reported at once instead (:func:`classify`
gives the message): a host name that does not resolve, ``https://`` to a server of plain HTTP
(or any other TLS failure), a port that answers something that is not HTTP. A host name that
resolved before, or a server that answered before, is taken for an outage when it stops
doing so (see ``spoken``). A server certificate that does not verify is not about the URL
alone, and never an outage: it is a :class:`~mltracker.errors.CertificateError` at once
(``mltracker.backends.http.tls``).
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import sys
from dataclasses import dataclass

from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from mltracker.backends.http import tls
from mltracker.errors import BackendError, BackendUnavailableError, CertificateError

logger = logging.getLogger(__name__)

#: What to check when the URL is wrong.
CHECK_URL = "check the URL (`mltracker server` prints it when it starts)"


@dataclass(frozen=True)
class Fault:
    """One failed attempt to get an answer.

    ``problem`` says what happened, in a few words; ``reached``: the request may have reached
    the server (then only a repeatable one is sent again); ``fatal``: the message of the
    error to raise at once, when no retry can help, and ``fatal_class`` its class;
    ``dropped``: a connection was made and closed without an answer, which a port that does
    not speak HTTP does too.
    """

    problem: str
    reached: bool
    fatal: str | None = None
    dropped: bool = False
    fatal_class: type[BackendError] = BackendUnavailableError


def say(message: str) -> None:
    """Tell the person running the process, on stderr, whatever logging is set up."""
    try:
        print(f"mltracker: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left (a closed pipe, interpreter ending)
        pass
    logger.debug(message)


def classify(error: HTTPError, uri: str, *, spoken: bool, ca_bundle: str | None = None) -> Fault:
    """What ``error`` (of one attempt to reach the server at ``uri``) means.

    ``spoken`` tells that the server answered this client before: a name that stops
    resolving, or garbage where an answer was, is then an outage rather than a wrong URL.
    ``ca_bundle`` is the file of ``$MLTRACKER_CA_BUNDLE`` the client verifies the server's
    certificate with, if any (for the message of a certificate that does not verify).
    """
    if isinstance(error, MaxRetryError) and isinstance(error.reason, HTTPError):
        error = error.reason
    cause = _cause(error)
    if isinstance(error, NameResolutionError):
        return _unresolved(error, uri, spoken=spoken)
    if isinstance(error, NewConnectionError):
        refused = isinstance(cause, ConnectionRefusedError)
        return Fault("connection refused" if refused else _text(cause or error), reached=False)
    if isinstance(error, ConnectTimeoutError):
        return Fault("no connection within the timeout", reached=False)
    if isinstance(error, ReadTimeoutError):
        return Fault("no answer within the timeout", reached=True)
    if isinstance(error, SSLError):
        return _tls(cause or error, uri, ca_bundle)
    if isinstance(error, ProtocolError):
        if _garbage(cause) and not spoken:
            return Fault(
                "not HTTP",
                reached=True,
                fatal=_not_http(uri, f"it answered {_first_bytes(cause)} instead of HTTP"),
            )
        return Fault("the connection was dropped", reached=True, dropped=True)
    return Fault(_text(cause or error), reached=True)


def not_speaking_http(uri: str, error: HTTPError | None) -> str:
    """The message for a server at ``uri`` that closed two connections without an answer
    (``error``: how the second one ended, if it did not answer)."""
    how = "" if error is None else f" ({_text(_cause(error) or error)})"
    return _not_http(uri, f"it closed the connection without an answer, twice{how}")


def _not_http(uri: str, what: str) -> str:
    hint = (
        "; if it serves plain HTTP, use http://"
        if uri.startswith("https://")
        else "; if it serves HTTPS, use https://"
    )
    return f"{uri} does not speak HTTP: {what}. Is it an MLTracker server? {CHECK_URL}{hint}"


def _unresolved(error: NameResolutionError, uri: str, *, spoken: bool) -> Fault:
    gaierror = error.__cause__ if isinstance(error.__cause__, socket.gaierror) else None
    reason = _text(gaierror) if gaierror is not None else "it does not resolve"
    problem = f"cannot resolve the host name: {reason}"
    if spoken or (gaierror is not None and gaierror.errno == socket.EAI_AGAIN):
        return Fault(problem, reached=False)  # a name server away for a while
    host = _host(uri)
    return Fault(
        problem,
        reached=False,
        fatal=f"{uri}: no host is named {host!r} ({reason}); {CHECK_URL}",
    )


def _tls(cause: BaseException, uri: str, ca_bundle: str | None) -> Fault:
    text = _text(cause)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return Fault(
            f"the certificate does not verify: {cause.verify_message or text}",
            reached=False,
            fatal=tls.untrusted(cause, uri, ca_bundle),
            fatal_class=CertificateError,
        )
    if isinstance(cause, (ssl.SSLEOFError, ConnectionResetError)) or "EOF" in text:
        return Fault(f"the TLS handshake was cut: {text}", reached=False, dropped=True)
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text.lower():
        plain = "http://" + uri.removeprefix("https://")
        return Fault(
            text,
            reached=False,
            fatal=f"{uri} speaks plain HTTP, not HTTPS: use {plain}",
        )
    return Fault(text, reached=False, fatal=f"{uri}: the TLS connection failed: {text}")


def _cause(error: BaseException) -> BaseException | None:
    """The exception beneath one of urllib3's, if it kept it."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for argument in reversed(getattr(error, "args", ())):
        if isinstance(argument, BaseException):
            return argument
    cause = error.__cause__ or error.__context__
    return cause if isinstance(cause, BaseException) else None


def _garbage(cause: BaseException | None) -> bool:
    """Whether the server answered bytes that are not an HTTP answer (not just nothing)."""
    return isinstance(cause, http.client.BadStatusLine) and not isinstance(
        cause, http.client.RemoteDisconnected
    )


def _first_bytes(cause: BaseException | None) -> str:
    line = getattr(cause, "line", None)
    if isinstance(line, str) and line.strip("'\""):
        return repr(line[:40])
    return "something else"


def _text(error: BaseException) -> str:
    """A short description of ``error``, without urllib3's connection repr."""
    text = str(error).strip()
    if text.startswith(("HTTPConnection(", "HTTPSConnection(")):
        text = text.split(": ", 1)[-1]
    return text or type(error).__name__


def _host(uri: str) -> str:
    rest = uri.partition("://")[2]
    host = rest.partition("/")[0]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host
