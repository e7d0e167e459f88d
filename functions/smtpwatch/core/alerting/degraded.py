"""Monitor-degraded alerts: when a window counts as degraded, the alert that begins an
episode, the one that ends it, and a down alert the episode held."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smtpwatch.core.alerting.build import (
    MONITOR_TARGET_ID,
    alert_id_for,
    target_summary,
    threshold,
)
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "DEGRADED_HELD_LIST_MAX",
    "DEGRADED_MAX_HOLD_S",
    "DEGRADED_MIN_COUNT",
    "DEGRADED_SHARE",
    "degraded",
    "degraded_alert",
    "degraded_end_alert",
    "held_down_alert",
]

# Monitor degraded: more than this share of the distinct targets checked in one window
# (a tick, a minute) failed...
DEGRADED_SHARE = 0.5
# ...and at least this many targets, so that a few real outages among few targets are
# outages, not a fault of the monitor.
DEGRADED_MIN_COUNT = 5
# A down alert held by a monitor-degraded episode goes out after this long at the latest
# (marked held), even while the episode lasts: a long "monitor fault" may be real outages.
DEGRADED_MAX_HOLD_S = 900
# The end-of-episode alert lists at most this many held targets (and says how many).
DEGRADED_HELD_LIST_MAX = 50


def degraded(
    failed: int, total: int, *, share: float = DEGRADED_SHARE, min_count: int = DEGRADED_MIN_COUNT
) -> bool:
    """Monitor degraded: more than ``share`` of the ``total`` distinct targets checked in
    a window failed, and at least ``min_count`` of them. Then one ``degraded`` alert
    replaces the flood of down alerts (the fault is likely on the monitor's side: its
    network, DNS, a NAT)."""
    return total > 0 and failed >= max(1, min_count) and failed > share * total


def degraded_alert(
    *,
    tick: str,
    failed: int,
    total: int,
    now: datetime,
    sample: Sequence[str] = (),
    kinds: Mapping[str, int] | None = None,
) -> Alert:
    """The one alert that begins a monitor-degraded episode (``tick``: its window);
    ``failed``/``total`` count distinct targets."""
    return _monitor_alert(
        alert_id_for(MONITOR_TARGET_ID, AlertEvent.DEGRADED, tick),
        "degraded",
        now,
        since=tick,
        details={
            "failed": failed,
            "total": total,
            "sample": list(sample)[:10],
            "kinds": dict(kinds or {}),
            "counted": "targets",
        },
    )


def degraded_end_alert(*, since: str, now: datetime, held: Sequence[Mapping[str, Any]]) -> Alert:
    """The end of a monitor-degraded episode that began with the window ``since``:
    ``held`` lists the targets whose down alert it held (``target_id``, ``name``,
    ``held_since``, ``still_down``: its held down alert follows; ``announced``: it
    already went out after the maximum hold). The start alert cannot know them yet."""
    listed = [dict(h) for h in held[:DEGRADED_HELD_LIST_MAX]]
    return _monitor_alert(
        alert_id_for(MONITOR_TARGET_ID, AlertEvent.DEGRADED, f"end\x00{since}"),
        "ended",
        now,
        since=since,
        details={
            "episode": "ended",
            "ended_at": format_ts(now),
            "held_count": len(held),
            "held": listed,
            "still_down": sum(1 for h in held if h.get("still_down")),
        },
    )


def held_down_alert(
    target: Target,
    state: TargetState,
    *,
    now: datetime,
    episode_since: str,
    held_since: str,
) -> Alert:
    """The down alert a monitor-degraded episode held, for a target still down and never
    announced: sent at the episode's end or after ``DEGRADED_MAX_HOLD_S``. Its id is the
    one the held check would have used, so a receiver's dedupe sees one alert."""
    return Alert(
        alert_id=alert_id_for(
            target.target_id, AlertEvent.DOWN, state.last_scheduled_at or held_since
        ),
        event=AlertEvent.DOWN,
        target_id=target.target_id,
        status=TargetStatus.DOWN.value,
        created_at=format_ts(now),
        target=target_summary(target),
        result=state.last_result,
        since=state.last_change_at,
        details={
            "failures": state.consecutive_failures,
            "threshold": threshold(target),
            "held": True,
            "held_by": "monitor_degraded",
            "episode_since": episode_since,
            "held_since": held_since,
        },
    )


def _monitor_alert(
    alert_id: str, status: str, now: datetime, *, since: str, details: dict[str, Any]
) -> Alert:
    return Alert(
        alert_id=alert_id,
        event=AlertEvent.DEGRADED,
        target_id=MONITOR_TARGET_ID,
        status=status,
        created_at=format_ts(now),
        target={"target_id": MONITOR_TARGET_ID, "name": "smtpwatch monitor", "tags": {}},
        result=None,
        since=since,
        details=details,
    )
