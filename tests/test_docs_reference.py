"""The reference pages of the documentation site tell what the code does: the environment
variables it reads (docs/reference/environment.md) and every error class with its code and HTTP
status (docs/reference/errors.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mltracker import errors

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "mltracker"
REFERENCE = ROOT / "docs" / "reference"
VARIABLE = re.compile(r"MLTRACKER_[A-Z0-9_]+")
#: The statuses of the errors page that are not ``status_of`` the class: no route raises
#: PayloadTooLargeError (the body limit answers 413 before the request is read), and a client
#: raises CertificateError itself, without a request.
NOT_OF_A_ROUTE = {"PayloadTooLargeError": "413", "CertificateError": "—"}


def _table_rows(page: Path, first_header: str) -> list[list[str]]:
    """The cells of each row of the table whose header row begins with ``first_header``."""
    rows: list[list[str]] = []
    inside = False
    for line in page.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith(f"| {first_header} |"):
            inside = True
            continue
        if inside and line.startswith("|---"):
            continue
        if inside and line.startswith("|"):
            rows.append(cells)
        elif inside:
            break
    assert rows, f"{page} has no table headed {first_header!r}"
    return rows


def _code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell.split(" ", 1)[0])
    assert match, f"not a `name`: {cell!r}"
    return match.group(1)


def _variables_read() -> set[str]:
    """The names the code reads: string constants that are exactly a variable's name (in
    ``os.environ.get(...)``, in a module constant, in click's ``envvar=``)."""
    names: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if VARIABLE.fullmatch(node.value):
                    names.add(node.value)
    return names


def test_the_environment_table_lists_exactly_the_variables_the_code_reads() -> None:
    listed = [_code(row[0]) for row in _table_rows(REFERENCE / "environment.md", "variable")]
    assert len(listed) == len(set(listed)), "a variable listed twice"
    read = _variables_read()
    assert read, "no MLTRACKER_* variable found in the source"
    assert set(listed) == read, (
        f"listed but not read: {sorted(set(listed) - read)}; "
        f"read but not listed: {sorted(read - set(listed))}"
    )


def test_every_variable_the_source_mentions_is_in_the_table() -> None:
    listed = {_code(row[0]) for row in _table_rows(REFERENCE / "environment.md", "variable")}
    mentioned = {
        name for path in SOURCE.rglob("*.py") for name in VARIABLE.findall(path.read_text())
    }
    assert mentioned <= listed, sorted(mentioned - listed)


def test_the_errors_page_lists_every_error_class_with_its_code_parent_and_status() -> None:
    from mltracker.server.app import status_of

    rows = _table_rows(REFERENCE / "errors.md", "class")
    listed = {_code(row[0]): row for row in rows}
    assert len(listed) == len(rows), "a class listed twice"
    classes = {cls.__name__: cls for cls in errors.error_classes().values()}
    assert set(listed) == set(classes), (
        f"listed but not in mltracker.errors: {sorted(set(listed) - set(classes))}; "
        f"not listed: {sorted(set(classes) - set(listed))}"
    )
    for name, (_, parent, code, status, *_) in listed.items():
        cls = classes[name]
        assert _code(code) == cls.code, name
        assert _code(parent) == cls.__bases__[0].__name__, name
        expected = NOT_OF_A_ROUTE.get(name) or str(status_of(cls("x")))
        assert status == expected, name


def test_the_status_table_names_only_codes_of_error_classes() -> None:
    known = set(errors.error_classes())
    for row in _table_rows(REFERENCE / "errors.md", "status"):
        for code in re.findall(r"`([a-z_.]+)`", row[1]):
            assert errors.error_from_code(code, "").code in known
            assert code in known or code == "backend.remote.route", code


def test_every_class_of_the_status_table_has_its_status_row() -> None:
    from mltracker.server.app import status_of

    by_status: dict[int, set[str]] = {}
    for row in _table_rows(REFERENCE / "errors.md", "status"):
        codes = set(re.findall(r"`([a-z_.]+)`", row[1]))
        for status in re.findall(r"\d{3}", row[0]):
            by_status.setdefault(int(status), set()).update(codes)
    for code, cls in errors.error_classes().items():
        status = NOT_OF_A_ROUTE.get(cls.__name__) or str(status_of(cls("x")))
        if status.isdigit():
            assert code in by_status.get(int(status), set()), (code, status)


def test_the_python_api_page_documents_every_public_name() -> None:
    import mltracker

    page = (REFERENCE / "api.md").read_text()
    documented = {
        path.rsplit(".", 1)[-1] for path in re.findall(r"^::: (mltracker[\w.]*)$", page, re.M)
    }
    mentioned = set(re.findall(r"`(?:mltracker\.)?(\w+)`", page))
    public = set(mltracker.__all__)
    assert documented <= public, sorted(documented - public)
    assert public <= documented | mentioned, sorted(public - documented - mentioned)
