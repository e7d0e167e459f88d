"""Times in the alert state: when a reminder is due, how long a problem lasted, and the
state as readers see it with the newest stored result."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.core.state import TargetState

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["reminder_due", "seconds_between", "with_latest_result"]


def reminder_due(target: Target, state: TargetState, now: datetime) -> bool:
    """A reminder of a told outage is due: ``remind_every_s`` since the last alert, and
    nothing pending."""
    every = int(target.remind_every_s or 0)
    if every <= 0 or state.pending_alert is not None or not state.last_alert_at:
        return False
    elapsed = seconds_between(state.last_alert_at, now)
    if elapsed is None:
        return True  # unreadable timestamp: better one reminder too many than none
    # Checks run on slots, alerts go out a little after (probe, re-check): without some
    # slack a reminder would slip a whole interval every time; with more than half an
    # interval of it, it would come one interval early.
    slack = min(60.0, every / 10, max(0, int(target.interval_s or 0)) / 2)
    return elapsed >= every - slack


def with_latest_result(state: TargetState, latest: ProbeResult | None) -> TargetState:
    """``state`` with ``last_result``/``last_checked_at`` taken from the newest stored
    result when that is newer: a healthy check writes at most its result item, so the
    state item's copies are those of the last check that changed something."""
    if latest is None:
        return state
    newest = _ts_or_none(latest.started_at)
    current = _ts_or_none(state.last_checked_at)
    if newest is None or (current is not None and newest <= current):
        return state
    return state.evolve(last_result=latest.to_dict(), last_checked_at=latest.started_at)


def seconds_between(start: str | None, end: datetime) -> int | None:
    """Whole seconds from the timestamp ``start`` to ``end``; None when unreadable."""
    begin = _ts_or_none(start)
    if begin is None:
        return None
    return int((parse_ts(format_ts(end)) - begin).total_seconds())


def _ts_or_none(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_ts(text)
    except ValueError:
        return None
