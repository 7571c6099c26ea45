"""The README's "### TLS" and "### Health" run as written: a self-signed certificate made by
its ``openssl`` command, a server of it and a client of ``$MLTRACKER_CA_BUNDLE``; its nginx
block in front of a server; and the documents of the health route are the server's.

Only what cannot run here is changed: the host name (``tracker-host``,
``tracker.example.org``: this machine's ``localhost``), the addresses listened on (127.0.0.1
and free ports) and the certificate files of the nginx block.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import urllib3

import mltracker
from mltracker.server.serve import ServerThread, prepared_store

from .certificates import require, self_signed
from .helpers import ServerProcess, stored_points

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    """The text of the README's ``### title``, up to the next heading."""
    text = README.read_text(encoding="utf-8").split(f"\n### {title}\n", 1)[1]
    return re.split(r"\n##+ ", text, maxsplit=1)[0]


def blocks(title: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(title), flags=re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """The commands of a shell block, as arguments (comments dropped)."""
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def mltracker_command(
    arguments: list[str], environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert arguments[0] == "mltracker", arguments
    return subprocess.run(
        [sys.executable, "-m", "mltracker", *arguments[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(environment or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_readme_tls_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("openssl")
    monkeypatch.chdir(tmp_path)
    for name in ("MLTRACKER_TOKEN", "MLTRACKER_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    made = mltracker_command(shlex.split("mltracker token new --name alice --file tokens.jsonl"))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    serving_block, client_block = blocks("TLS", "bash")
    making, serving = commands(serving_block)
    assert making[:2] == ["openssl", "req"], making
    making = [word.replace("tracker-host", "localhost") for word in making]
    subprocess.run(making, capture_output=True, check=True, timeout=120)
    assert serving[:2] == ["mltracker", "--uri"] and serving[3] == "server", serving
    options = serving[4:]
    options[options.index("--host") + 1] = "127.0.0.1"  # the test reaches it there
    with ServerProcess(serving[2], *options, log=tmp_path / "server.log") as server:
        assert server.url.startswith("https://127.0.0.1:"), server.url
        # On "each machine that logs": its home holds the copy of server.pem.
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(tmp_path / "server.pem", home / "server.pem")
        environment = {"HOME": str(home), "MLTRACKER_TOKEN": token}
        *exports, listing = commands(client_block)
        for export in exports:
            assert export[0] == "export", export
            for assignment in export[1:]:
                name, _, value = assignment.partition("=")
                address = f"localhost:{server.port}"
                environment[name] = value.replace("tracker-host:8765", address)
        assert set(environment) >= {"MLTRACKER_URI", "MLTRACKER_CA_BUNDLE"}, environment
        monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(home / "server.pem"))
        with mltracker.connect(environment["MLTRACKER_URI"], token=token) as tracker:
            tracker.experiments.create("by-alice")
        done = mltracker_command(listing, environment)
        assert done.returncode == 0, done.stderr
        assert "by-alice" in done.stdout, done.stdout
        server.stop()


# nginx --------------------------------------------------------------------------------------
def nginx_configuration(block: str, folder: Path, port: int, upstream: int) -> Path:
    """The README's server block, made to run here, in a whole configuration of its own."""
    certificate = self_signed(folder, "proxy", hosts=("localhost", "127.0.0.1"))
    server = block.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    server = server.replace("server_name tracker.example.org;", "server_name localhost;")
    for directive, file in (
        ("ssl_certificate", certificate.cert),
        ("ssl_certificate_key", certificate.key),
    ):
        server = re.sub(rf"{directive}\s+\S+;", f"{directive} {file};", server)
    server = server.replace("http://127.0.0.1:8765;", f"http://127.0.0.1:{upstream};")
    assert str(upstream) in server and str(port) in server, server
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / name).mkdir()
    configuration = folder / "nginx.conf"
    configuration.write_text(
        f"""
        user {getpass.getuser()};
        daemon off;
        worker_processes 1;
        pid {folder / "nginx.pid"};
        error_log {folder / "error.log"} warn;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {folder / "body"};
            proxy_temp_path {folder / "proxy"};
            fastcgi_temp_path {folder / "fastcgi"};
            uwsgi_temp_path {folder / "uwsgi"};
            scgi_temp_path {folder / "scgi"};
            {server}
        }}
        """
    )
    return configuration


def test_the_readme_nginx_block_serves_https_in_front_of_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nginx = require("nginx")
    (block,) = blocks("TLS", "nginx")
    token = "nginx-test-token-0123456789"
    path = tmp_path / "store.db"
    folder = tmp_path / "nginx"
    folder.mkdir()
    with ServerProcess(str(path), "--token", token, log=tmp_path / "server.log") as server:
        port = free_port()
        configuration = nginx_configuration(block, folder, port, server.port)
        proxy = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(configuration), "-e", str(folder / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            url = f"https://localhost:{port}"
            monkeypatch.setenv("MLTRACKER_CA_BUNDLE", str(folder / "proxy.pem"))
            # The client retries a refused connection while nginx starts.
            with mltracker.connect(url, token=token) as tracker:
                model = tracker.experiments.create("behind-nginx").models.create("m")
                for step in range(20_000):  # batches larger than nginx's default 1 MiB
                    model.metrics.log("loss", step * 0.5, step=step)
                tracker.flush()
                assert len(model.metrics.list("loss")) == 20_000
            assert stored_points(path, "m", "loss") == [(s, s * 0.5) for s in range(20_000)]
            pool = urllib3.PoolManager(ca_certs=str(folder / "proxy.pem"), retries=False)
            # X-Forwarded-Proto: the server knows the page was HTTPS.
            login = pool.request(
                "POST",
                url + "/login",
                body=f"token={token}&next=/",
                headers={"content-type": "application/x-www-form-urlencoded", "origin": url},
                redirect=False,
            )
            assert login.status == 303, login.data
            assert "secure" in login.headers["set-cookie"].lower(), login.headers
            written = pool.request(
                "POST",
                url + "/api/v1/experiments",
                body=json.dumps({"name": "from-the-page"}),
                headers={
                    "content-type": "application/json",
                    "origin": url,
                    "authorization": f"Bearer {token}",
                },
            )
            assert written.status == 201, written.data  # the same origin, as the page saw it
        finally:
            proxy.terminate()
            _, errors = proxy.communicate(timeout=60)
        server.stop()
    assert proxy.returncode == 0, errors


# Health -------------------------------------------------------------------------------------
def shape(document: Any) -> Any:
    """The keys and value types of a JSON document."""
    if isinstance(document, dict):
        return {key: shape(value) for key, value in document.items()}
    return type(document).__name__


def test_the_readme_health_documents_are_the_server_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy, unavailable = (json.loads(block) for block in blocks("Health", "json"))
    monkeypatch.setenv("MLTRACKER_RETRY_SECONDS", "0.5")
    path = tmp_path / "store.db"
    store = prepared_store(str(path))
    thread = ServerThread(store, token="health-test-token-0123456789")
    try:
        answer = urllib3.request("GET", thread.url + "/api/v1/health")  # no token
        assert answer.status == 200, answer.data
        assert shape(json.loads(answer.data)) == shape(healthy)
        assert json.loads(answer.data)["schema_version"] == healthy["schema_version"]
        store.close()  # the next request opens the file again: it cannot
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            name.unlink(missing_ok=True)
        path.mkdir()
        answer = urllib3.request("GET", thread.url + "/api/v1/health")
        assert answer.status == 503, answer.data
        document = json.loads(answer.data)
        assert shape(document) == shape(unavailable)
        assert document["error"]["code"] == unavailable["error"]["code"]
        assert document["error"]["message"].endswith("unable to open database file")
    finally:
        thread.stop()
        store.close()
