"""Values of the commands' options: durations, ``--since`` times and bounded numbers.

Each refuses what it cannot take with one line naming the option (a ``UsageError``, or
argparse's own error for a ``type=``).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from smtpwatch.cli.main import UsageError
from smtpwatch.core.schedule import parse_ts, utc_now

__all__ = ["MAX_SINCE_DAYS", "bounded_number", "parse_duration", "parse_since"]

# A duration: at most 12 digits (and 6 decimals) before the unit, so that float() and
# timedelta() never see a number they cannot hold; the caller sets the longest allowed.
_DURATION = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,6})?)\s*(s|sec|m|min|h|d|w)\s*\Z", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SINCE_DAYS = 3650  # history looks back at most ten years
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far from datetime's end: no overflow ahead


def parse_duration(text: str, *, option: str, max_days: float) -> float | None:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` as seconds; None when ``text`` is not
    written as a duration. Longer than ``max_days`` is a ``UsageError`` naming ``option``."""
    m = _DURATION.match(text)
    if not m:
        return None
    seconds = float(m.group(1)) * _UNIT_S[m.group(2).lower()]
    if seconds > max_days * 86400:
        raise UsageError(f"{option}: {text.strip()!r} is longer than {max_days:g} days")
    return seconds


def parse_since(text: str, *, now: datetime | None = None, option: str = "--since") -> datetime:
    """``24h``, ``30m``, ``7d``, ``2w``, ``90s`` ago (at most ``MAX_SINCE_DAYS``), or an
    ISO-8601 time/date in the years 1970 to 8999."""
    now = now or utc_now()
    seconds = parse_duration(text, option=option, max_days=MAX_SINCE_DAYS)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    try:
        moment = parse_ts(text)
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option}: {text[:40]!r} is neither a duration (30m, 24h, 7d) nor an ISO-8601 time"
        ) from None
    if not _EPOCH <= moment < _LATEST:
        raise UsageError(f"{option}: {text[:40]!r} is out of range (years 1970 to 8999)")
    return moment


def bounded_number(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type=``: a finite number in ``[low, high]`` (``(low, high]`` with
    ``low_open``). NaN, infinities and 1e308 never reach the code that would sleep or
    compute a date with them."""
    allowed = f"more than {low:g} up to {high:g}" if low_open else f"{low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number ({allowed})") from None
        in_range = (low < value if low_open else low <= value) and value <= high
        if not (math.isfinite(value) and in_range):
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is out of range ({allowed})")
        return value

    return parse
