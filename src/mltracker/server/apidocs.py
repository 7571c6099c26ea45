"""The API's documentation page, ``/api/docs``: Swagger UI over the server's OpenAPI document.

Swagger UI comes from npm (``swagger-ui-dist``, pinned by ``frontend/package-lock.json``)
and is copied into ``static/vendor/`` when the package is built, as uPlot is: the page loads
nothing from elsewhere and works without internet. Its URLs (the script, the stylesheet, the
icon, the OpenAPI document) start with the request's root path (``mltracker.server.rootpath``),
as FastAPI's own OpenAPI document names it in ``servers``, so that "Try it out" calls the API
through the proxy.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from mltracker.server.rootpath import root_of

__all__ = ["DOCS_PATH", "SWAGGER_CSS", "SWAGGER_JS", "install"]

DOCS_PATH = "/api/docs"
#: The files of Swagger UI, under the server's root path (see ``hatch_build.py``).
SWAGGER_JS = "/static/vendor/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/vendor/swagger-ui.css"
FAVICON = "/static/favicon.svg"


def install(app: FastAPI, openapi_path: str) -> None:
    """Serve the documentation page of the OpenAPI document at ``openapi_path`` (a path within
    the server) at :data:`DOCS_PATH` (``app`` is made with ``docs_url=None``)."""
    title = f"{app.title} API"

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = root_of(request.scope)
        return get_swagger_ui_html(
            openapi_url=root + openapi_path,
            title=title,
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            # No badge of the public validator: it would send the document elsewhere.
            swagger_ui_parameters={"validatorUrl": None},
        )
