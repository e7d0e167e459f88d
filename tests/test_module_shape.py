"""The package stays in rooms a newcomer can live in: small modules, short docstrings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "functions" / "smtpwatch"
MAX_LINES = 400
MAX_DOCSTRING_LINES = 8

# Test helpers (real servers for the tests) are not the product.
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts)


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_a_module_docstring_says_what_it_is_for_in_a_few_lines(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=True)
    if path.name != "__init__.py":
        assert docstring, f"{_name(path)} has no module docstring"
    lines = len((docstring or "").splitlines())
    assert lines <= MAX_DOCSTRING_LINES, f"{_name(path)}: docstring of {lines} lines"
