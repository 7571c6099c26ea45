"""The dashboard: the pages a browser opens, their files, and the login of a server with a token.

The dashboard is a static application: one HTML page (``static/index.html``) and plain ES
modules (``static/js/``) that draw every page from the REST API (``/api/v1``) and the
dashboard's routes (``mltracker.server.overview``), with uPlot for the charts
(``static/vendor/``, copied from npm when the package is built). A static application
because every page lives on data that changes while it is open (polling, zooming, many
charts drawn as they scroll into view): templates would render a page once and leave the
rest to scripts anyway, and the server stays a JSON API with no template engine to ship.

Pages, each a URL that holds its state (filters, sorting, selection, axes) in its query:

- ``/``: the experiments;
- ``/experiments/<name>``: an experiment's models;
- ``/experiments/<name>/models/<hash>``: a model;
- ``/experiments/<name>/compare?models=<hash>,<hash>``: models compared.

With tokens, ``/login`` asks for one once and sets an HttpOnly, SameSite=Strict cookie that
holds :func:`session_cookie` of it, the token's key (see ``mltracker.tokens``: the token guard
of ``mltracker.server.app`` accepts it for reading, while the token is in the server's list);
``/logout`` removes it. Failed logins are limited per client address
(``mltracker.server.attempts``): past the limit, 429 with ``Retry-After``.

Behind a reverse proxy that serves the server under a path (``--root-path``: see
``mltracker.server.rootpath``), every URL the pages, the login and the redirects give the
browser starts with the request's root path: the shell's ``{{root}}`` and its ``data-root``,
which the scripts prefix to their links and API calls; the login cookie's path is the root
path.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from mltracker.server.attempts import FailedLogins
from mltracker.server.rootpath import root_of, route_path
from mltracker.tokens import TokenSource, session_key

__all__ = [
    "COOKIE_NAME",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "STATIC_PATH",
    "install",
    "login_location",
    "session_cookie",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
COOKIE_NAME = "mltracker_session"
#: How long the login lasts in the browser.
COOKIE_MAX_AGE = 30 * 24 * 3600


def session_cookie(token: str) -> str:
    """The value of the dashboard's cookie for ``token``: the token's key, derived from it,
    so that the cookie never holds the token itself."""
    return session_key(token).hex()


def login_location(scope: Scope) -> str:
    """Where a browser without the cookie is sent: the login form, then back here (``next``:
    the path within the server, without the root path)."""
    target = route_path(scope)
    query = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    return f"{root_of(scope)}{LOGIN_PATH}?next={quote(target, safe='')}"


def _safe_next(target: str) -> str:
    """A path within this server to go back to after the login (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _cookie_path(root: str) -> str:
    """The path of the login cookie: the server's, and nothing else of the proxy's site."""
    return root or "/"


class _StaticFiles(StaticFiles):
    """The dashboard's files, revalidated at each load (an upgrade shows at once)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "no-cache"
        return response


def install(app: FastAPI, tokens: TokenSource | None) -> None:
    """Add the dashboard's pages, files and login to ``app``; ``tokens``: the server's, or
    ``None`` for a server without tokens (no login)."""
    app.mount(STATIC_PATH, _StaticFiles(directory=STATIC_DIR), name="static")
    shell = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    failures = FailedLogins()

    def page(request: Request) -> HTMLResponse:
        login = "yes" if tokens is not None else "no"
        root = html.escape(root_of(request.scope), quote=True)
        text = shell.replace("{{login}}", login).replace("{{root}}", root)
        return HTMLResponse(text, headers={"cache-control": "no-cache"})

    for path in ("/", "/experiments/{rest:path}"):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        root = root_of(request.scope)
        if tokens is None:
            return RedirectResponse(root + _safe_next(next), status_code=303)
        return HTMLResponse(_login_page(root, _safe_next(next), None))

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        target = _safe_next(fields.get("next", ["/"])[0])
        root = root_of(request.scope)
        if tokens is None:
            return RedirectResponse(root + target, status_code=303)
        address = request.client.host if request.client is not None else ""
        wait = failures.wait(address)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            problem = f"Too many wrong tokens from your address: try again in {seconds} s."
            return HTMLResponse(
                _login_page(root, target, problem),
                status_code=429,
                headers={"retry-after": str(seconds)},
            )
        given = fields.get("token", [""])[0].strip()
        token = tokens.current().by_secret(given.encode("utf-8", "replace"))
        if token is None:
            failures.failed(address)
            page = _login_page(root, target, "That is not the token.")
            return HTMLResponse(page, status_code=401)
        failures.succeeded(address)
        response = RedirectResponse(root + target, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            session_cookie(given),
            max_age=COOKIE_MAX_AGE,
            path=_cookie_path(root),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get(LOGOUT_PATH, include_in_schema=False)
    def logout(request: Request) -> Response:
        root = root_of(request.scope)
        response = RedirectResponse(root + LOGIN_PATH, status_code=303)
        response.delete_cookie(
            COOKIE_NAME, path=_cookie_path(root), httponly=True, samesite="strict"
        )
        return response


def _login_page(root: str, target: str, error: str | None) -> str:
    """The login form; ``target``: where to go once logged in, within the server."""
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    action = html.escape(root + LOGIN_PATH, quote=True)
    return _LOGIN.format(action=action, next=html.escape(target, quote=True), problem=problem)


_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · MLTracker</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2330;
  display: grid; place-items: center; min-height: 100vh; margin: 0; }}
form {{ background: #fff; padding: 2rem 2.25rem; border-radius: 10px; width: 22rem;
  box-shadow: 0 1px 3px rgba(0,0,0,.08), 0 8px 24px rgba(0,0,0,.06); }}
h1 {{ font-size: 1.25rem; margin: 0 0 .25rem; }}
p {{ margin: 0 0 1rem; color: #5b6475; }}
label {{ display: block; font-weight: 600; margin-bottom: .35rem; }}
input {{ width: 100%; box-sizing: border-box; padding: .55rem .7rem; font: inherit;
  border: 1px solid #c9ced8; border-radius: 6px; }}
button {{ margin-top: 1rem; width: 100%; padding: .6rem; font: inherit; font-weight: 600;
  color: #fff; background: #3461c1; border: 0; border-radius: 6px; cursor: pointer; }}
.error {{ color: #b42318; font-weight: 600; }}
</style></head>
<body>
<form method="post" action="{action}">
<h1>MLTracker</h1>
<p>This server needs one of its tokens.</p>
{problem}
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Open the dashboard</button>
</form>
</body></html>
"""
