"""Maintenance windows: when a target's alerts are held (it is still probed).

One-off ``{"start": ..., "end": ...}`` in UTC, or weekly ``{"days": ["sat", "sun"],
"start": "22:00", "end": "02:00", "tz": "Europe/Berlin"}`` in wall-clock time (``days``
name the day a window starts; an end at or before the start crosses midnight; "24:00"
ends at midnight). Every comparison is made in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.schedule import as_utc, parse_ts

# zoneinfo (~5 ms with sysconfig, bench/import_cost.py) is imported only where a weekly
# window needs a time zone: `smtpwatch probe` never does.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from zoneinfo import ZoneInfo

    from smtpwatch.core.target import Target

__all__ = [
    "MAX_WINDOWS",
    "MaintenanceWindow",
    "OneOffWindow",
    "WeeklyWindow",
    "active_windows",
    "in_maintenance",
    "parse_maintenance",
    "parse_window",
    "window_end",
]

FIELD = "maintenance"
MAX_WINDOWS = 20
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{name: i for i, name in enumerate(DAY_NAMES)},
    **{
        full: i
        for i, full in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
_HHMM = re.compile(r"^([01]?[0-9]|2[0-4]):([0-5][0-9])\Z")
_TZ_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*\Z")
_MINUTES_PER_DAY = 24 * 60
# One-off windows lie between these (UTC): far enough from datetime's own limits that
# no arithmetic on a window (a week ahead, a day back) can overflow.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OneOffWindow:
    """``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def span_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        return (self.start, self.end) if self.start <= now < self.end else None

    def to_item(self) -> dict[str, Any]:
        return {"start": _format_utc(self.start), "end": _format_utc(self.end)}


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Every ``days`` (0 = Monday) from ``start_minute`` to ``end_minute`` local time in
    ``tz``; ``end_minute <= start_minute`` crosses midnight, 1440 is "24:00"."""

    days: tuple[int, ...]
    start_minute: int
    end_minute: int
    tz: str = "UTC"

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def span_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence ``[start, end)`` (UTC) that contains ``now``, if any."""
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(self.tz)
        local_day = now.astimezone(zone).date()
        # An occurrence that started yesterday may still be running (midnight crossing).
        for day in (local_day - timedelta(days=1), local_day):
            if day.weekday() not in self.days:
                continue
            start = _local_to_utc(day, self.start_minute, zone)
            end_day = day + timedelta(days=1) if self.crosses_midnight else day
            end = _local_to_utc(end_day, self.end_minute, zone)
            if start <= now < end:
                return start, end
        return None

    def to_item(self) -> dict[str, Any]:
        return {
            "days": [DAY_NAMES[d] for d in self.days],
            "start": _format_minute(self.start_minute),
            "end": _format_minute(self.end_minute),
            "tz": self.tz,
        }


MaintenanceWindow = OneOffWindow | WeeklyWindow


def in_maintenance(target: Target, now: datetime) -> bool:
    """True when ``now`` lies in one of the target's maintenance windows."""
    return bool(active_windows(target.maintenance, now))


def window_end(target: Target, now: datetime) -> datetime | None:
    """When the maintenance covering ``now`` ends (UTC), following windows that overlap
    or touch; None when not in maintenance."""
    end: datetime | None = None
    at = as_utc(now)
    # Bounded: a chain of touching weekly windows could otherwise run forever.
    for _ in range(2 * MAX_WINDOWS + 14):
        spans = active_windows(target.maintenance, at)
        if not spans:
            break
        end = max(e for _, e in spans)
        at = end
    return end


def active_windows(
    windows: tuple[MaintenanceWindow, ...], now: datetime
) -> list[tuple[datetime, datetime]]:
    at = as_utc(now)
    spans = []
    for window in windows:
        span = window.span_at(at)
        if span is not None:
            spans.append(span)
    return spans


# ---- parsing -------------------------------------------------------------------------


def parse_maintenance(value: object) -> tuple[MaintenanceWindow, ...]:
    """The ``maintenance`` attribute: a list of window mappings (or parsed windows)."""
    if value is None or value == "":
        return ()
    if isinstance(value, Mapping | OneOffWindow | WeeklyWindow):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(
            FIELD, "must be a list of windows ({start, end} or {days, start, end, tz})"
        )
    if len(value) > MAX_WINDOWS:
        raise ConfigError(FIELD, f"at most {MAX_WINDOWS} windows")
    return tuple(parse_window(w, index=i + 1) for i, w in enumerate(value))


