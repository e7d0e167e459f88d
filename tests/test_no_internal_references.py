"""What readers of smtpwatch get (code, comments, templates, docs, help text) never
points at documents they don't have: a design document by its file name or section
number, an issue number, a commit hash, another checkout's files, or the product
description's file name. Each such pointer is replaced by what it means, or by a link
to the section of docs/design.md that says it.

Words are checked everywhere in a file; commit hashes only where prose is (comments
and docstrings of Python files, every line of the other files, help text), because
test data legitimately holds hex (keys, digests, UUIDs).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the project ships or shows to a reader. Tests and CI scripts are read by
# maintainers, who don't have those documents either.
SCANNED = [
    "functions",
    "template.yaml",
    "infra",
    "docs",
    "README.md",
    "bench",
    "tests",
    ".ci",
    "pyproject.toml",
    "samconfig.toml",
    "mkdocs.yml",
]
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".cfg", ".sh", ""}
# Generated or installed trees, not the project's own text.
SKIPPED_PARTS = {"__pycache__", "site", ".aws-sam", "build", "dist"}
THIS_FILE = Path(__file__).resolve()

FORBIDDEN_WORDS = [
    # the design document, by name or as "DESIGN §4"
    (re.compile(r"\bDESIGN\b"), "a design document readers don't have"),
    (re.compile(r"\bissues? #?\d+\b", re.IGNORECASE), "an issue number"),
    (re.compile(r"\.\./shared\b"), "a path outside the project"),
    (re.compile(r"smtp-target-spec"), "the product description's file name"),
]

# A commit hash, abbreviated or whole: 7 to 40 hex digits standing alone, with at least
# one digit and one letter (so words such as "deadbeef"/"effaced" and plain numbers
# are not taken). Neighbouring letters, digits, "_" or "-" make it part of a longer
# token (a UUID piece, an identifier), not a hash.
HASH = re.compile(r"(?<![\w\-])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}(?![\w\-])")
# Hex-looking words that are not commits, each with where it stands and why; keep this
# list tiny (a rule such as "skip exponent notation" would also skip a hash like 21834e7).
NOT_A_HASH = {
    "1e999999",  # core/target.py: the Decimal exponent that int() would take forever on
}


def _files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(ROOT).parts
                if (
                    f.is_file()
                    and f.suffix in SUFFIXES
                    and not SKIPPED_PARTS.intersection(rel)
                    and not any(p.endswith(".egg-info") or p.startswith(".venv") for p in rel)
                    and f.resolve() != THIS_FILE
                ):
                    yield f


def _python_prose(text: str) -> list[tuple[int, str]]:
    """Comments and docstrings of a Python file, with their first line numbers."""
    prose: list[tuple[int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            prose.append((tok.start[0], tok.string))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                prose.append((body[0].lineno, body[0].value.value))
    return prose


def hashes_in(text: str) -> list[str]:
    return [m.group() for m in HASH.finditer(text) if m.group() not in NOT_A_HASH]


def findings(where: str, text: str, prose: list[tuple[int, str]]) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in FORBIDDEN_WORDS:
            for m in pattern.finditer(line):
                found.append(f"{where}:{number}: {m.group()!r} ({what}): {line.strip()[:100]}")
    for first_line, chunk in prose:
        for offset, line in enumerate(chunk.splitlines()):
            for h in hashes_in(line):
                found.append(
                    f"{where}:{first_line + offset}: {h!r} (a commit hash?): {line.strip()[:100]}"
                )
    return found


def _file_findings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    where = str(path.relative_to(ROOT))
    if path.suffix == ".py":
        prose = _python_prose(text)
    else:
        prose = list(enumerate(text.splitlines(), start=1))
    return findings(where, text, prose)


def test_the_scan_covers_code_templates_docs_and_tests() -> None:
    files = {str(f.relative_to(ROOT)) for f in _files()}
    for expected in (
        "functions/smtpwatch/core/probe/dialogue.py",
        "functions/smtpwatch/cli/targets_cmd.py",
        "template.yaml",
        "infra/network.yaml",
        "README.md",
        "docs/limits.md",
        "bench/cost.py",
        "tests/test_alerting.py",
        ".ci/run",
    ):
        assert expected in files
    assert not any(".egg-info" in f or "__pycache__" in f for f in files)


def test_no_file_points_at_documents_readers_do_not_have() -> None:
    found = [line for f in _files() for line in _file_findings(f)]
    assert not found, "internal references:\n" + "\n".join(found)


def _help_texts() -> Iterator[tuple[str, str]]:
    from smtpwatch.cli import main as cli_main

    top = cli_main._top_parser()
    listing = "\n".join(f"{name} {text}" for name, (_, text) in cli_main.COMMANDS.items())
    yield "smtpwatch --help", top.format_help() + listing
    for command, (module_name, help_text) in cli_main.COMMANDS.items():
        module = __import__(module_name, fromlist=["add_arguments"])
        parser = argparse.ArgumentParser(prog=f"smtpwatch {command}", description=help_text)
        module.add_arguments(parser)
        yield from _walk(parser)


def _walk(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    yield f"{parser.prog} --help", parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _walk(sub)


def test_every_help_text_is_rendered() -> None:
    progs = {prog for prog, _ in _help_texts()}
    assert {"smtpwatch probe --help", "smtpwatch targets add --help", "smtpwatch run --help"} <= (
        progs
    )


def test_no_help_text_points_at_documents_readers_do_not_have() -> None:
    found = []
    for prog, text in _help_texts():
        found += findings(prog, text, list(enumerate(text.splitlines(), start=1)))
    assert not found, "internal references in help text:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "text",
    [
        "as decided in DESIGN §4",
        "see DESIGN.md",
        "the cost goal of issue 3",
        "Issue 12: the gate",
        "read ../shared/STYLE.md",
        "every field of smtp-target-spec.txt",
    ],
)
def test_the_check_recognises_each_kind_of_word(text: str) -> None:
    assert findings("example", text, [])


@pytest.mark.parametrize(
    ("text", "hashes"),
    [
        ("fails on the code before the fix, 21834e7", ["21834e7"]),
        ("landed as 3434266..1f690f0", ["1f690f0"]),  # all digits: not taken as a hash
        (
            "commit 4dbbae8f0c1e2d3b4a5968778695a4b3c2d1e0f9",
            ["4dbbae8f0c1e2d3b4a5968778695a4b3c2d1e0f9"],
        ),
        ('int() of Decimal("1e999999") would be huge', []),
        ("id 53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", []),
        ("the effaced deadbeef", []),
        ("SHA-256 of its id modulo 86400", []),
        ("sha 0123456789abcdef0123456789abcdef0123456789abcdef", []),  # over 40: not a hash
        ("version 1.2.3a4567", []),
    ],
)
def test_the_check_recognises_commit_hashes_and_not_other_hex(text: str, hashes: list[str]) -> None:
    assert hashes_in(text) == hashes


POINTER = re.compile(r"docs/([\w-]+\.md)#([\w-]+)")


def _anchors(page: Path) -> set[str]:
    """The anchors MkDocs makes for a page's headings (lower case, words joined by '-')."""
    anchors = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\s-]", "", title)
            anchors.add(re.sub(r"\s+", "-", title))
    return anchors


def test_every_pointer_into_the_docs_names_a_section_that_exists() -> None:
    # Comments say "docs/design.md#alert-state-machine" instead of citing a document the
    # reader lacks; such a pointer is only worth something if the section is there.
    broken = []
    for f in _files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for page, anchor in POINTER.findall(line):
                target = ROOT / "docs" / page
                if not target.is_file() or anchor not in _anchors(target):
                    broken.append(f"{f.relative_to(ROOT)}:{number}: docs/{page}#{anchor}")
    assert not broken, "pointers to missing sections:\n" + "\n".join(broken)
