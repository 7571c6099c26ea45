"""HTTPS: ``mltracker server --ssl-certfile --ssl-keyfile`` with a self-signed certificate,
and a client that trusts it through ``$MLTRACKER_CA_BUNDLE``.

The server refuses TLS files it could not serve with before it opens its store. A client
with the certificate in its bundle logs and reads back exactly, from Python and from the
``mltracker`` command; one without it gets ``CertificateError`` at its first call, at once
and without a retry, and sends nothing. Points logged before the server's certificate stops
verifying are spooled, said on stderr, and delivered by ``mltracker sync`` once the client
trusts the new certificate.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import urllib3

import mltracker
from mltracker.errors import BackendUnavailableError, CertificateError, InvalidArgumentError
from mltracker.server.serve import ServerThread, prepared_store

from .certificates import Certificate, encrypted_key, self_signed
from .conftest import Serve
from .helpers import ServerProcess, stored_points, sync

TOKEN = "tls-test-token-0123456789"
#: Values that must come back as they went, type included.
VALUES: list[Any] = [
    0.25,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    2**63 - 1,
    -(2**63),
    True,
    "text",
]


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    return self_signed(tmp_path)


def mltracker_command(
    *args: str, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mltracker", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(environment or {})},
    )


def https_get(url: str, ca: Path) -> urllib3.BaseHTTPResponse:
    pool = urllib3.PoolManager(ca_certs=str(ca), retries=False, timeout=30.0)
    try:
        return pool.request("GET", url)
    finally:
        pool.clear()


def shown(values: list[Any]) -> list[str]:
    """Values as their type and repr: NaN equals NaN, -0.0 differs from 0.0, True from 1."""
    return [f"{type(value).__name__}:{value!r}" for value in values]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The server's files -----------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["--ssl-certfile", "--ssl-keyfile"])
def test_one_tls_file_without_the_other_is_a_usage_error(
    tmp_path: Path, certificate: Certificate, given: str
) -> None:
    path = tmp_path / "store.db"
    file = certificate.cert if given == "--ssl-certfile" else certificate.key
    done = mltracker_command("--uri", str(path), "server", "--port", "0", given, str(file))
    assert done.returncode == 2, (done.stdout, done.stderr)
    other = "--ssl-keyfile" if given == "--ssl-certfile" else "--ssl-certfile"
    assert f"{given} needs {other}" in done.stderr, done.stderr
    assert done.stdout == "" and not path.exists()


def _tls_files(case: str, tmp_path: Path, certificate: Certificate) -> tuple[Path, Path]:
    other = self_signed(tmp_path, "other")
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    return {
        "missing certificate": (tmp_path / "missing.pem", certificate.key),
        "missing key": (certificate.cert, tmp_path / "missing-key.pem"),
        "certificate not PEM": (text, certificate.key),
        "key not PEM": (certificate.cert, certificate.cert),
        "key of another certificate": (certificate.cert, other.key),
        "encrypted key": (certificate.cert, encrypted_key(certificate.key)),
    }[case]


CASES = [
    pytest.param("missing certificate", "cannot read --ssl-certfile", id="missing-certificate"),
    pytest.param("missing key", "cannot read --ssl-keyfile", id="missing-key"),
    pytest.param("certificate not PEM", "holds no PEM certificate", id="certificate-not-pem"),
    pytest.param("key not PEM", "holds no PEM private key", id="key-not-pem"),
    pytest.param("key of another certificate", "is not the key of the certificate", id="other-key"),
    pytest.param("encrypted key", "is encrypted: give it unencrypted", id="encrypted-key"),
]


@pytest.mark.parametrize(("case", "message"), CASES)
def test_tls_files_that_cannot_serve_are_refused_before_the_store_is_opened(
    tmp_path: Path, certificate: Certificate, case: str, message: str, serve: Serve
) -> None:
    cert, key = _tls_files(case, tmp_path, certificate)
    path = tmp_path / "store.db"
    options = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    done = mltracker_command("--uri", str(path), "server", "--port", "0", *options)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""  # it never listened
    assert not path.exists()  # nor created its store
    with pytest.raises(InvalidArgumentError, match=message):  # a server in a thread too
        serve(ssl_certfile=cert, ssl_keyfile=key)


# A client of the server's own TLS (in this process) -----------------------------------------
def test_a_client_with_the_ca_bundle_logs_and_reads_back_exactly(
    serve: Serve, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(ssl_certfile=certificate.cert, ssl_keyfile=certificate.key, token=TOKEN)
    assert served.url.startswith("https://127.0.0.1:"), served.url
    monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(certificate.cert))
    with mltracker.connect(served.url, token=TOKEN) as tracker:
        model = tracker.experiments.create("tls").models.create("m")
        for step, value in enumerate(VALUES):
            model.metrics.log("value", value, step=step)
    with mltracker.connect(served.url, token=TOKEN) as tracker:
        model = tracker.experiments.read("tls").models.read("m")
        points = model.metrics.list("value")
    assert shown([point.value for point in points]) == shown(VALUES)
    assert [point.step for point in points] == list(range(len(VALUES)))


def test_without_the_ca_bundle_the_first_call_raises_certificate_error_at_once(
    serve: Serve,
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Not retried: the retry budget is long, and stderr says no "retrying"."""
    served = serve(ssl_certfile=certificate.cert, ssl_keyfile=certificate.key, token=TOKEN)
    monkeypatch.delenv("MLTRACKER_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "3600")
    tracker = mltracker.connect(served.url, token=TOKEN)
    with pytest.raises(CertificateError, match=r"self-signed certificate.*MLTRACKER_CA_BUNDLE"):
        tracker.experiments.get_or_create("tls")  # a write of a training loop, too
    with pytest.raises(CertificateError, match=r"does not verify against the system's"):
        tracker.experiments.list()
    tracker.close()
    assert "retrying" not in capfd.readouterr().err
    assert served.store.list_experiments() == []  # nothing was sent


def test_a_bundle_without_the_server_s_certificate_is_named_in_the_error(
    serve: Serve, certificate: Certificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(ssl_certfile=certificate.cert, ssl_keyfile=certificate.key)
    other = self_signed(tmp_path, "other")
    monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(other.cert))
    with mltracker.connect(served.url) as tracker:
        with pytest.raises(CertificateError, match=rf"MLTRACKER_CA_BUNDLE \({other.cert}\)"):
            tracker.experiments.list()


def test_a_certificate_for_another_host_name_is_refused(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = self_signed(tmp_path, "named", hosts=("localhost",))
    served = serve(ssl_certfile=named.cert, ssl_keyfile=named.key)
    monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(named.cert))
    with mltracker.connect(served.url) as tracker:  # https://127.0.0.1:PORT
        with pytest.raises(CertificateError, match=r"not valid for '127\.0\.0\.1'.*host name"):
            tracker.experiments.list()
    with mltracker.connect(served.url.replace("127.0.0.1", "localhost")) as tracker:
        assert tracker.experiments.list() == []


def test_ssl_cert_file_is_trusted_without_the_ca_bundle(
    serve: Serve, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSL's own variable, for every program of the machine."""
    served = serve(ssl_certfile=certificate.cert, ssl_keyfile=certificate.key)
    monkeypatch.delenv("MLTRACKER_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    with mltracker.connect(served.url) as tracker:
        tracker.experiments.create("by-ssl-cert-file")
    assert [row.name for row in served.store.list_experiments()] == ["by-ssl-cert-file"]


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        pytest.param("missing.pem", "cannot read $MLTRACKER_CA_BUNDLE", id="missing"),
        pytest.param(".", "cannot read $MLTRACKER_CA_BUNDLE", id="a-folder"),
        pytest.param("notes.txt", "holds no PEM certificate", id="not-pem"),
        pytest.param("server-key.pem", "holds no PEM certificate", id="a-key"),
    ],
)
def test_a_ca_bundle_that_is_no_certificate_file_is_refused_at_connect(
    tmp_path: Path,
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
    bundle: str,
    message: str,
) -> None:
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(tmp_path / bundle))
    with pytest.raises(InvalidArgumentError, match=message.replace("$", r"\$")):
        mltracker.connect("https://127.0.0.1:9")  # nothing listens there: never asked
    mltracker.connect("http://127.0.0.1:9").close()  # read for https:// only


