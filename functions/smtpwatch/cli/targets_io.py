"""Target files for `smtpwatch targets import` and `export`: parse, validate, dump.

A target file is a YAML or JSON list of target objects with the target item's attribute
names (exactly the DynamoDB item contract). Import validates the *whole* file before
anything is written and reports every error with its item number (1-based) and field,
so a user fixes a 10,000-line file in one pass instead of one error per run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from smtpwatch.cli.documents import DocumentError, field_label, load_document
from smtpwatch.cli.output import to_jsonable
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.safe_text import for_terminal
from smtpwatch.core.target import STATE_FIELDS, TARGET_FIELDS, Target

__all__ = [
    "FileFormatError",
    "ItemError",
    "dump_items",
    "error_lines",
    "parse_text",
    "validate_items",
]

FORMATS = ("yaml", "json")

# An item has ~30 fields: more keys than this is a mistake, refused before any key is
# looked at one by one (20,000 unknown keys once took 30 s and printed 20,000 lines).
MAX_KEYS_PER_ITEM = 64
# Errors printed for one file; the rest are counted on one line.
MAX_ERRORS_SHOWN = 50

# The C dumper is ~10x faster on 10,000 targets; PyYAML falls back to pure Python.
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Multi-line text (a ``ca_bundle`` PEM) as a ``|`` block, the way a person writes
    it, not a quoted string with a blank line between every line."""


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


class FileFormatError(Exception):
    """The file as a whole cannot be read as a list of targets (one line, no item)."""


@dataclass(frozen=True, slots=True)
class ItemError:
    """One problem with one item of the file."""

    item: int  # 1-based position in the file's list
    target_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"item {self.item}"
        if self.target_id:
            where += f" ({self.target_id})"
        return f"{where}: {field_label(self.field)}: {self.message}"


def error_lines(name: str, errors: Sequence[ItemError]) -> list[str]:
    """What import prints for a file's errors: the first ``MAX_ERRORS_SHOWN``, then one
    line counting the rest (10,000 bad items must not print 30,000 lines)."""
    lines = [f"{name}: {error}" for error in errors[:MAX_ERRORS_SHOWN]]
    rest = len(errors) - MAX_ERRORS_SHOWN
    if rest > 0:
        lines.append(f"{name}: ... and {rest} more error(s) not shown")
    return lines


def guess_format(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    return None


def parse_text(text: str, *, fmt: str | None) -> list[Any]:
    """The file's list of raw items. ``fmt`` None: JSON if it parses, else YAML. The
    document's bounds (depth, size, aliases, integers) are checked as it is read."""
    data: Any
    try:
        if fmt == "json" or (fmt is None and text.lstrip()[:1] in ("[", "{")):
            try:
                data = load_document(text, "json")
            except json.JSONDecodeError as exc:
                if fmt == "json":
                    raise FileFormatError(
                        f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                    ) from None
                data = _load_yaml(text)
        else:
            data = _load_yaml(text)
    except DocumentError as exc:
        raise FileFormatError(str(exc)) from None
    if data is None:
        return []
    if isinstance(data, dict) and isinstance(data.get("targets"), list) and len(data) == 1:
        data = data["targets"]  # `targets: [...]` is a common way to write the same thing
    if not isinstance(data, list):
        raise FileFormatError(
            f"expected a list of target objects, got {_type_name(data)} "
            '(e.g. [{"target_id": "mx1", "host": "mx1.example.com"}])'
        )
    return data


def _load_yaml(text: str) -> Any:
    try:
        return load_document(text, "yaml")  # a safe loader, with the bounds
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise FileFormatError(f"not valid YAML: {exc.problem}{where}") from None
    except yaml.YAMLError as exc:
        raise FileFormatError(f"not valid YAML: {exc}") from None


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


Check = Callable[[Target], None]


def validate_items(
    raw_items: Sequence[Any], *, extra_check: Check | None = None
) -> tuple[list[Target], list[ItemError]]:
    """Every item through the one ``Target`` model (strict: unknown attributes refused
    with a suggestion). Returns the targets in file order and every error found.
    ``extra_check`` (e.g. the AWS limits) runs on items that are otherwise valid."""
    targets: list[Target] = []
    errors: list[ItemError] = []
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, dict):
            errors.append(
                ItemError(number, None, "item", f"expected a target object, got {_type_name(raw)}")
            )
            continue
        tid = raw.get("target_id")
        # Shown in messages only when it is a printable id (the model refuses others).
        tid_text = tid if isinstance(tid, str) and tid and _printable_id(tid) else None
        if len(raw) > MAX_KEYS_PER_ITEM:
            errors.append(
                ItemError(
                    number,
                    tid_text,
                    "item",
                    f"{len(raw)} attributes (at most {MAX_KEYS_PER_ITEM}; a target has "
                    f"{len(TARGET_FIELDS)} fields)",
                )
            )
            continue
        item_errors, target = _errors_of(raw, extra_check)
        errors.extend(ItemError(number, tid_text, e.field, e.reason) for e in item_errors)
        if tid_text is not None:
            if tid_text in first_seen:
                errors.append(
                    ItemError(
                        number,
                        tid_text,
                        "target_id",
                        f"duplicate: item {first_seen[tid_text]} has the same target_id",
                    )
                )
            else:
                first_seen[tid_text] = number
        if target is not None and not item_errors:
            targets.append(target)
    return targets, errors


