"""What `smtpwatch run` prints: one line per check, notice and summary, as text or as
JSON lines (``--json``), from the scheduler's worker threads without mixing them.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from smtpwatch.cli.output import error_text, format_ms
from smtpwatch.core.parsing import format_host_port
from smtpwatch.core.safe_text import for_terminal

if TYPE_CHECKING:
    from smtpwatch.core.state import Alert
    from smtpwatch.local.reports import CheckReport

__all__ = ["Console"]


class Console:
    """Everything `run` prints, one lock so lines from worker threads never mix."""

    def __init__(self, *, json_lines: bool, quiet: bool, stream: TextIO | None = None) -> None:
        self.json = json_lines
        self.quiet = quiet
        self.lock = threading.Lock()
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def line(self, text: str, **doc: Any) -> None:
        with self.lock:
            if self.json:
                self.stream.write(json.dumps(doc, ensure_ascii=False) + "\n")
            else:
                # One line per event, whatever a stored id or a server put in it.
                self.stream.write(for_terminal(text, one_line=True) + "\n")
            self.stream.flush()

    # Listener ----------------------------------------------------------------------

    def check_done(self, report: CheckReport) -> None:
        outcome = report.outcome
        if outcome is not None and outcome.skipped:
            return
        if self.quiet and report.error is None:
            return
        result = report.result
        if result is None:
            self.line(
                f"{_clock()}  ERROR     {report.target.target_id}: check failed: {report.error}",
                type="check",
                target_id=report.target.target_id,
                scheduled_at=report.scheduled_at,
                error=report.error,
            )
            return
        t = report.target
        detail = format_ms(result.total_ms)
        if result.error is not None:
            detail = error_text(result.error)
        elif result.warnings:
            detail += "  " + "; ".join(f"{w.kind.value}: {w.message}" for w in result.warnings)
        if outcome is not None and outcome.rechecked:
            detail += " (re-checked)"
        self.line(
            f"{_clock()}  {result.status.value.upper():<9} {t.target_id:<16} "
            f"{format_host_port(t.host, t.effective_port):<28} {detail}",
            type="check",
            target_id=t.target_id,
            scheduled_at=report.scheduled_at,
            rechecked=bool(outcome and outcome.rechecked),
            state=outcome.state.status.value if outcome else None,
            result=result.to_dict(),
        )

    def notice(self, text: str) -> None:
        self.line(f"{_clock()}  {text}", type="notice", message=text)

    def sink_failed(self, sink: str, alert: Alert, error: Exception) -> None:
        text = f"alert {alert.event.value} for {alert.target_id} NOT delivered to {sink}: {error}"
        with self.lock:
            print(f"smtpwatch run: {text} (kept pending; sent again next run)", file=sys.stderr)


def _clock() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%H:%M:%SZ")
