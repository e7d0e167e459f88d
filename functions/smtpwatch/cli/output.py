"""What the read commands print: JSON documents, aligned tables, durations and times.

Everything is UTC; times go out as ISO-8601 with a "Z".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from smtpwatch.core.schedule import parse_ts, utc_now

if TYPE_CHECKING:
    from smtpwatch.core.result import ErrorInfo

__all__ = [
    "add_json_argument",
    "error_text",
    "format_ago",
    "format_ms",
    "iso_z",
    "print_json",
    "render_table",
    "to_jsonable",
]


def add_json_argument(
    parser: argparse.ArgumentParser, help_text: str = "print JSON instead of text"
) -> None:
    """``--json``: the data as JSON on stdout (notes and progress stay on stderr)."""
    parser.add_argument("--json", action="store_true", help=help_text)


def to_jsonable(value: Any) -> Any:
    """Decimal (DynamoDB), tuples, sets, datetimes and objects with ``to_dict`` → JSON types."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso_z(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict())
    return value


def print_json(value: Any, *, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    # One write, not json.dump's one per token (300,000 for 10,000 targets, each
    # through the terminal guard).
    text = json.dumps(to_jsonable(value), indent=2, sort_keys=False, ensure_ascii=False)
    out.write(text + "\n")


def render_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 60
) -> str:
    """Plain aligned columns (no box drawing: output is often piped or grepped).

    Cells longer than ``max_width`` are cut with an ellipsis; None prints as "-".
    """
    body = [[_cell(v, max_width) for v in row] for row in rows]
    head = [str(h) for h in headers]
    widths = [len(h) for h in head]
    for row in body:
        for i, cell in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], len(cell))
            else:
                widths.append(len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)).rstrip()]
    for row in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
    return "\n".join(lines)


def _cell(value: Any, max_width: int) -> str:
    text = "-" if value is None else str(value)
    text = " ".join(text.split())  # one line per row, whatever a server sent
    if len(text) > max_width:
        text = text[: max_width - 1] + "…"
    return text


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def error_text(error: ErrorInfo) -> str:
    """``kind in phase: message`` (``kind: message`` when no phase is known)."""
    where = f" in {error.phase.value}" if error.phase else ""
    return f"{error.kind.value}{where}: {error.message}"


def iso_z(moment: datetime) -> str:
    """ISO-8601 UTC with a "Z", second precision unless there are microseconds."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_ago(iso: str | None, *, now: datetime | None = None) -> str:
    """ "3m ago" style, for humans; "-" when unknown."""
    if not iso:
        return "-"
    try:
        then = parse_ts(iso)
    except ValueError:
        return iso
    seconds = int(((now or utc_now()) - then).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 90 * 60:
        return f"{seconds // 60}m"
    if seconds < 36 * 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"
