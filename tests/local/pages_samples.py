"""Page values made by hand, as the store would give them, for the pages' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from smtpwatch.local.page_model import (
    AlertRow,
    CheckCell,
    LastError,
    OverviewRow,
    PhasePoint,
    TargetPage,
    Uptime,
)
from smtpwatch.local.target_views import TargetView

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
XSS = "<script>alert(1)</script>"


def ts(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def view(target_id: str, state: str = "up", **kw: Any) -> TargetView:
    fields: dict[str, Any] = {
        "target_id": target_id,
        "host": "mx.example.net",
        "port": "25",
        "location": "lab-1",
        "tags": {},
        "state": state,
        "since": ts(90),
        "latest": None,
        "measured": None,
    }
    return TargetView(**(fields | kw))


def row(
    target_id: str, state: str = "up", error: LastError | None = None, **kw: Any
) -> OverviewRow:
    return OverviewRow(
        view=view(target_id, state, **kw),
        uptime=Uptime(0.99651, 0.5, None),
        cert_days_left=41,
        last_error=error,
        last_check=ts(2),
    )


REFUSED = LastError("connect", "connect_refused", "[Errno 111] Connection refused", ts(2))


def target_page(
    checks: list[CheckCell] | None = None,
    points: list[PhasePoint] | None = None,
    **kw: Any,
) -> TargetPage:
    made: dict[str, Any] = {
        "row": row("mx1", "down", REFUSED, tags={"env": "prod"}),
        "window": "24h",
        "checks": checks
        if checks is not None
        else checks_of("ok", "critical", "warning", "unknown"),
        "phase_points": points if points is not None else points_every(60, 5),
        "cert": {"Subject": "CN=mx.example.net", "Expires": "2027-01-17"},
        "failures": [CheckCell(ts(2), "critical", "connect: connect_refused: refused")],
        "alerts": [AlertRow(ts(2), "down", "https://hooks.example.net/x", "delivered", "DOWN")],
    }
    return TargetPage(**(made | kw))


def checks_of(*statuses: str) -> list[CheckCell]:
    """One check per status, five minutes apart, oldest first; failures carry an error."""
    n = len(statuses)
    return [
        CheckCell(
            ts(5 * (n - i)),
            status,
            "" if status in ("ok", "unknown") else f"banner: timeout: no banner {i}",
        )
        for i, status in enumerate(statuses)
    ]


def points_every(
    minutes: int, count: int, phases: tuple[str, ...] = ("connect", "tls")
) -> list[PhasePoint]:
    """``count`` measurements ``minutes`` apart ending now, each timing ``phases``."""
    end = NOW.timestamp()
    return [
        PhasePoint(
            end - (count - 1 - i) * minutes * 60,
            {p: 10.0 * (j + 1) + i for j, p in enumerate(phases)},
        )
        for i in range(count)
    ]
