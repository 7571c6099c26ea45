"""Which certificates the HTTP client trusts for an ``https://`` tracking server, and what it
says when the server's certificate does not verify.

By default a server's certificate must verify against the system's certificate authorities
(OpenSSL's defaults, which ``$SSL_CERT_FILE`` and ``$SSL_CERT_DIR`` change), and be made for
the host name of the URL. ``$MLTRACKER_CA_BUNDLE`` names a PEM file of the certificates to
trust instead: a private authority's, or a self-signed server certificate itself. It is read
when a store of an ``https://`` URL is opened, and a file that is missing, unreadable or
without a PEM certificate is refused then (:func:`ca_bundle`).

A certificate that does not verify is no outage: asking again gets the same certificate. The
client raises :class:`~mltracker.errors.CertificateError` at once, with the reason and what to
do (:func:`untrusted`), and never retries it.
"""

from __future__ import annotations

import os
import ssl

from mltracker.errors import InvalidArgumentError

__all__ = ["CA_BUNDLE_VARIABLE", "ca_bundle", "untrusted"]

CA_BUNDLE_VARIABLE = "MLTRACKER_CA_BUNDLE"

# OpenSSL's X509_V_ERR_* codes of the failures that have a remedy of their own.
_EXPIRED = 10
_NOT_YET_VALID = 9
_HOSTNAME_MISMATCH = 62
_IP_ADDRESS_MISMATCH = 64


def ca_bundle(uri: str) -> str | None:
    """The PEM file of ``$MLTRACKER_CA_BUNDLE`` (``~`` expanded), for an ``https://`` URI;
    ``None`` when the variable is unset or empty, or the URI is ``http://``.

    Raises:
        InvalidArgumentError: The file cannot be read or holds no PEM certificate.
    """
    configured = os.environ.get(CA_BUNDLE_VARIABLE)
    if not configured or not uri.startswith("https://"):
        return None
    path = os.path.expanduser(configured)
    try:
        with open(path, "rb"):
            pass
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:  # an OSError too: first
        raise InvalidArgumentError(
            f"${CA_BUNDLE_VARIABLE} {path} holds no PEM certificate "
            "(-----BEGIN CERTIFICATE-----): give the certificate of the authority that signed "
            "the server's, or the server's own if it is self-signed"
        ) from None
    except OSError as error:
        raise InvalidArgumentError(
            f"cannot read ${CA_BUNDLE_VARIABLE} {path}: {error.strerror or error}"
        ) from None
    return path


def untrusted(error: ssl.SSLCertVerificationError, uri: str, bundle: str | None) -> str:
    """The message of the :class:`~mltracker.errors.CertificateError` for ``error``, from the
    server at ``uri``, checked against ``bundle`` (``None``: the system's authorities)."""
    reason = error.verify_message or error.reason or str(error)
    trusted = (
        f"the certificates of ${CA_BUNDLE_VARIABLE} ({bundle})"
        if bundle is not None
        else "the system's certificate authorities"
    )
    code = error.verify_code
    if code in (_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH):
        remedy = (
            "use a URL with a host name the certificate was made for (its subjectAltName), "
            "or give the server a certificate for this one"
        )
    elif code in (_EXPIRED, _NOT_YET_VALID):
        remedy = "the server needs a certificate valid today"
    elif bundle is None:
        remedy = (
            f"set ${CA_BUNDLE_VARIABLE} to a PEM file of the authority that signed it (of "
            "the certificate itself, if it is self-signed)"
        )
    else:
        remedy = (
            f"put the authority that signed it (the certificate itself, if it is "
            f"self-signed) in {bundle}"
        )
    return (
        f"{uri}: the server's TLS certificate does not verify against {trusted} ({reason}); "
        f"{remedy}. Nothing was sent"
    )