def test_plain_http_to_a_tls_server_says_use_https(serve: Serve, certificate: Certificate) -> None:
    served = serve(ssl_certfile=certificate.cert, ssl_keyfile=certificate.key)
    plain = served.url.replace("https://", "http://")
    with mltracker.connect(plain) as tracker:
        with pytest.raises(BackendUnavailableError, match="if it serves HTTPS, use https://"):
            tracker.experiments.list()


# Real processes ---------------------------------------------------------------------------------
#: A training job: logs :data:`VALUES` and 500 points of ``loss`` to the server of its
#: ``$MLTRACKER_URI``, reads them back and prints them.
CLIENT = textwrap.dedent(
    """
    import json, mltracker
    model = mltracker.get_experiment("tls").models.get_or_create("m")
    values = [0.25, float("nan"), float("inf"), float("-inf"), -0.0, 2**63 - 1, -(2**63),
              True, "text"]
    for step, value in enumerate(values):
        model.metrics.log("value", value, step=step)
    for step in range(500):
        model.metrics.log("loss", step * 0.5, step=step, phase="train")
    points = model.metrics.list("value")
    read = [f"{type(point.value).__name__}:{point.value!r}" for point in points]
    print(json.dumps({"values": read, "loss": len(model.metrics.list("loss"))}))
    """
)


