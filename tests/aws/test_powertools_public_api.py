"""The functions use Powertools by its public API only, within a pinned major.

A ``_``-prefixed Powertools attribute can change in any minor release and break the
metrics or logs of every check. The scan reads the source (AST) of every module under
functions/ and flags a private name (``_x``, not ``__x__``) when it is:

- imported from ``aws_lambda_powertools`` (``from ... import _x``);
- read off a name imported from ``aws_lambda_powertools`` (``Metrics._metrics``,
  ``powertools_module._x.y``);
- read off ``self``/``cls``/``super()`` in a class that subclasses a Powertools class,
  when Powertools itself defines that private name (``self._metric_units``);
- read off anything else, in a module that imports Powertools or our handlers'
  observability helpers (whose objects are Powertools objects), when Powertools
  defines that private name (``metrics.provider._dimension_set``).

The last two rules need the set of private names Powertools defines, taken from the
installed package's own source. Without type inference, an object of ours that happens
to share such a name is flagged too only in a module that deals in Powertools objects;
there is none today, and a false alarm is fixed by renaming, never by an allow-list.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from collections.abc import Iterator
from pathlib import Path

import aws_lambda_powertools
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
POWERTOOLS = "aws_lambda_powertools"
HELPERS = "smtpwatch.handlers.observability"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@functools.cache
def powertools_private_names() -> frozenset[str]:
    """Every private attribute, function, class or variable name in Powertools' source."""
    names: set[str] = set()
    for path in Path(aws_lambda_powertools.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return frozenset(n for n in names if _private(n))


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _names(node: ast.expr, names: set[str]) -> bool:
    """Whether the expression's leftmost name is one of ``names``."""
    root = _root(node)
    return isinstance(root, ast.Name) and root.id in names


def private_uses(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each private Powertools name the module's source uses."""
    tree = ast.parse(source)
    imported: set[str] = set()  # local names bound to Powertools modules or objects
    deals_in_powertools = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == POWERTOOLS:
                    imported.add((alias.asname or alias.name).split(".")[0])
                    deals_in_powertools = True
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == POWERTOOLS:
                deals_in_powertools = True
                for alias in node.names:
                    if _private(alias.name):
                        yield node.lineno, f"from {node.module} import {alias.name}"
                    imported.add(alias.asname or alias.name)
            elif node.module == HELPERS:
                deals_in_powertools = True
    in_subclass = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and any(_names(base, imported) for base in node.bases)
        for inner in ast.walk(node)
    }
    private_names = powertools_private_names()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        text = ast.unparse(node)
        if _names(node.value, imported):
            yield node.lineno, text
        elif node.attr not in private_names:
            continue
        elif _names(node.value, {"self", "cls", "super"}):
            if id(node) in in_subclass:
                yield node.lineno, text
        elif deals_in_powertools:
            yield node.lineno, text


def test_no_module_under_functions_uses_a_private_powertools_name() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in sorted((ROOT / "functions").rglob("*.py"))
        for line, text in private_uses(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_scan_catches_each_kind_of_private_use() -> None:
    source = """
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import _private_helper
import aws_lambda_powertools as apt
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from smtpwatch.handlers.observability import make_metrics

shared = Metrics._metrics
nested = apt.metrics._something.value

class Mine(AmazonCloudWatchEMFProvider):
    def units(self):
        return self._metric_units, self.own_public

def peek():
    return make_metrics().provider._metric_unit_valid_options
"""
    assert sorted(text for _, text in private_uses(source)) == sorted(
        [
            "from aws_lambda_powertools.metrics import _private_helper",
            "Metrics._metrics",
            "apt.metrics._something",
            "self._metric_units",
            "make_metrics().provider._metric_unit_valid_options",
        ]
    )


def test_the_scan_leaves_our_own_private_names_alone() -> None:
    source = """
import threading

class Receiver:
    def __init__(self):
        self._lock = threading.Lock()

def owner_lock(owner):
    return owner._lock, owner.__class__
"""
    assert list(private_uses(source)) == []


def test_the_powertools_pin_stays_within_one_major() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (req,) = (
        Requirement(r)
        for r in project["optional-dependencies"]["aws"]
        if Requirement(r).name == "aws-lambda-powertools"
    )
    assert req.specifier.contains("3.99.0") and not req.specifier.contains("4.0.0")
