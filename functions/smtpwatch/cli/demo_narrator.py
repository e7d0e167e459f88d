"""The demo's narrator: timestamped story lines (coloured on a terminal), and the
scheduler's listener and an alert sink, so the story can wait for what happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from smtpwatch.cli.output import error_text, format_ms
from smtpwatch.core.safe_text import guard
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.reports import CheckReport

__all__ = ["Narrator"]


class Narrator:
    """Timestamped story lines; also the scheduler's listener and an alert sink."""

    def __init__(self, stream: TextIO, *, color: bool) -> None:
        self.stream = stream
        # Names and server text are printed through the terminal guard; colours are
        # asked of it apart from the text (core.safe_text).
        self.out = guard(stream)
        self.color = color
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.alerts: list[Alert] = []
        self.results: dict[str, list[str]] = {}
        self._changed = threading.Condition(self.lock)
        self.failure = ""  # why the demo failed, when it did
        self.final_rows: list[dict[str, Any]] = []  # `status` at the end

    def say(self, text: str = "", *, style: str = "") -> None:
        with self.lock:
            if text:
                self.out.write(f"[{time.monotonic() - self.started:5.1f}s] ")
            if style and self.color:
                self.out.write_style(style)
                self.out.write(text)
                self.out.write_style("0")
            else:
                self.out.write(text)
            self.out.write("\n")
            self.out.flush()

    def heading(self, text: str) -> None:
        self.say()
        self.say(text, style="1")

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # scheduler listener ------------------------------------------------------------

    def check_done(self, report: CheckReport) -> None:
        result = report.result
        if result is None:
            if report.error:
                self.say(f"check {report.target.target_id}: failed: {report.error}", style="31")
            return
        if report.outcome is not None and report.outcome.skipped:
            return
        name = report.target.target_id
        if result.error is not None:
            detail = error_text(result.error)
            style = "31"
        else:
            facts = [format_ms(result.total_ms)]
            if result.tls is not None and result.tls.version:
                facts.append(f"{result.tls.version}, certificate verified")
            if result.auth is not None and result.auth.mechanism:
                facts.append(f"AUTH {result.auth.mechanism}")
            detail = ", ".join(facts)
            style = "32"
        recheck = " (after a re-check)" if report.outcome and report.outcome.rechecked else ""
        self.say(
            f"check {name:<12} {result.status.value.upper():<8} {detail}{recheck}", style=style
        )
        with self._changed:
            self.results.setdefault(name, []).append(result.status.value)
            self._changed.notify_all()

    def notice(self, text: str) -> None:
        self.say(text)

    def sink_failed(self, sink: str, alert: Alert, error: Exception) -> None:
        self.say(f"alert not delivered to {sink}: {error}", style="31")

    # alert sink (after the console sink has printed the alert) ---------------------

    def send(self, alert: Alert) -> None:
        with self._changed:
            self.alerts.append(alert)
            self._changed.notify_all()

    def saw(self, event: AlertEvent, target_id: str) -> bool:
        return any(a.event is event and a.target_id == target_id for a in self.alerts)
