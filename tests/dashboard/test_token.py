"""A server with a token: the dashboard asks for it once and keeps, in an HttpOnly,
SameSite=Strict cookie, a value derived from it; the cookie reads and never writes, and
stops working when its token leaves the server's tokens file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import urllib3

from mltracker.server.dashboard import COOKIE_NAME, session_cookie
from mltracker.tokens import Token

from .conftest import Browser, Serve
from .stores import Filled, fill

TOKEN = "s3cret-token-of-the-tests"


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    return fill(str(tmp_path / "store.db"))


def log_in(browser: Browser, token: str) -> None:
    browser.page.wait_for_selector("input[name=token]")
    browser.page.fill("input[name=token]", token)
    browser.page.click("button[type=submit]")


def test_the_dashboard_asks_for_the_token_once_and_keeps_a_strict_http_only_cookie(
    browser: Browser, serve: Serve, filled: Filled
) -> None:
    url = serve(filled.uri, token=TOKEN)
    browser.open(f"{url}/experiments/spirals?q=64")
    assert "/login?next=" in browser.page.url

    log_in(browser, "not it")
    browser.page.wait_for_selector(".error")
    assert "not the token" in browser.page.inner_text(".error")
    assert browser.context.cookies() == []
    browser.expect_errors("status of 401")

    log_in(browser, TOKEN)
    browser.page.wait_for_selector("tr[data-key='b2']")
    assert browser.page.url == f"{url}/experiments/spirals?q=64"
    [cookie] = browser.context.cookies()
    assert cookie["name"] == COOKIE_NAME
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["value"] == session_cookie(TOKEN) and TOKEN not in cookie["value"]
    assert browser.page.evaluate("document.cookie") == ""  # out of reach of scripts

    browser.open(f"{url}/experiments/spirals/models/a1")  # asked once only
    assert browser.chart("loss")["labels"] == ["train", "validation"]


def test_the_cookie_reads_but_never_writes(browser: Browser, serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri, token=TOKEN)
    browser.open(url)
    log_in(browser, TOKEN)
    browser.page.wait_for_selector("tr[data-key='spirals']")

    statuses = browser.page.evaluate(
        """async () => {
            const read = await fetch("/api/v1/experiments");
            const write = await fetch("/api/v1/experiments", {
                method: "POST", headers: {"content-type": "application/json"},
                body: JSON.stringify({name: "from-the-page"}),
            });
            return [read.status, write.status];
        }"""
    )
    assert statuses == [200, 401]
    browser.expect_errors("status of 401")


def test_logging_out_removes_the_cookie(browser: Browser, serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri, token=TOKEN)
    browser.open(url)
    log_in(browser, TOKEN)
    browser.page.wait_for_selector("tr[data-key='spirals']")
    browser.page.click("#logout")
    browser.page.wait_for_selector("input[name=token]")
    assert browser.context.cookies() == []
    browser.open(url)
    assert "/login" in browser.page.url


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_the_login_goes_back_to_this_server_only(
    browser: Browser, serve: Serve, filled: Filled, target: str
) -> None:
    url = serve(filled.uri, token=TOKEN)
    browser.open(f"{url}/login?next={quote(target, safe='')}")
    log_in(browser, TOKEN)
    browser.page.wait_for_selector("tr[data-key='spirals']")
    assert browser.page.url == f"{url}/"


def call(method: str, url: str, **headers: str) -> Any:
    return urllib3.request(method, url, headers=headers, redirect=False, retries=False)


def test_clients_other_than_browsers_get_401_as_before(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri, token=TOKEN)
    for path in ("/", "/experiments/spirals", "/api/v1/overview/experiments", "/static/app.css"):
        answer = call("GET", url + path)
        assert answer.status == 401, path
        assert json.loads(answer.data)["error"]["code"] == "backend.access_denied"
    assert call("GET", url + "/api/v1/health").status == 200
    assert call("GET", url + "/", authorization=f"Bearer {TOKEN}").status == 200


def test_a_browser_is_sent_to_the_login_form_with_the_page_to_come_back_to(
    serve: Serve, filled: Filled
) -> None:
    url = serve(filled.uri, token=TOKEN)
    answer = call("GET", url + "/experiments/spirals?q=a", accept="text/html,*/*")
    assert answer.status == 303
    assert answer.headers["location"] == "/login?next=%2Fexperiments%2Fspirals%3Fq%3Da"
    api = call("GET", url + "/api/v1/experiments", accept="text/html,*/*")
    assert api.status == 401  # the API never redirects


@pytest.mark.parametrize(
    ("cookie", "method", "status"),
    [
        pytest.param(session_cookie(TOKEN), "GET", 200, id="read"),
        pytest.param(session_cookie(TOKEN), "POST", 401, id="write"),
        pytest.param(session_cookie(TOKEN), "DELETE", 401, id="delete"),
        pytest.param(TOKEN, "GET", 401, id="the-token-itself"),
        pytest.param(session_cookie("other"), "GET", 401, id="another-token"),
        pytest.param("", "GET", 401, id="empty"),
    ],
)
def test_the_cookie_stands_for_the_token_on_reads_only(
    serve: Serve, filled: Filled, cookie: str, method: str, status: int
) -> None:
    url = serve(filled.uri, token=TOKEN)
    answer = call(method, url + "/api/v1/experiments", cookie=f"other=1; {COOKIE_NAME}={cookie}")
    assert answer.status == status


def test_the_cookie_asks_the_summaries_of_runs_which_only_read(
    serve: Serve, filled: Filled
) -> None:
    """POST /runs/summaries reads (its body is a list of run ids): the Runs view asks it
    with the cookie; a foreign Origin is still refused and another POST still needs the
    token."""
    url = serve(filled.uri, token=TOKEN)
    cookie = f"{COOKIE_NAME}={session_cookie(TOKEN)}"
    body = json.dumps({"run_ids": []})
    kinds = {"content-type": "application/json"}
    answer = urllib3.request(
        "POST", url + "/api/v1/runs/summaries", body=body, headers={**kinds, "cookie": cookie}
    )
    assert (answer.status, json.loads(answer.data)) == (200, [])
    foreign = {**kinds, "cookie": cookie, "origin": "https://elsewhere.example"}
    answer = urllib3.request("POST", url + "/api/v1/runs/summaries", body=body, headers=foreign)
    assert answer.status == 403
    answer = urllib3.request(
        "POST", url + "/api/v1/experiments", body="{}", headers={**kinds, "cookie": cookie}
    )
    assert answer.status == 401


def test_a_wrong_bearer_token_is_not_rescued_by_the_cookie(serve: Serve, filled: Filled) -> None:
    url = serve(filled.uri, token=TOKEN)
    answer = call(
        "GET",
        url + "/api/v1/experiments",
        authorization="Bearer wrong",
        cookie=f"{COOKIE_NAME}={session_cookie(TOKEN)}",
    )
    assert answer.status == 401


def test_without_a_token_the_login_page_sends_to_the_dashboard(
    serve: Serve, filled: Filled
) -> None:
    url = serve(filled.uri)
    answer = call("GET", url + "/login?next=/experiments/spirals")
    assert answer.status == 303 and answer.headers["location"] == "/experiments/spirals"


def test_a_token_removed_from_the_tokens_file_logs_its_browser_out(
    browser: Browser, serve: Serve, filled: Filled, tmp_path: Path
) -> None:
    reader, writer = "reader-token-0123456789-abcdefgh", "writer-token-0123456789-abcdefgh"
    tokens = tmp_path / "tokens.jsonl"
    tokens.write_text(
        Token.of_secret("reader", "read", reader).line()
        + "\n"
        + Token.of_secret("writer", "write", writer).line()
        + "\n"
    )
    url = serve(filled.uri, tokens_file=tokens)
    browser.open(f"{url}/experiments/spirals")
    log_in(browser, reader)
    browser.page.wait_for_selector("tr[data-key='b2']")
    [cookie] = browser.context.cookies()
    assert cookie["value"] == session_cookie(reader)

    tokens.write_text(Token.of_secret("writer", "write", writer).line() + "\n")  # revoked
    browser.open(f"{url}/experiments/spirals")
    browser.page.wait_for_selector("input[name=token]")
    assert "/login?next=" in browser.page.url
    log_in(browser, reader)
    browser.page.wait_for_selector(".error")
    assert "not the token" in browser.page.inner_text(".error")
    browser.expect_errors("status of 401")
