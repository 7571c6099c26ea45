"""The certificate of a tracking server that speaks HTTPS itself (``--ssl-certfile`` and
``--ssl-keyfile``, handed to uvicorn).

Both files are PEM: the certificate (followed by the intermediate certificates of its chain,
if any) and its private key, unencrypted (uvicorn would otherwise ask for the key's password
on the terminal). :func:`check_tls_files` loads them as uvicorn will, before the server
starts, so that a missing, unreadable or mismatched file is one clear error instead of a
traceback after the store was opened.
"""

from __future__ import annotations

import ssl

from mltracker.errors import InvalidArgumentError

__all__ = ["CERTFILE_FLAG", "KEYFILE_FLAG", "check_tls_files"]

CERTFILE_FLAG = "--ssl-certfile"
KEYFILE_FLAG = "--ssl-keyfile"


class _Encrypted(Exception):
    """The key file asked for a password."""


def _no_password() -> str:
    raise _Encrypted


def check_tls_files(certfile: str | None, keyfile: str | None) -> None:
    """Refuse TLS files that uvicorn could not serve with; nothing to do when both are ``None``.

    Raises:
        InvalidArgumentError: One file without the other; a file that cannot be read; a
            certificate file without a PEM certificate; a key file without a PEM private
            key, with an encrypted one, or with the key of another certificate.
    """
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        given, missing = (
            (CERTFILE_FLAG, KEYFILE_FLAG) if keyfile is None else (KEYFILE_FLAG, CERTFILE_FLAG)
        )
        raise InvalidArgumentError(
            f"{given} needs {missing}: give both (the server's certificate and its private "
            "key, PEM files) or neither"
        )
    for flag, path in ((CERTFILE_FLAG, certfile), (KEYFILE_FLAG, keyfile)):
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise InvalidArgumentError(
                f"cannot read {flag} {path}: {error.strerror or error}"
            ) from None
    try:
        ssl.create_default_context().load_verify_locations(cafile=certfile)
    except (ssl.SSLError, OSError):
        raise InvalidArgumentError(
            f"{CERTFILE_FLAG} {certfile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except _Encrypted:
        raise InvalidArgumentError(
            f"the key of {KEYFILE_FLAG} {keyfile} is encrypted: give it unencrypted, readable "
            f"by the server's user only (`openssl pkey -in {keyfile} -out key.pem` asks for "
            "the password once)"
        ) from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise InvalidArgumentError(
                f"the key of {KEYFILE_FLAG} {keyfile} is not the key of the certificate of "
                f"{CERTFILE_FLAG} {certfile}"
            ) from None
        raise InvalidArgumentError(
            f"{KEYFILE_FLAG} {keyfile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from None
    except OSError as error:
        raise InvalidArgumentError(
            f"cannot read {CERTFILE_FLAG} {certfile} and {KEYFILE_FLAG} {keyfile}: "
            f"{error.strerror or error}"
        ) from None
