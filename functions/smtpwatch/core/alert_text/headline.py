"""An alert in one line: the subject (also SNS's), the SMS, and the failure line."""

from __future__ import annotations

from typing import Any

from smtpwatch.core.alert_text.locations import location_headline, tally, votes
from smtpwatch.core.alert_text.words import ascii_line, cert_days, clip, spoken_duration
from smtpwatch.core.state import Alert, AlertEvent

__all__ = ["MAX_SMS", "MAX_SUBJECT", "failure_line", "sms", "subject"]

MAX_SUBJECT = 99  # SNS: "less than 100 characters"
MAX_SMS = 140  # one SMS segment


def subject(alert: Alert) -> str:
    """One line, printable ASCII, at most ``MAX_SUBJECT`` characters."""
    return clip(ascii_line(f"[{alert.event.value.upper()}] {_headline(alert)}"), MAX_SUBJECT)


def sms(alert: Alert) -> str:
    """One short line for SMS."""
    return clip(ascii_line(f"smtpwatch {subject(alert)}"), MAX_SMS)


def failure_line(error: dict[str, Any]) -> str:
    """``starttls: 454 TLS not available`` — phase or class, SMTP code, message."""
    kind = str(error.get("kind") or "")
    phase = str(error.get("phase") or "")
    if not phase or kind.startswith(phase):
        head = kind or phase or "failed"
    else:
        head = f"{phase} {kind}" if kind else phase
    message = str(error.get("message") or "").strip()
    code = error.get("smtp_code")
    if code is not None and not message.startswith(str(code)):
        message = f"{code} {message}".strip()
    return f"{head}: {message}" if message else head


def _label(alert: Alert) -> str:
    target = alert.target
    host = str(target.get("host") or "")
    name = str(target.get("name") or "")
    port = target.get("port")
    if name and name != host:
        return name
    if not host:
        return name or alert.target_id
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _headline(alert: Alert) -> str:
    result = alert.result or {}
    error = result.get("error") or {}
    label = _label(alert)
    details = alert.details
    event = alert.event
    found = votes(result)
    # A verdict of several locations: how many failed, before what the first one saw.
    where = f"{tally(found)}: " if found else ""
    if event is AlertEvent.DOWN:
        return f"{label} {where}{failure_line(error)}"
    if event is AlertEvent.REMINDER:
        down_for = spoken_duration(details.get("down_for_s"))
        gap = f" {down_for}" if down_for else ""
        return f"{label} still down{gap}: {where}{failure_line(error)}"
    if event is AlertEvent.RECOVERED:
        if details.get("was") == "warning":
            return f"{label} warnings cleared"
        down_for = spoken_duration(details.get("down_for_s"))
        line = f"{label} is up again" + (f" after {down_for}" if down_for else "")
        if any(vote.failed for vote in found):
            line += f" ({tally(found)} still failing)"
        if alert.status == "warning":
            line += f", {_warning_summary(result)}"
        return line
    if event in (AlertEvent.LOCATION_DOWN, AlertEvent.LOCATION_UP):
        return location_headline(alert)
    if event is AlertEvent.WARNING:
        return f"{label} {_warning_summary(result)}"
    if event is AlertEvent.DEGRADED and alert.status == "ended":
        held = [str(h.get("target_id")) for h in details.get("held") or ()]
        return f"smtpwatch: monitor degraded episode over, held: {', '.join(held) or 'none'}"
    if event is AlertEvent.DEGRADED:
        failed, total = details.get("failed"), details.get("total")
        return f"smtpwatch: {failed} of {total} probes failed at once, likely a monitor fault"
    if event is AlertEvent.TEST:
        return "smtpwatch test alert: delivery works"
    if event is AlertEvent.SUMMARY:
        return f"smtpwatch: {details.get('count')} alerts undelivered for over 24 h, summarised"
    return label


def _warning_summary(result: dict[str, Any]) -> str:
    warnings = result.get("warnings") or []
    if not warnings:
        return "warning"
    first = warnings[0]
    kind = str(first.get("kind") or "warning")
    days = ((result.get("tls") or {}) or {}).get("days_left")
    if kind == "cert_expiring" and days is not None:
        line = f"{kind}: {cert_days(int(days))}"
    else:
        message = str(first.get("message") or "").strip()
        line = f"{kind}: {message}" if message else kind
    if len(warnings) > 1:
        line += f" (+{len(warnings) - 1} more)"
    return line
