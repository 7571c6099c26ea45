"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_a_tour() -> None:
    assert python_blocks()


@pytest.mark.parametrize("index", range(len(python_blocks())))
# MLflow's own use of SQLAlchemy 2.1 (the import example writes an MLflow store).
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_readme_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(python_blocks()[index], f"README.md block {index}", "exec"), {})
