"""What an alert says (docs/design.md#alerts): subject, readable text, JSON document, SNS message.

Pure formatting of an ``Alert``; the sinks (console, webhook, SNS) only deliver. Alerts
hold the target's public facts and a ``ProbeResult.to_dict()``, never a secret, so
nothing here can leak one.

- ``subject``: at most 99 printable ASCII characters, one line (SNS refuses control
  characters and line breaks and wants fewer than 100 characters),
  e.g. ``[DOWN] smtp.example.com:587 starttls: 454 TLS not available``.
- ``text``: several lines for email/console: what failed, in which phase, the SMTP
  code, since when, phase timings, certificate, next steps.
- ``sms``: one short line.
- ``document``: ``{schema_version, event, alert_id, target, status, result, …}`` for
  machines (SQS, Lambda, HTTPS, webhooks).
- ``sns_message``: ready-to-publish ``Publish`` keyword arguments with
  ``MessageStructure=json`` and message attributes ``event``, ``status``,
  ``target_id`` and the tags (for subscription filter policies).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from smtpwatch.core.result import PHASES, expiry_phrase
from smtpwatch.core.state import Alert, AlertEvent

__all__ = [
    "ALERT_SCHEMA_VERSION",
    "MAX_SMS",
    "MAX_SUBJECT",
    "document",
    "failure_line",
    "message_attributes",
    "sms",
    "sns_message",
    "subject",
    "text",
]

ALERT_SCHEMA_VERSION = 1
MAX_SUBJECT = 99  # SNS: "less than 100 characters"
MAX_SMS = 140  # one SMS segment
# SNS allows 10 message attributes: event, status, target_id and up to 7 tags.
_MAX_ATTRIBUTES = 10
_RESERVED_ATTRIBUTES = ("event", "status", "target_id")
_ATTR_NAME_BAD = re.compile(r"[^A-Za-z0-9_.\-]")
_SPACES = re.compile(r"\s+")

# What an operator should look at first, per failure class.
_NEXT_STEPS: dict[str, str] = {
    "config": "Fix the target's settings (smtpwatch targets show) or its password reference.",
    "dns": "Check the host's DNS records and the resolver (dns_mode, nameservers).",
    "connect_refused": "Is the SMTP service running and listening on this port?",
    "connect_timeout": "Check firewalls and routing to the port (on AWS: port 25 needs a VPC"
    " with NAT and AWS's approval).",
    "unreachable": "No route to the address: check the network path and the IP family.",
    "banner": "The server did not greet with 220: check the MTA's logs and load.",
    "ehlo": "The server rejected EHLO: check its HELO/EHLO policy for the ehlo_name.",
    "starttls_unsupported": "STARTTLS is not advertised: check the MTA's TLS configuration.",
    "starttls": "STARTTLS was refused: check the MTA's TLS keys and configuration.",
    "tls_handshake": "The TLS handshake failed: check protocols, ciphers and the certificate.",
    "cert_expired": "Renew the certificate and reload the MTA.",
    "cert_hostname": "The certificate does not name this host: fix the certificate or host.",
    "cert_untrusted": "The certificate chain is not trusted: install the intermediate"
    " certificates, or set ca_bundle / tls_verify for a private CA.",
    "auth_unsupported": "No usable AUTH method: check auth_methods and the server's AUTH"
    " settings (credentials are never sent without TLS).",
    "auth_failed": "The login was rejected: check the username and the stored password.",
    "protocol": "The server sent a malformed reply: check the MTA and anything in between.",
    "timeout": "The server did not answer in time: check its load and the network.",
}


# ---- public --------------------------------------------------------------------------


def subject(alert: Alert) -> str:
    """One line, printable ASCII, at most ``MAX_SUBJECT`` characters."""
    return _clip(_ascii_line(f"[{alert.event.value.upper()}] {_headline(alert)}"), MAX_SUBJECT)


def sms(alert: Alert) -> str:
    """One short line for SMS."""
    return _clip(_ascii_line(f"smtpwatch {subject(alert)}"), MAX_SMS)


def text(alert: Alert) -> str:
    """Readable multi-line text for email and the console."""
    result = alert.result or {}
    error = result.get("error") or {}
    lines = [subject(alert), ""]
    lines += _what_happened(alert, error)
    lines += _facts(alert, result)
    step = _NEXT_STEPS.get(str(error.get("kind") or ""))
    if alert.event in (AlertEvent.DOWN, AlertEvent.REMINDER) and step:
        lines += ["", f"Next step: {step}"]
    if alert.event is AlertEvent.DEGRADED and alert.status != "ended":
        lines += [
            "",
            "Next step: check the monitor's own network, DNS and NAT; down alerts are held"
            " while this lasts and go out, marked held, when it ends or after 15 minutes"
            " if the targets are still down.",
        ]
    lines += ["", f"Alert id: {alert.alert_id}"]
    return "\n".join(_clean(line) for line in lines) + "\n"


def document(alert: Alert) -> dict[str, Any]:
    """The machine-readable alert (SQS, Lambda, HTTPS, webhooks, ``--json``)."""
    return {
        "schema_version": ALERT_SCHEMA_VERSION,
        "event": alert.event.value,
        "alert_id": alert.alert_id,
        "created_at": alert.created_at,
        "target": dict(alert.target),
        "status": alert.status,
        "since": alert.since,
        "details": dict(alert.details),
        "result": alert.result,
    }


def sns_message(alert: Alert) -> dict[str, Any]:
    """``sns.publish(TopicArn=..., **sns_message(alert))``.

    SNS refuses a message over 256 KB (attributes included), and this one carries the
    document six times: when a result full of a hostile server's text would exceed
    ``_SNS_BUDGET``, the message is built from the result's essentials (status, error,
    address facts) and the document says ``"result_trimmed": true`` — a refused publish
    would keep the alert pending forever."""
    message = _sns_message(alert, trimmed=False)
    if _sns_size(message) > _SNS_BUDGET:
        result = alert.result or {}
        essentials = {k: result[k] for k in _RESULT_ESSENTIALS if k in result}
        lean = Alert(**{**_alert_fields(alert), "result": essentials})
        message = _sns_message(lean, trimmed=True)
    return message


# SNS: 262,144 bytes for the message and its attributes; some room for the subject.
_SNS_BUDGET = 250_000
_RESULT_ESSENTIALS = (
    "schema_version",
    "target_id",
    "started_at",
    "status",
    "host",
    "port",
    "encryption",
    "error",
    "total_ms",
)


def _alert_fields(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "event": alert.event,
        "target_id": alert.target_id,
        "status": alert.status,
        "created_at": alert.created_at,
        "target": alert.target,
        "result": alert.result,
        "since": alert.since,
        "details": alert.details,
    }


def _sns_size(message: dict[str, Any]) -> int:
    attributes = message.get("MessageAttributes") or {}
    return len(str(message["Message"]).encode("utf-8")) + sum(
        len(name) + len("String") + len(str(v.get("StringValue", "")).encode("utf-8"))
        for name, v in attributes.items()
    )


def _sns_message(alert: Alert, *, trimmed: bool) -> dict[str, Any]:
    body_doc = document(alert)
    if trimmed:
        body_doc["result_trimmed"] = True
    doc = json.dumps(body_doc, ensure_ascii=False, separators=(",", ":"), default=str)
    body = text(alert)
    per_protocol = {
        "default": body,
        "email": body,
        "email-json": doc,
        "sms": sms(alert),
        "sqs": doc,
        "lambda": doc,
        "http": doc,
        "https": doc,
        "firehose": doc,
    }
    return {
        "Subject": subject(alert),
        "Message": json.dumps(per_protocol, ensure_ascii=False),
        "MessageStructure": "json",
        "MessageAttributes": message_attributes(alert),
    }


def message_attributes(alert: Alert) -> dict[str, dict[str, str]]:
    """``event``, ``status``, ``target_id`` and the tags, as SNS String attributes.

    Tag names are made valid attribute names (letters, digits, ``_-.``); a tag that
    would clash with the three fixed names, or beyond SNS's limit of 10, is left out.
    """
    attrs: dict[str, dict[str, str]] = {}

    def put(name: str, value: str) -> None:
        if value and name not in attrs and len(attrs) < _MAX_ATTRIBUTES:
            attrs[name] = {"DataType": "String", "StringValue": value[:1024]}

    put("event", alert.event.value)
    put("status", alert.status)
    put("target_id", alert.target_id)
    tags = alert.target.get("tags") or {}
    for key in sorted(tags):
        name = _attribute_name(str(key))
        if name and name not in _RESERVED_ATTRIBUTES:
            put(name, str(tags[key]))
    return attrs


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


# ---- building blocks -----------------------------------------------------------------


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
    if event is AlertEvent.DOWN:
        return f"{label} {failure_line(error)}"
    if event is AlertEvent.REMINDER:
        down_for = _duration(details.get("down_for_s"))
        return f"{label} still down{' ' + down_for if down_for else ''}: {failure_line(error)}"
    if event is AlertEvent.RECOVERED:
        if details.get("was") == "warning":
            return f"{label} warnings cleared"
        down_for = _duration(details.get("down_for_s"))
        line = f"{label} is up again" + (f" after {down_for}" if down_for else "")
        if alert.status == "warning":
            line += f", {_warning_summary(result)}"
        return line
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
        line = f"{kind}: {_cert_days(int(days))}"
    else:
        message = str(first.get("message") or "").strip()
        line = f"{kind}: {message}" if message else kind
    if len(warnings) > 1:
        line += f" (+{len(warnings) - 1} more)"
    return line


def _what_happened(alert: Alert, error: dict[str, Any]) -> list[str]:
    target = alert.target
    event = alert.event
    details = alert.details
    lines: list[str] = []
    if event is AlertEvent.DEGRADED and alert.status == "ended":
        return _episode_end(alert)
    if event is AlertEvent.DEGRADED:
        counted = (
            "targets checked in the window" if details.get("counted") else "probes of the tick"
        )
        lines.append(
            f"{details.get('failed')} of {details.get('total')} {counted}"
            f" {alert.since} failed at once: the fault is probably on the monitor's side,"
            " so one alert replaces a down alert per target."
        )
        kinds = details.get("kinds") or {}
        if kinds:
            lines.append(
                "Failure classes: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            )
        sample = details.get("sample") or []
        if sample:
            lines.append("For example: " + ", ".join(str(s) for s in sample))
        return lines
    if event is AlertEvent.TEST:
        return ["This is a test alert from `smtpwatch alerts test`. Nothing is wrong."]
    if event is AlertEvent.SUMMARY:
        return _summary_lines(details)
    host, port = target.get("host"), target.get("port")
    where = f"{host}:{port}" if port else str(host or "")
    lines.append(
        f"Target: {target.get('name') or host} ({where}, {target.get('encryption') or '-'},"
        f" id {alert.target_id})"
    )
    if event in (AlertEvent.DOWN, AlertEvent.REMINDER):
        state = "DOWN" if event is AlertEvent.DOWN else "still DOWN"
        lines.append(f"Status: {state} since {alert.since or '?'}")
        lines.append(f"What failed: {failure_line(error) if error else 'unknown'}")
        if error.get("phase"):
            lines.append(f"Phase: {error.get('phase')}")
        if error.get("smtp_code") is not None:
            code = str(error.get("smtp_code"))
            if error.get("enhanced_code"):
                code += f" {error.get('enhanced_code')}"
            lines.append(f"SMTP reply code: {code}")
        failures = details.get("failures")
        if failures:
            lines.append(
                f"Consecutive failed checks: {failures}"
                + (f" (alert after {details['threshold']})" if details.get("threshold") else "")
            )
        if details.get("held") and details.get("episode_since"):
            lines.append(
                "Held by a monitor-degraded episode that began"
                f" {details.get('episode_since')} (this alert held since"
                f" {details.get('held_since')}); sent at its end or after 15 minutes."
            )
        elif details.get("held"):
            lines.append("Held until now (maintenance window or monitor degraded).")
    elif event is AlertEvent.RECOVERED:
        if details.get("was") == "warning":
            now = "warnings cleared"
        elif alert.status == "warning":
            now = "UP again, with a warning"
        else:
            now = "UP again"
        lines.append(f"Status: {now}; the problem began {alert.since or '?'}")
        down_for = _duration(details.get("down_for_s"))
        if down_for:
            lines.append(f"Duration: {down_for}")
    elif event is AlertEvent.WARNING:
        lines.append(f"Status: WARNING since {alert.since or '?'}")
    return lines


def _episode_end(alert: Alert) -> list[str]:
    details = alert.details
    held = list(details.get("held") or ())
    lines = [
        f"The monitor-degraded episode that began {alert.since} is over"
        f" ({details.get('ended_at') or alert.created_at}); it held the down alerts of"
        f" {details.get('held_count', len(held))} target(s):"
    ]
    for h in held:
        if h.get("still_down"):
            fate = "still down: its held down alert follows"
        elif h.get("announced"):
            fate = "down, already announced"
        else:
            fate = "up again, never announced"
        lines.append(f"- {h.get('name')} (id {h.get('target_id')}): {fate}")
    more = int(details.get("held_count") or 0) - len(held)
    if more > 0:
        lines.append(f"- and {more} more")
    return lines


def _summary_lines(details: dict[str, Any]) -> list[str]:
    """An outbox summary: alerts this channel could not take for over 24 hours."""
    by_event = details.get("by_event") or {}
    targets = [str(t) for t in details.get("targets") or []]
    lines = [
        f"{details.get('count')} alerts from {details.get('first_at')} to"
        f" {details.get('last_at')} could not be delivered here for more than 24 hours;"
        " this one message replaces them.",
    ]
    if by_event:
        lines.append("Alerts: " + ", ".join(f"{k} {n}" for k, n in sorted(by_event.items())))
    if targets:
        lines.append("Targets: " + ", ".join(targets[:20]) + (" ..." if len(targets) > 20 else ""))
    lines.append("Current state: smtpwatch status")
    return lines


def _facts(alert: Alert, result: dict[str, Any]) -> list[str]:
    if not result:
        return []
    lines = ["", f"Checked at: {result.get('started_at')} (total {result.get('total_ms')} ms)"]
    for warning in result.get("warnings") or []:
        lines.append(f"Warning: {warning.get('kind')}: {warning.get('message')}")
    phases = result.get("phases") or {}
    shown = []
    for phase in PHASES:
        p = phases.get(phase.value) or {}
        if not p.get("reached"):
            continue
        ms = p.get("ms")
        value = "FAILED" if not p.get("ok") else ("?" if ms is None else f"{ms:g}")
        if not p.get("ok") and ms is not None:
            value += f" after {ms:g}"
        shown.append(f"{phase.value} {value}")
    if shown:
        lines.append("Phases (ms): " + ", ".join(shown))
    address = result.get("address") or {}
    if address.get("ip"):
        lines.append(f"Address: {address.get('ip')} ({address.get('family')})")
    tls = result.get("tls") or {}
    if tls:
        cert = f"TLS: {tls.get('version') or '-'} {tls.get('cipher') or ''}".rstrip()
        if tls.get("not_after"):
            cert += f"; certificate valid until {tls.get('not_after')}"
        if tls.get("days_left") is not None:
            cert += f" ({_cert_days(int(tls['days_left']))})"
        if tls.get("verify_error"):
            cert += f"; verification: {tls.get('verify_error')}"
        lines.append(cert)
    auth = result.get("auth") or {}
    if auth.get("tried"):
        lines.append(
            f"AUTH: tried {', '.join(auth['tried'])}"
            + (f"; logged in with {auth['mechanism']}" if auth.get("mechanism") else "")
        )
    banner = (result.get("server") or {}).get("banner")
    if banner:
        lines.append(f"Banner: {banner}")
    tags = alert.target.get("tags") or {}
    if tags:
        lines.append("Tags: " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
    return lines


def _cert_days(days_left: int) -> str:
    """``9 days left``, or for an expired certificate the exact wording of the probe's
    message (``expired 2 days ago``, see ``expiry_phrase``), never ``-3 days left``."""
    return f"{days_left} days left" if days_left >= 0 else expiry_phrase(days_left)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or seconds < 0:
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _ascii_line(value: str) -> str:
    """Printable ASCII on one line: accents dropped, other characters as ``?``."""
    decomposed = unicodedata.normalize("NFKD", value)
    chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            chars.append(" ")
        elif " " <= ch <= "~":
            chars.append(ch)
        else:
            chars.append("?")
    return _SPACES.sub(" ", "".join(chars)).strip()


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3].rstrip() + "..."


def _clean(line: str) -> str:
    """Text lines keep Unicode but lose control characters (a hostile banner)."""
    return "".join(
        ch if ch == "\t" or unicodedata.category(ch)[0] != "C" else " " for ch in line
    ).rstrip()


def _attribute_name(key: str) -> str:
    name = _ATTR_NAME_BAD.sub("_", key).strip(".")
    name = re.sub(r"\.{2,}", ".", name)[:256]
    if name.lower().startswith(("aws.", "amazon.")):
        name = "tag_" + name
    return name
