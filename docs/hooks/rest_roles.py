"""A griffe extension for the Python API page: the docstrings' reST roles as Markdown code.

The docstrings name other objects the Sphinx way (``:func:`mltracker.connect```, ``:class:`~a.B```)
and mark code with double backticks; the site renders docstrings as Markdown, where a role would
show as it is written. Each role becomes the code span of its target (``~`` keeps the last name).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|data|attr|mod|exc|obj|const):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    target = match.group(2)
    if match.group(1):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


class RestRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
