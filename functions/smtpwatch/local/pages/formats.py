"""How the pages write numbers and times: uptime, days, milliseconds, timestamps."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache

from smtpwatch.core.safe_text import for_html
from smtpwatch.core.schedule import parse_ts

__all__ = [
    "NONE",
    "age",
    "days",
    "html_text",
    "moment",
    "ms_label",
    "percent",
    "stamp",
]

NONE = "\u2013"  # an en dash, shown where there is nothing to show


@lru_cache(maxsize=4096)
def html_text(text: str) -> str:
    """``for_html``, remembered: a page of many targets repeats hosts, tags and kinds."""
    return for_html(text)


def percent(fraction: float | None) -> str:
    """0.99651 -> "99.65 %", rounded to hundredths, except that only all passed shows
    "100.00 %" and only none passed shows "0.00 %" (0.99999 is "99.99 %")."""
    if fraction is None or not math.isfinite(fraction):
        return NONE
    fraction = max(0.0, min(1.0, fraction))
    hundredths = round(fraction * 10_000)
    if fraction < 1:
        hundredths = min(hundredths, 9_999)
    if fraction > 0:
        hundredths = max(hundredths, 1)
    return f"{hundredths / 100:.2f} %"


def days(count: int | None) -> str:
    """A certificate's days left as HTML: "41 d", or "expired" (its days on hover)."""
    if count is None:
        return NONE
    if count < 0:
        return f'<span class="cert-expired" title="{count} d">expired</span>'
    return f"{count} d"


def ms_label(ms: float) -> str:
    """An axis label: "250 ms", "1.5 s"."""
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


def stamp(moment_: datetime) -> str:
    """A moment as the pages write it: "2026-12-07 21:40:05 UTC"."""
    return _iso(moment_)[:19] + " UTC"


def _iso(moment_: datetime) -> str:
    # isoformat is C and several times faster than strftime: the overview writes two
    # moments per row.
    return moment_.astimezone(UTC).isoformat(sep=" ")


def age(seconds: float) -> str:
    """A duration a person reads at a glance: "40 s", "5 min", "3 h", "12 d"."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def moment(text: str | None, now: datetime) -> str:
    """A stored timestamp as HTML: ``<time>`` with the moment and how long ago it was;
    a text that is no timestamp is shown as it is (escaped)."""
    if not text:
        return NONE
    try:
        when = parse_ts(text)
    except (ValueError, OverflowError):
        return for_html(text)
    ago = (now - when).total_seconds()
    relative = f"{age(ago)} ago" if ago >= 0 else f"in {age(-ago)}"
    iso = _iso(when)
    return (
        f'<time datetime="{html_text(text)}" title="{iso[:19]} UTC">'
        f'<span class="date">{iso[:10]}</span> <span class="clock">{iso[11:16]} UTC</span>'
        f'</time> <span class="ago">({relative})</span>'
    )
