"""What the local scheduler's tests share: a hand-moved clock, a listener that records
what the scheduler reports, and a target item on loopback.

Imported by the scheduler test modules as ``local.scheduler_helpers`` (tests/local is a
package, like tests/hostile); the ``store`` fixture is in this folder's conftest.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from smtpwatch.core.state import Alert
from smtpwatch.local.reports import CheckReport

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


class Clock:
    """Wall time for the scheduler and monotonic seconds (for a resolver), from one
    hand-moved instant, so "a minute later" needs no minute of waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - T0).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Listener:
    """Records the checks' reports and the scheduler's notices."""

    def __init__(self) -> None:
        self.reports: list[CheckReport] = []
        self.notices: list[str] = []
        self.lock = threading.Lock()

    def check_done(self, report: CheckReport) -> None:
        with self.lock:
            self.reports.append(report)

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def sink_failed(self, sink: str, alert: Alert, error: Exception) -> None:
        self.notices.append(f"sink {sink} failed")


def item(target_id: str, port: int, **extra: Any) -> dict[str, Any]:
    """A plain SMTP target on 127.0.0.1, every minute, no re-check delay."""
    return {
        "target_id": target_id,
        "host": "127.0.0.1",
        "port": port,
        "encryption": "none",
        "interval_s": 60,
        "recheck_delay_s": 0,
        "timeout_s": 10,
        **extra,
    }
