"""The Python examples of the documentation site (docs/*.md) run as written: the blocks of a
page in order, in a fresh folder (a page's later block may read what an earlier one logged)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


PAGES = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md") if python_blocks(page))


def test_the_site_has_examples() -> None:
    assert "api-tour.md" in PAGES and "sweeps.md" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_of_a_page_run(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    for index, block in enumerate(python_blocks(DOCS / page)):
        exec(compile(block, f"docs/{page} block {index}", "exec"), {})