def parse_window(value: object, *, index: int = 1) -> MaintenanceWindow:
    if isinstance(value, OneOffWindow | WeeklyWindow):
        return value
    where = f"window {index}"
    if not isinstance(value, Mapping):
        raise ConfigError(
            FIELD, f"{where}: must be {{start, end}} (UTC) or {{days, start, end, tz}} (weekly)"
        )
    keys = set(value)
    for key in keys:
        if not isinstance(key, str) or key not in ("start", "end", "days", "tz"):
            raise ConfigError(
                FIELD, f"{where}: unknown key {str(key)[:40]!r} (allowed: start, end, days, tz)"
            )
    start, end = value.get("start"), value.get("end")
    if start is None or start == "" or end is None or end == "":
        raise ConfigError(FIELD, f"{where}: needs both start and end")
    weekly = (
        "days" in keys
        or "tz" in keys
        or (isinstance(start, str) and _HHMM.match(start.strip()) is not None)
    )
    if weekly:
        return _parse_weekly(value, where)
    start_dt = _parse_utc(start, f"{where}: start")
    end_dt = _parse_utc(end, f"{where}: end")
    if end_dt <= start_dt:
        raise ConfigError(FIELD, f"{where}: end must be after start")
    return OneOffWindow(start_dt, end_dt)


def _parse_weekly(value: Mapping[Any, Any], where: str) -> WeeklyWindow:
    start = _parse_minute(value.get("start"), f"{where}: start", allow_24=False)
    end = _parse_minute(value.get("end"), f"{where}: end", allow_24=True)
    if start == end:
        raise ConfigError(FIELD, f"{where}: start and end are equal (an empty window)")
    tz = _parse_tz(value.get("tz"), where)
    days = _parse_days(value.get("days"), where)
    return WeeklyWindow(days, start, end, tz)


def _parse_days(value: object, where: str) -> tuple[int, ...]:
    if value is None or value == "" or value == [] or value == ():
        return tuple(range(7))
    items: list[object]
    if isinstance(value, str):
        items = [p for p in re.split(r"[\s,]+", value) if p]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        raise ConfigError(FIELD, f"{where}: days must be a list such as ['mon', 'fri']")
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(FIELD, f"{where}: days must be names mon..sun")
        text = item.strip().lower()
        if "-" in text:  # a range such as mon-fri, wrapping allowed (fri-mon)
            first, _, last = text.partition("-")
            if first not in _DAY_ALIASES or last not in _DAY_ALIASES:
                raise ConfigError(FIELD, f"{where}: {item[:20]!r} is not a day range like mon-fri")
            a, b = _DAY_ALIASES[first], _DAY_ALIASES[last]
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
            continue
        if text not in _DAY_ALIASES:
            raise ConfigError(FIELD, f"{where}: {item[:20]!r} is not a day (mon, tue, ... sun)")
        days.add(_DAY_ALIASES[text])
    return tuple(sorted(days))


def _parse_minute(value: object, where: str, *, allow_24: bool) -> int:
    if not isinstance(value, str) or not (m := _HHMM.match(value.strip())):
        raise ConfigError(FIELD, f"{where} must be a time 'HH:MM'")
    hours, minutes = int(m.group(1)), int(m.group(2))
    total = hours * 60 + minutes
    if total > _MINUTES_PER_DAY or (total == _MINUTES_PER_DAY and not allow_24):
        raise ConfigError(FIELD, f"{where} must be a time 'HH:MM' between 00:00 and 23:59")
    return total


def _parse_tz(value: object, where: str) -> str:
    if value is None or value == "":
        return "UTC"
    if not isinstance(value, str) or not _TZ_KEY.match(value.strip()) or len(value) > 64:
        raise ConfigError(FIELD, f"{where}: tz must be an IANA time zone such as 'Europe/Berlin'")
    key = value.strip()
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        raise ConfigError(
            FIELD, f"{where}: unknown time zone {key!r} (use an IANA name such as 'Europe/Berlin')"
        ) from None
    return key


def _parse_utc(value: object, where: str) -> datetime:
    example = "an ISO-8601 UTC time like 2026-11-25T22:00:00Z"
    try:
        if isinstance(value, datetime):
            moment = as_utc(value)  # a YAML timestamp
        elif isinstance(value, str) and len(value) <= 64:
            moment = parse_ts(value.strip())  # a time without offset is UTC, as documented
        else:
            raise ConfigError(FIELD, f"{where} must be {example}")
    except ValueError:
        raise ConfigError(FIELD, f"{where}: {_quoted(value)} is not {example}") from None
    except OverflowError:  # 9999-12-31T23:00:00-12:00 is past the last datetime in UTC
        raise ConfigError(FIELD, f"{where}: {_quoted(value)} is out of range") from None
    if not _EARLIEST <= moment < _LATEST:
        raise ConfigError(
            FIELD,
            f"{where}: {_quoted(value)} is out of range (years {_EARLIEST.year} to "
            f"{_LATEST.year - 1})",
        )
    return moment


def _quoted(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return repr(text.strip()[:40])


def _local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute == _MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    # fold=0: a nonexistent time (spring forward) takes the offset before the change, an
    # ambiguous one (fall back) its first occurrence.
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _format_utc(moment: datetime) -> str:
    # isoformat, not strftime: strftime("%Y") does not zero-pad years before 1000.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
