"""MkDocs hook: the HTTP API page from the server's own OpenAPI document.

At build time the FastAPI application is made over a store that is never created (a path in a
temporary folder: making the application reads and writes nothing), its OpenAPI document is
written into the site as ``reference/openapi.json``, and the marker ``<!-- openapi -->`` of
``reference/http-api.md`` becomes a section per tag with each route's method, path, summary,
parameters, body and answers. Nothing is copied by hand: a new route shows up on the next build.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

MARKER = "<!-- openapi -->"
PAGE = "reference/http-api.md"
DOCUMENT = "reference/openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")

_document: dict[str, Any] | None = None


def openapi_document() -> dict[str, Any]:
    """The server's OpenAPI document, as ``/api/v1/openapi.json`` serves it."""
    global _document
    if _document is None:
        from mltracker.schemes import open_store
        from mltracker.server.app import create_app

        with tempfile.TemporaryDirectory() as folder:
            store = open_store(str(Path(folder) / "never-created.db"))
            try:
                _document = create_app(store).openapi()
            finally:
                store.close()
    return _document


def on_files(files: Files, config: MkDocsConfig) -> Files:
    content = json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"
    files.append(File.generated(config, DOCUMENT, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lacks the marker {MARKER}")
    return markdown.replace(MARKER, render(openapi_document()))


def render(document: dict[str, Any]) -> str:
    """Markdown of every route of ``document``, grouped by tag in the order they first appear."""
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((method, path, operation))
    out: list[str] = []
    out.append("| method | path | tag |")
    out.append("|---|---|---|")
    for tag, operations in by_tag.items():
        for method, path, _ in operations:
            out.append(f"| `{method.upper()}` | [`{path}`](#{_anchor(method, path)}) | {tag} |")
    out.append("")
    for tag, operations in by_tag.items():
        out.append(f"## {tag.capitalize()}")
        out.append("")
        for method, path, operation in operations:
            out.extend(_route(method, path, operation, document))
    return "\n".join(out)


def _anchor(method: str, path: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in f"{method}-{path}".lower())
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug.strip("-")


def _route(
    method: str, path: str, operation: dict[str, Any], document: dict[str, Any]
) -> list[str]:
    out = [f"### `{method.upper()} {path}` {{#{_anchor(method, path)}}}", ""]
    summary = operation.get("summary")
    if summary:
        out += [f"**{summary}**", ""]
    description = operation.get("description")
    if description:
        out += [_plain(description), ""]
    parameters = operation.get("parameters") or []
    if parameters:
        out += [
            "| parameter | in | type | required | default | description |",
            "|---|---|---|---|---|---|",
        ]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            default = schema.get("default")
            out.append(
                "| `{}` | {} | {} | {} | {} | {} |".format(
                    parameter["name"],
                    parameter["in"],
                    _type(schema, document),
                    "yes" if parameter.get("required") else "no",
                    "" if default is None else f"`{json.dumps(default)}`",
                    _cell(parameter.get("description") or schema.get("description") or ""),
                )
            )
        out.append("")
    body = operation.get("requestBody")
    if body:
        schema = next(iter(body.get("content", {}).values()), {}).get("schema", {})
        out += [f"Body: {_type(schema, document)}", ""]
        out += _fields(schema, document)
    responses = operation.get("responses") or {}
    if responses:
        answers = ", ".join(
            f"`{code}` {answer.get('description', '')}".rstrip()
            for code, answer in responses.items()
        )
        out += [f"Answers: {answers}.", ""]
    return out


def _fields(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    resolved = _resolve(schema, document)
    properties = resolved.get("properties")
    if not properties:
        return []
    required = set(resolved.get("required", ()))
    out = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, field in properties.items():
        out.append(
            f"| `{name}` | {_type(field, document)} | {'yes' if name in required else 'no'} "
            f"| {_cell(field.get('description', ''))} |"
        )
    out.append("")
    return out


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    name = reference.rsplit("/", 1)[-1]
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def _type(schema: dict[str, Any], document: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(part, document) for part in schema[key])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), document)}"
    if kind is None:
        return "any"
    if isinstance(kind, list):
        return " or ".join(_type({**schema, "type": one}, document) for one in kind)
    shown = kind + (f" ({schema['format']})" if "format" in schema else "")
    return f"`{shown}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _plain(text: str) -> str:
    """A docstring's reST literals as Markdown code."""
    return text.replace("``", "`")
