"""What the HTML pages of `smtpwatch serve` show, as plain values.

``page_data`` reads these from the SQLite store; ``pages`` draws them. Neither knows
how the other works: the pages can be tested with values made by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpwatch.core.locations import LocationVote
from smtpwatch.local.target_views import TargetView

__all__ = [
    "BAR_CHECKS",
    "LIST_ROWS",
    "MAX_WARNINGS_SHOWN",
    "WINDOWS",
    "AlertRow",
    "CheckCell",
    "LastError",
    "OverviewRow",
    "PhasePoint",
    "TargetPage",
    "Uptime",
]

# The time windows a page can show, by the name in ``?window=``; the first is the default.
WINDOWS: dict[str, int] = {"24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
BAR_CHECKS = 90  # cells in a target's bar of recent checks
LIST_ROWS = 20  # rows in a target's lists of recent failures and alerts
MAX_WARNINGS_SHOWN = 5  # warnings a row names (a probe makes at most one of each kind)


@dataclass(frozen=True, slots=True)
class Uptime:
    """Passed checks (ok or warning) of the checks that measured something (unknown ones
    left out), as a fraction 0..1 per window; None when a window holds no such check."""

    day: float | None
    week: float | None
    month: float | None


@dataclass(frozen=True, slots=True)
class LastError:
    """The error of the newest failed check (server text already made one line)."""

    phase: str | None
    kind: str
    message: str
    at: str | None  # started_at of that check


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """One line of the overview."""

    view: TargetView
    uptime: Uptime
    cert_days_left: int | None  # whole days until the served certificate's notAfter
    last_error: LastError | None  # None when the newest measured check passed
    last_check: str | None  # started_at of the newest check, any status
    # (kind, message) of the newest measured check's warnings, messages made one line
    warnings: tuple[tuple[str, str], ...] = ()
    # the newest measured check's locations, when it was a verdict of several
    votes: tuple[LocationVote, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckCell:
    """One stored check as the bar and the failure list show it."""

    started_at: str
    status: str  # ok | warning | critical | unknown
    error: str  # "" or one line: "<phase>: <kind>: <message>"
    location: str = ""  # where the check ran ("" for results that predate locations)
    votes: tuple[LocationVote, ...] = ()  # a verdict of several locations: each one's vote


@dataclass(frozen=True, slots=True)
class PhasePoint:
    """Per-phase response times at one moment (or averaged over one bucket of time)."""

    at: float  # Unix time
    ms: dict[str, float]  # phase name -> milliseconds


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert as the store's outbox keeps it."""

    at: str  # when the alert was raised
    event: str  # down | recovered | warning | ...
    channel: str  # the channel as shown (a webhook's URL without its token)
    state: str  # delivered | pending | failed ...
    detail: str  # one line: the subject, or the last delivery error


@dataclass(frozen=True, slots=True)
class TargetPage:
    """Everything a target's own page shows."""

    row: OverviewRow
    window: str  # a key of WINDOWS
    checks: list[CheckCell]  # the newest BAR_CHECKS checks, oldest first
    phase_points: list[PhasePoint]  # over the window, oldest first
    cert: dict[str, str] = field(default_factory=dict)  # label -> value, in display order
    failures: list[CheckCell] = field(default_factory=list)  # newest first, ≤ LIST_ROWS
    alerts: list[AlertRow] = field(default_factory=list)  # newest first, ≤ LIST_ROWS
    # the checks of the bar that passed although some locations failed, newest first
    partials: list[CheckCell] = field(default_factory=list)