def test_a_client_process_logs_to_a_server_process_over_https(
    tmp_path: Path, certificate: Certificate
) -> None:
    path = tmp_path / "store.db"
    options = ("--token", TOKEN, "--ssl-certfile", str(certificate.cert))
    options += ("--ssl-keyfile", str(certificate.key))
    with ServerProcess(str(path), *options, log=tmp_path / "server.log") as server:
        assert server.url.startswith("https://127.0.0.1:"), server.url
        trusting = {
            "MLTRACKER_URI": server.url,
            "MLTRACKER_TOKEN": TOKEN,
            "MLTRACKER_CA_BUNDLE": str(certificate.cert),
        }
        done = subprocess.run(
            [sys.executable, "-c", CLIENT],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, **trusting},
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"values": shown(VALUES), "loss": 500}
        # The mltracker command over https, the same way.
        listed = mltracker_command("--json", "metrics", "list", "tls", "m", environment=trusting)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [row["value"] for row in rows if row["name"] == "value"][:5] == [
            0.25,
            "NaN",
            "Infinity",
            "-Infinity",
            -0.0,
        ]
        assert [row["step"] for row in rows if row["name"] == "loss"] == list(range(500))
        health = https_get(server.url + "/api/v1/health", certificate.cert)
        assert health.status == 200 and json.loads(health.data)["status"] == "ok"
        server.stop()
        log = server.stderr()
    assert f"at {server.url}" in log, log
    assert stored_points(path, "m", "loss") == [(step, step * 0.5) for step in range(500)]


