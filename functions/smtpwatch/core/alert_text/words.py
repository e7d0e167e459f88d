"""Small wordings shared by an alert's subject and text: durations, certificate days,
one-line ASCII, clipping and control-free lines."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from smtpwatch.core.result import expiry_phrase

__all__ = ["ascii_line", "cert_days", "clean", "clip", "spoken_duration"]

_SPACES = re.compile(r"\s+")


def cert_days(days_left: int) -> str:
    """``9 days left``, or for an expired certificate the exact wording of the probe's
    message (``expired 2 days ago``, see ``expiry_phrase``), never ``-3 days left``."""
    return f"{days_left} days left" if days_left >= 0 else expiry_phrase(days_left)


def spoken_duration(seconds: Any) -> str:
    """``2d 3h``, ``1h 5m``, ``7m`` or ``40s``; empty for anything but a duration."""
    if not isinstance(seconds, int | float) or seconds < 0:
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def ascii_line(value: str) -> str:
    """Printable ASCII on one line: accents dropped, other characters as ``?``."""
    decomposed = unicodedata.normalize("NFKD", value)
    chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            chars.append(" ")
        elif " " <= ch <= "~":
            chars.append(ch)
        else:
            chars.append("?")
    return _SPACES.sub(" ", "".join(chars)).strip()


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3].rstrip() + "..."


def clean(line: str) -> str:
    """Text lines keep Unicode but lose control characters and the line and paragraph
    separators (U+2028, U+2029: line breaks to ``splitlines`` and mail clients) of a
    hostile banner."""
    return "".join(
        ch if ch == "\t" or unicodedata.category(ch) not in _NOT_IN_A_LINE else " " for ch in line
    ).rstrip()


_NOT_IN_A_LINE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