def _printable_id(text: str) -> bool:
    return len(text) <= 128 and text.isprintable()


# Values that keep validation going after a required field was found bad.
_PLACEHOLDERS = {"target_id": "placeholder-id", "host": "placeholder.invalid"}


def _errors_of(
    raw: dict[str, Any], extra_check: Check | None
) -> tuple[list[ConfigError], Target | None]:
    """All errors of one item, not only the first: ``Target`` stops at the first bad
    field, so drop that field (or stand in a placeholder for a required one) and
    validate again, until the rest is clean."""
    item = dict(raw)
    errors: list[ConfigError] = []
    unknown = [k for k in item if k not in _KNOWN]
    if unknown:
        # One error for all unknown attributes (the model's message lists them), not
        # one validation run per attribute.
        try:
            Target.from_item(item, strict=True)
        except ConfigError as exc:
            errors.append(exc)
        for key in unknown:
            del item[key]
    for _ in range(len(item) + 3):
        try:
            target, _unknown = Target.from_item(item, strict=True)
        except ConfigError as exc:
            errors.append(exc)
            key = re.split(r"[.\[ ]", exc.field, maxsplit=1)[0]
            if key in _PLACEHOLDERS and item.get(key) != _PLACEHOLDERS[key]:
                item[key] = _PLACEHOLDERS[key]
            elif key in item and key not in _PLACEHOLDERS:
                del item[key]
            else:
                break  # cannot isolate this error: report what we have
            continue
        if errors:
            return errors, None
        if extra_check is not None:
            try:
                extra_check(target)
            except ConfigError as exc:
                return [exc], None
        return [], target
    return errors, None


_KNOWN = frozenset(TARGET_FIELDS) | frozenset(STATE_FIELDS)


def dump_items(items: Iterable[dict[str, Any]], fmt: str) -> str:
    """The export text: what ``import`` reads back to the same targets."""
    data = [to_jsonable(item) for item in items]  # Decimals (DynamoDB) as numbers
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        if not data:
            return "[]\n"
        text = _yaml(data, allow_unicode=True)
        if for_terminal(text) != text:
            # Characters a terminal shows escaped (a bidi override, a zero-width joiner)
            # would come back as their escapes from an unquoted YAML string: written as
            # YAML escapes instead, the export prints safely and imports back the same.
            text = _yaml(data, allow_unicode=False)
        return text
    raise ValueError(f"unknown format {fmt!r}")


def _yaml(data: list[Any], *, allow_unicode: bool) -> str:
    return str(
        yaml.dump(
            data,
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=allow_unicode,
        )
    )