def test_a_client_process_without_the_bundle_stops_at_its_first_call(
    tmp_path: Path, certificate: Certificate
) -> None:
    path = tmp_path / "store.db"
    options = ("--token", TOKEN, "--ssl-certfile", str(certificate.cert))
    options += ("--ssl-keyfile", str(certificate.key))
    with ServerProcess(str(path), *options, log=tmp_path / "server.log") as server:
        untrusting = {"MLTRACKER_URI": server.url, "MLTRACKER_TOKEN": TOKEN}
        environment = {**os.environ, **untrusting}
        for name in ("MLTRACKER_CA_BUNDLE", "SSL_CERT_FILE"):
            environment.pop(name, None)
        environment["MLTRACKER_RETRY_SECONDS"] = "3600"  # a retry would show as a hang
        done = subprocess.run(
            [sys.executable, "-c", CLIENT],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
        )
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "mltracker.errors.CertificateError" in done.stderr, done.stderr
        assert "self-signed certificate" in done.stderr and "retrying" not in done.stderr
        assert done.stdout == ""  # it never logged a point
        listed = subprocess.run(
            [sys.executable, "-m", "mltracker", "experiments", "list"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
        )
        assert listed.returncode == 1, (listed.stdout, listed.stderr)
        assert listed.stderr.startswith("Error: ") and "MLTRACKER_CA_BUNDLE" in listed.stderr
        assert "Traceback" not in listed.stderr
        experiments = https_get(server.url + "/api/v1/health", certificate.cert)
        assert experiments.status == 200
        server.stop()
    assert stored_points(path, "m", "loss") == []


#: Logs 100 points that the server takes, then (told to, once the server has a certificate
#: it does not trust) 100 more, and exits.
ROTATION_CLIENT = textwrap.dedent(
    """
    import sys, mltracker
    tracker = mltracker.connect(sys.argv[1])
    model = tracker.experiments.get_or_create("tls").models.get_or_create("m")
    for step in range(100):
        model.metrics.log("loss", step * 0.5, step=step)
    tracker.flush()
    print("flushed", flush=True)
    sys.stdin.readline()
    for step in range(100, 200):
        model.metrics.log("loss", step * 0.5, step=step)
    print("logged", flush=True)
    """
)


def test_points_of_a_server_whose_certificate_stops_verifying_are_spooled_not_lost(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    renewed = self_signed(tmp_path, "renewed")
    environment = {**os.environ, "MLTRACKER_CA_BUNDLE": str(certificate.cert)}
    first = ("--ssl-certfile", str(certificate.cert), "--ssl-keyfile", str(certificate.key))
    with ServerProcess(str(path), *first, log=tmp_path / "server.log") as server:
        client = subprocess.Popen(
            [sys.executable, "-c", ROTATION_CLIENT, server.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        assert client.stdout is not None
        assert client.stdout.readline() == "flushed\n"
        server.stop()
    second = ("--ssl-certfile", str(renewed.cert), "--ssl-keyfile", str(renewed.key))
    with ServerProcess(
        str(path), *second, port=server.port, log=tmp_path / "server-renewed.log"
    ) as renewed_server:
        with client:
            out, err = client.communicate("go\n", timeout=120)
        assert client.returncode == 0, (out, err)
        assert "logged" in out
        # With the end of the client's run (its start was written before).
        assert "100 metric points and 1 other write could not be written" in err, err
        assert "does not verify" in err and str(tmp_path / "spool") in err, err
        assert stored_points(path, "m", "loss") == [(step, step * 0.5) for step in range(100)]
        monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(renewed.cert))
        assert sync(renewed_server.url)["written"] == 100
        renewed_server.stop()
    assert stored_points(path, "m", "loss") == [(step, step * 0.5) for step in range(200)]


def test_tls_with_several_worker_processes(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings reach each worker process; the client waits for them to listen (it
    retries a refused connection)."""
    path = tmp_path / "store.db"
    options = ("--workers", "2", "--ssl-certfile", str(certificate.cert))
    options += ("--ssl-keyfile", str(certificate.key))
    port = free_port()
    with ServerProcess(str(path), *options, port=port, log=tmp_path / "server.log") as server:
        assert server.url == f"https://127.0.0.1:{port}"
        monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(certificate.cert))
        with mltracker.connect(server.url) as tracker:
            model = tracker.experiments.create("workers").models.create("m")
            model.metrics.log("loss", 0.5, step=1)
        server.stop()
    assert stored_points(path, "m", "loss") == [(1, 0.5)]


# Stopping ---------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_tls_server_stops_without_waiting_for_an_idle_client_s_goodbye(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client keeps its connection in its pool and reads nothing from it until its next
    request, so it never answers the TLS goodbye of a server that stops. asyncio would wait
    for that answer 30 s; made endless here, a server that waited would hang this test."""
    monkeypatch.setattr(asyncio.constants, "SSL_SHUTDOWN_TIMEOUT", 24 * 3600.0)
    store = prepared_store(str(tmp_path / "store.db"))
    thread = ServerThread(store, ssl_certfile=certificate.cert, ssl_keyfile=certificate.key)
    pool = urllib3.PoolManager(ca_certs=str(certificate.cert), retries=False, timeout=30.0)
    try:
        answer = pool.request("GET", thread.url + "/api/v1/health")
        assert answer.status == 200
        thread.stop()  # the pooled connection stays open and unread meanwhile
        again = urllib3.PoolManager(ca_certs=str(certificate.cert), retries=False, timeout=5.0)
        with pytest.raises(urllib3.exceptions.HTTPError):
            again.request("GET", thread.url + "/api/v1/health")  # it is gone
    finally:
        pool.clear()
        thread.stop()
        store.close()
