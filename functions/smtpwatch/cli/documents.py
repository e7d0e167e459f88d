"""YAML and JSON documents from users (import files, ``--set`` values), read with bounds
checked while the document is read, before anything is built from it: depth
``MAX_DEPTH``, ``MAX_NODES`` values, ``MAX_ALIAS_NODES`` added by YAML aliases (none
containing itself) and integers of ``MAX_INT_DIGITS`` characters.

A refusal is one ``DocumentError`` naming the reason and where (``item 3: port``, the
YAML line).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event
from yaml.nodes import Node, ScalarNode
from yaml.resolver import Resolver

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "DocumentError",
    "load_document",
]

MAX_DEPTH = 32
MAX_NODES = 1_000_000
MAX_ALIAS_NODES = 10_000
MAX_INT_DIGITS = 40

_INT_TAG = "tag:yaml.org,2002:int"


class DocumentError(ValueError):
    """A document outside the bounds. ``path`` is where in the data (list positions and
    keys from the top), ``line`` the YAML line (1-based), when known."""

    def __init__(self, reason: str, *, path: tuple[Any, ...] = (), line: int | None = None):
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(self.describe())

    def describe(self, *, items: bool = True) -> str:
        """One line; ``items`` False for a single value (``--set``), whose field the
        caller names."""
        where = _where(self.path) if items else ""
        at = f" (line {self.line})" if self.line is not None else ""
        return f"{where}{self.reason}{at}"


def load_document(text: str, fmt: str) -> Any:
    """The data of a ``json`` or ``yaml`` document, within the bounds above.

    Raises ``DocumentError`` for a bound, ``json.JSONDecodeError`` or ``yaml.YAMLError``
    for a syntax error (their callers word those)."""
    if fmt == "json":
        return _load_json(text)
    if fmt == "yaml":
        return _load_yaml(text)
    raise ValueError(f"unknown format {fmt!r}")


def _where(path: tuple[Any, ...]) -> str:
    """``item 3: port: `` for a position inside a list of targets (``targets:`` too)."""
    parts = [p for p in path if p is not None]
    if len(parts) > 1 and parts[0] == "targets" and isinstance(parts[1], int):
        parts = parts[1:]
    if not parts or not isinstance(parts[0], int):
        return ""
    where = f"item {parts[0] + 1}: "
    if len(parts) > 1 and isinstance(parts[1], str):
        where += f"{field_label(parts[1])}: "
    return where


def field_label(name: str) -> str:
    """A key from the file as a message shows it: as is when it is a short printable
    name, else quoted and escaped (a key may hold control characters)."""
    if name.isprintable() and 0 < len(name) <= 60:
        return name
    text = repr(name)
    return text if len(text) <= 60 else text[:59] + "…"


def _too_deep(path: tuple[Any, ...] = (), line: int | None = None) -> DocumentError:
    return DocumentError(f"nested more than {MAX_DEPTH} deep", path=path, line=line)


def _too_long_int(digits: int, path: tuple[Any, ...], line: int | None = None) -> DocumentError:
    return DocumentError(
        f"an integer of {digits} digits is too long (at most {MAX_INT_DIGITS})",
        path=path,
        line=line,
    )


def _too_many(line: int | None = None) -> DocumentError:
    return DocumentError(f"more than {MAX_NODES:,} values in one document", line=line)


# ---- JSON ------------------------------------------------------------------------------


class _LongInt:
    """Stands in for an integer literal over the bound, so the check that follows can
    say where it is (json.loads's hooks do not know)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _LongInt:
    if len(text) > MAX_INT_DIGITS:
        return _LongInt(len(text.lstrip("-")))
    return int(text)


def _load_json(text: str) -> Any:
    # Every list and object costs memory as it is parsed: count them (an upper bound:
    # brackets inside strings count too) before parsing.
    if text.count("[") + text.count("{") > MAX_NODES:
        raise _too_many()
    try:
        data = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise _too_deep() from None
    _check_json(data)
    return data


def _check_json(data: Any) -> None:
    """Depth, size and integers of parsed JSON, iteratively (no recursion to exhaust)."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(data, 1, ())]
    count = 0
    while stack:
        value, depth, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _too_many()
        if isinstance(value, _LongInt):
            raise _too_long_int(value.digits, path)
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep(path)
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            # Only the first levels name a place (item, field): no long paths built.
            stack.extend(
                (child, depth + 1, (*path, key) if len(path) < 3 else path)
                for key, child in reversed(list(pairs))
            )


# ---- YAML ------------------------------------------------------------------------------


class _BoundedComposer(Composer):
    """PyYAML's composer, counting as it goes: depth, values, and the values each alias
    would add once expanded (an anchor's expanded size is known when its node is
    complete; an alias to a node still open is one that contains itself)."""

    def __init__(self) -> None:
        super().__init__()
        self._path: list[Any] = []
        self._totals: list[int] = [0]  # expanded sizes of the open nodes' children
        self._anchored: dict[int, int] = {}  # id(anchored node) -> expanded size
        self._nodes = 0
        self._alias_nodes = 0

    if TYPE_CHECKING:  # provided by the parser the loader class below mixes in

        def peek_event(self) -> Event: ...

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, AliasEvent):
            self._count_alias(event.anchor, line)
            return super().compose_node(parent, index)
        self._path.append(_path_key(index))
        if len(self._path) > MAX_DEPTH:
            raise _too_deep(tuple(self._path), line)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _too_many(line)
        self._totals.append(0)
        node = super().compose_node(parent, index)
        if (
            isinstance(node, ScalarNode)
            and node.tag == _INT_TAG
            and len(node.value) > MAX_INT_DIGITS
        ):
            digits = sum(c.isdigit() for c in node.value)
            raise _too_long_int(digits, tuple(self._path), line)
        size = 1 + self._totals.pop()
        self._totals[-1] += size
        if getattr(event, "anchor", None) is not None:
            self._anchored[id(node)] = size
        self._path.pop()
        return node

    def _count_alias(self, anchor: str | None, line: int | None) -> None:
        target = self.anchors.get(anchor) if anchor is not None else None
        if target is None:
            return  # the composer reports the undefined alias
        path = (*self._path, None)
        size = self._anchored.get(id(target))
        if size is None:
            raise DocumentError("an alias that contains itself", path=path, line=line)
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise DocumentError(
                f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes", path=path, line=line
            )
        self._totals[-1] += size


def _path_key(index: Any) -> Any:
    """A list position, a mapping key's text, or None (composing a key itself)."""
    if isinstance(index, int):
        return index
    if isinstance(index, ScalarNode):
        return str(index.value)
    return None


class _BoundedConstructor(SafeConstructor):
    """SafeConstructor, whose scalar conversions raise ``ValueError`` and friends on text
    like ``!!int abc``, ``!!timestamp 9`` or the date 2026-02-30: a YAML error with the
    line instead."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:
            if isinstance(exc, DocumentError):
                raise
            value = node.value if isinstance(node.value, str) else ""
            raise ConstructorError(
                None, None, f"cannot read {value[:40]!r} as {_tag_name(node.tag)}", node.start_mark
            ) from None


def _tag_name(tag: str) -> str:
    return tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else tag[:40]


_CParser: Any
try:
    from yaml import cyaml

    _CParser = cyaml.CParser  # type: ignore[attr-defined]  # libyaml's parser: ~5x faster than PyYAML's own
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _CParser = None

if _CParser is not None:

    class _Loader(_BoundedComposer, _CParser, _BoundedConstructor, Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _BoundedConstructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        _BoundedComposer,
        _BoundedConstructor,
        Resolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            _BoundedComposer.__init__(self)
            _BoundedConstructor.__init__(self)
            Resolver.__init__(self)


def _load_yaml(text: str) -> Any:
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
