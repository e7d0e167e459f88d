"""A test that runs a system tool (a Debian package: check_smtp, systemd-analyze, strace,
hadolint, zsh, fish, promtool, Chromium) carries the `once` marker, so `.ci/run` runs it
on one interpreter only and `-m "not once"` leaves it out. Read from each test's source
and the module-level helpers, fixtures and constants it reaches; bash and Python are not
tools here (every machine that runs the suite has them).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A tool is run by name (``which("zsh")``, ``needs("fish")``, ``[..., "strace", ...]`` as
# the first word) or by its path; a name merely listed, as a shell's candidates, is not.
TOOL = re.compile(
    r"""\(\s*\[?\s*["'](zsh|fish|hadolint|systemd-analyze|systemd-sysusers|systemd-tmpfiles"""
    r"""|strace|promtool|chromium)["']|/check_smtp["']|/usr/bin/chromium"""
)


def _marked_once(node: ast.expr | ast.stmt, source: str) -> bool:
    text = ast.get_source_segment(source, node) or ""
    return re.search(r"\bmark\.once\b", text) is not None


def unmarked_tool_tests(path: Path) -> list[str]:
    """The tests of one file that reach a tool without the `once` marker."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    defs: dict[str, str] = {}
    module_once = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defs[node.name] = ast.get_source_segment(source, node) or ""
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defs[target.id] = ast.get_source_segment(source, node) or ""
                    if target.id == "pytestmark":
                        module_once = _marked_once(node, source)
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        if module_once or any(_marked_once(d, source) for d in node.decorator_list):
            continue
        # What the test reaches: names it uses and fixtures it asks for, then theirs.
        seen, todo = set(), [node.name]
        while todo:
            name = todo.pop()
            if name in seen or name not in defs:
                continue
            seen.add(name)
            reached = ast.parse(defs[name])
            todo += [n.id for n in ast.walk(reached) if isinstance(n, ast.Name)]
            todo += [a.arg for n in ast.walk(reached) if isinstance(n, ast.FunctionDef)
                     for a in n.args.args]  # fmt: skip
        if any(TOOL.search(defs[name]) for name in seen):
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{where}::{node.name}")
    return found


def test_every_test_running_a_system_tool_is_marked_once() -> None:
    files = [p for p in sorted((ROOT / "tests").rglob("test_*.py")) if p != Path(__file__)]
    assert [test for path in files for test in unmarked_tool_tests(path)] == []


def test_the_reading_sees_a_tool_behind_a_helper_and_a_fixture(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    text = (
        "import pytest, shutil\n"
        "def needs(name): return shutil.which(name)\n"
        "@pytest.fixture\n"
        "def shell(): return needs('fish')\n"
        "def test_a(shell): assert shell\n"
        "def test_b(): assert needs('bash') and ['zsh', 'fish']\n"
        "@pytest.mark.once\n"
        "def test_c(): assert needs('zsh')\n"
    )
    sample.write_text(text, encoding="utf-8")
    assert unmarked_tool_tests(sample) == ["test_sample.py::test_a"]
