"""A server behind a reverse proxy that serves it under a path (``--root-path``): requests
arrive without the path, as a proxy that strips it sends them, and every URL the server gives
back starts with it; the guards see the path within the server."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3

from mltracker.errors import InvalidArgumentError
from mltracker.server.dashboard import COOKIE_NAME, session_cookie
from mltracker.server.rootpath import check_root_path, route_path

from .conftest import Serve
from .helpers import ServerProcess, assert_envelope, call
from .test_serving import free_port

TOKEN = "s3cret-token-of-the-root-path"
ROOT = "/team/mltracker"
HTML = {"accept": "text/html"}


def test_a_page_without_the_cookie_goes_to_the_login_under_the_root(serve: Serve) -> None:
    served = serve(token=TOKEN, root_path=ROOT + "/")
    answer = call("GET", served.url + "/experiments/x?q=1", headers=HTML)
    assert answer.status == 303
    assert answer.headers["location"] == f"{ROOT}/login?next=%2Fexperiments%2Fx%3Fq%3D1"

    form = call("GET", served.url + "/login?next=%2Fexperiments%2Fx", headers=HTML)
    assert form.status == 200, form.body  # open, not a redirect to itself
    assert f'action="{ROOT}/login"'.encode() in form.body
    assert b'name="next" value="/experiments/x"' in form.body


def test_the_login_sends_back_under_the_root_with_a_cookie_of_the_root(serve: Serve) -> None:
    served = serve(token=TOKEN, root_path=ROOT)
    form = {"content-type": "application/x-www-form-urlencoded"}
    body = f"token={TOKEN}&next=%2Fexperiments%2Fx".encode()
    answer = call("POST", served.url + "/login", raw=body, headers=form)
    assert answer.status == 303, answer.body
    assert answer.headers["location"] == f"{ROOT}/experiments/x"
    cookie = answer.headers["set-cookie"]
    assert f"{COOKIE_NAME}={session_cookie(TOKEN)}" in cookie
    assert re.search(rf"(?i)path={re.escape(ROOT)}(;|$)", cookie), cookie

    elsewhere = b"token=" + TOKEN.encode() + b"&next=%2F%2Fevil.example"
    answer = call("POST", served.url + "/login", raw=elsewhere, headers=form)
    assert answer.headers["location"] == f"{ROOT}/"

    out = call("GET", served.url + "/logout", headers={"cookie": cookie.split(";")[0]})
    assert out.status == 303 and out.headers["location"] == f"{ROOT}/login"
    assert re.search(rf"(?i)path={re.escape(ROOT)}(;|$)", out.headers["set-cookie"])


def test_the_page_and_the_api_docs_name_their_files_under_the_root(serve: Serve) -> None:
    served = serve(root_path=ROOT)
    page = call("GET", served.url + "/experiments/x/models/a1")
    assert page.status == 200
    text = page.body.decode()
    assert f'data-root="{ROOT}"' in text
    assert f'src="{ROOT}/static/js/app.js"' in text
    paths = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert paths and all(path.startswith(ROOT + "/") for path in paths), paths
    script = call("GET", served.url + "/static/js/app.js")
    assert script.status == 200 and b"render" in script.body

    docs = call("GET", served.url + "/api/docs").body.decode()
    assert f"url: '{ROOT}/api/v1/openapi.json'" in docs
    assert f'src="{ROOT}/static/vendor/swagger-ui-bundle.js"' in docs
    assert f'href="{ROOT}/static/vendor/swagger-ui.css"' in docs
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', docs))
    openapi = call("GET", served.url + "/api/v1/openapi.json").json
    assert openapi["servers"] == [{"url": ROOT}]


def test_the_guards_see_the_path_within_the_server(serve: Serve) -> None:
    served = serve(token=TOKEN, root_path=ROOT)
    assert call("GET", served.api + "/health").status == 200  # open without the token
    refused = call(
        "POST",
        served.api + "/experiments",
        raw=b'{"name": "x"}',
        token=TOKEN,
        headers={"content-type": "text/plain"},
    )
    assert_envelope(refused, 415)
    assert_envelope(call("GET", served.api + "/experiments", headers=HTML), 401)
    created = call("POST", served.api + "/experiments", {"name": "x"}, token=TOKEN)
    assert created.status == 201, created.body


@pytest.mark.parametrize(
    ("given", "used"),
    [("", ""), ("/", ""), ("/mltracker", "/mltracker"), ("/a/b-c.d_e~/", "/a/b-c.d_e~")],
)
def test_a_root_path_is_used_without_its_final_slash(given: str, used: str) -> None:
    assert check_root_path(given) == used


@pytest.mark.parametrize(
    "given", ["mltracker", "//mltracker", "/a//b", "/a/../b", "/./a", "/a b", "/a?b", '/a"b']
)
def test_a_root_path_that_is_not_a_plain_path_is_refused(given: str) -> None:
    with pytest.raises(InvalidArgumentError, match="root path"):
        check_root_path(given)


def test_the_route_path_leaves_the_root_out() -> None:
    assert route_path({"path": "/m/login", "root_path": "/m"}) == "/login"
    assert route_path({"path": "/m", "root_path": "/m"}) == "/"
    assert route_path({"path": "/mx/login", "root_path": "/m"}) == "/mx/login"
    assert route_path({"path": "/login"}) == "/login"


def test_the_server_command_refuses_a_root_path_that_is_not_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", str(tmp_path / "s.db")]
        + ["server", "--port", "0", "--root-path", "mltracker"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "must start with '/'" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_each_worker_process_serves_under_the_root(tmp_path: Path) -> None:
    port = free_port()
    options = ("--workers", "2", "--root-path", ROOT)
    with ServerProcess(str(tmp_path / "s.db"), *options, port=port, log=tmp_path / "log") as server:
        try:
            while True:  # the URL is announced before the workers listen
                try:
                    if call("GET", server.url + "/api/v1/health").status == 200:
                        break
                except urllib3.exceptions.HTTPError:
                    pass
                assert server.popen.poll() is None, server.stderr()
                time.sleep(0.1)
            for _ in range(8):  # new connections, spread over the workers
                page = call("GET", server.url + "/", headers={"connection": "close"})
                assert page.status == 200 and f'data-root="{ROOT}"'.encode() in page.body
        finally:
            # SIGTERM: the workers end with the server (a SIGKILL would leave them holding
            # its stdout).
            code = server.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), server.stderr()
    assert "through the reverse proxy, at its path" in server.stderr()
