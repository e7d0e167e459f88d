"""A comment that states a measured figure says which benchmark measures it.

Under functions/smtpwatch, a comment block (consecutive ``#`` lines) or a docstring
paragraph that states an approximate time or size — a number with a unit (ms, µs, s,
KB, MB, bytes, %...) marked ``~``, ``≈``, ``about``, ``around``, ``roughly``,
``costs``, ``adds`` or ``+`` — is a measurement, and must name the ``bench/`` script
that measures it (which must exist): the reader can run it again, and a figure that
no script measures is a guess. Exact figures (a limit, a bound computed from the
code's constants) are not measurements and need no citation.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT / "functions" / "smtpwatch"

_UNIT = r"(?:ms|µs|us|ns|s|sec|seconds?|minutes?|KB|MB|GB|kB|KiB|MiB|bytes?|B|%)"
_MARK = r"(?:~|≈|\babout\s|\baround\s|\broughly\s|\bcosts?\s(?:about\s)?|\badds?\s(?:about\s)?|\+)"
FIGURE = re.compile(_MARK + r"\s*\d[\d,_]*(?:\.\d+)?\s*" + _UNIT + r"(?![\w])")
CITATION = re.compile(r"\bbench/[\w.-]+\.py\b")


def _comment_blocks(source: str) -> Iterator[tuple[int, str]]:
    """(first line, text) of each run of consecutive whole-line comments; a comment
    after code on its line is a block of its own."""
    block: list[str] = []
    start = last = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        whole_line = tok.line.lstrip().startswith("#")
        if block and whole_line and line == last + 1:
            block.append(tok.string)
        else:
            if block:
                yield start, " ".join(block)
            block, start = [tok.string], line
        last = line if whole_line else -1
    if block:
        yield start, " ".join(block)


def _docstring_paragraphs(source: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                for paragraph in re.split(r"\n\s*\n", doc):
                    yield node.body[0].lineno, paragraph


def uncited(source: str) -> list[tuple[int, str, str]]:
    """(line, figure, block text) for each block that states a figure and cites no
    existing bench script."""
    found = []
    for line, text in [*_comment_blocks(source), *_docstring_paragraphs(source)]:
        figures = FIGURE.findall(text)
        cited = [c for c in CITATION.findall(text) if (ROOT / c).is_file()]
        if figures and not cited:
            found.append((line, figures[0], " ".join(text.split())[:160]))
    return found


def test_every_measured_figure_in_a_comment_cites_its_benchmark() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {figure!r} without a bench/ script: {text}"
        for path in sorted(CODE.rglob("*.py"))
        for line, figure, text in uncited(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "\n".join(problems)


def test_the_rule_tells_a_measurement_from_an_exact_figure() -> None:
    # The check itself, on the shapes it must tell apart.
    assert uncited("x = 1  # typing costs ~3 ms at start\n")
    assert uncited('def f():\n    """Loading the store takes about 20 ms."""\n')
    assert uncited("# one line\n# the item is ~1.5 KB\n")
    assert uncited("# a cited script that does not exist (bench/nothing_here.py): ~3 ms\n")
    assert not uncited("# ~3 ms (bench/import_cost.py)\n")
    assert not uncited("# ~3 ms to import,\n# measured by bench/import_cost.py\n")
    assert not uncited("LIMIT = 256  # SNS: 262,144 bytes per message\n")
    assert not uncited("# waits capped at 2 s: at most 9.15 s in all\n")
    # A trailing comment is its own block: the next line's citation is not its own.
    assert uncited("A = 1  # ~3 ms\nB = 2  # (bench/import_cost.py)\n")
