"""Self-signed certificates for the TLS tests, made by the system's ``openssl``, and the
programs those tests need (a test skips where one is missing, and fails under ``CI=true``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate (which is also the CA bundle that trusts it) and its key."""

    cert: Path
    key: Path


def require(tool: str) -> str:
    """The path of the program ``tool``; the test skips without it (fails under CI)."""
    found = shutil.which(tool) or shutil.which(tool, path="/usr/local/sbin:/usr/sbin:/sbin")
    if found is None:
        message = f"{tool} is not installed (apt-get install -y {tool})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def self_signed(
    folder: Path, name: str = "server", hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> Certificate:
    """A new self-signed certificate for ``hosts`` (IP addresses and DNS names) and its
    unencrypted key: ``folder/NAME.pem`` and ``folder/NAME-key.pem``."""
    openssl = require("openssl")
    names = ",".join(
        f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"
        for host in hosts
    )
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={names}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return Certificate(cert, key)


def encrypted_key(key: Path, password: str = "secret") -> Path:
    """A copy of ``key`` encrypted with ``password``, beside it."""
    encrypted = key.with_name(key.stem + "-encrypted.pem")
    subprocess.run(
        [
            require("openssl"),
            "pkey",
            "-in",
            str(key),
            "-aes256",
            "-passout",
            f"pass:{password}",
            "-out",
            str(encrypted),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return encrypted
