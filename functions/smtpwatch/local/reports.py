"""What the local scheduler reports: one check (``CheckReport``), one ``run --once``
sweep (``SweepSummary``), and the ``Listener`` it tells (the `run` command prints it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from smtpwatch.core.kinds import Status
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink
from smtpwatch.service.check import CheckOutcome

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["CheckReport", "Listener", "NamedSink", "QuietListener", "SweepSummary"]

log = logging.getLogger("smtpwatch.scheduler")


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What one check did, for the console (``outcome`` None: the check itself failed)."""

    target: Target
    scheduled_at: str
    outcome: CheckOutcome | None
    error: str | None = None

    @property
    def result(self) -> ProbeResult | None:
        return None if self.outcome is None else self.outcome.result


@dataclass
class SweepSummary:
    """One ``sweep()``: every enabled target checked once."""

    scheduled_at: str
    reports: list[CheckReport] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    abandoned: int = 0
    degraded_alert: Alert | None = None

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for report in self.reports:
            result = report.result
            if result is not None:
                counts[result.status.value] += 1
            elif report.error is not None:
                counts[Status.UNKNOWN.value] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """Monitoring-plugin code of the worst result; 3 if the sweep did not finish."""
        if self.interrupted:
            return Status.UNKNOWN.exit_code
        worst = 0
        for report in self.reports:
            if report.result is not None:
                worst = max(worst, report.result.status.exit_code)
            elif report.error is not None:
                worst = max(worst, Status.UNKNOWN.exit_code)
        return worst


class Listener(Protocol):
    """What the scheduler tells its user (the `run` command prints it)."""

    def check_done(self, report: CheckReport) -> None: ...

    def notice(self, text: str) -> None: ...

    def sink_failed(self, sink: str, alert: Alert, error: Exception) -> None: ...


class QuietListener:
    """Logs what a scheduler without a listener would have said."""

    def check_done(self, report: CheckReport) -> None:
        pass

    def notice(self, text: str) -> None:
        log.info("%s", text)

    def sink_failed(self, sink: str, alert: Alert, error: Exception) -> None:
        log.warning("alert %s not delivered to %s: %s", alert.alert_id, sink, error)


class NamedSink:
    """Reports a failed delivery with its reason, then re-raises (the check keeps the
    alert pending)."""

    def __init__(self, name: str, sink: AlertSink, listener: Listener) -> None:
        self.name = name
        self._sink = sink
        self._listener = listener

    def send(self, alert: Alert) -> None:
        try:
            self._sink.send(alert)
        except Exception as exc:
            self._listener.sink_failed(self.name, alert, exc)
            raise
