"""An alert as readable text for email and the console: what failed, in which phase,
since when, the phase timings, the certificate, and the next step."""

from __future__ import annotations

from typing import Any

from smtpwatch.core.alert_text.headline import failure_line, subject
from smtpwatch.core.alert_text.locations import location_lines, vote_lines, votes
from smtpwatch.core.alert_text.words import cert_days, clean, spoken_duration
from smtpwatch.core.result import PHASES
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.state import Alert, AlertEvent

__all__ = ["text"]

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
    "oauth_token": "The identity provider gave no access token: check the token source's"
    " secret (client id, client secret, scope) and the app registration.",
    "protocol": "The server sent a malformed reply: check the MTA and anything in between.",
    "timeout": "The server did not answer in time: check its load and the network.",
    "slow": "The server answered, but slower than the critical time: check its load, its"
    " DNS-based checks (reverse lookups, block lists) and the network.",
    "cert_expiring": "Renew the certificate before it expires and reload the MTA.",
}


def text(alert: Alert) -> str:
    """Readable multi-line text for email and the console."""
    result = alert.result or {}
    error = result.get("error") or {}
    lines = [subject(alert), ""]
    lines += _what_happened(alert, error)
    lines += vote_lines(votes(result))
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
    return "\n".join(clean(line) for line in lines) + "\n"


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
    if event in (AlertEvent.LOCATION_DOWN, AlertEvent.LOCATION_UP):
        return location_lines(alert)
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
        down_for = spoken_duration(details.get("down_for_s"))
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
    # A verdict of several locations shows one location's probe: say which.
    located = votes(result) and result.get("location")
    where = f" from {one_line(str(result.get('location')), 64)}" if located else ""
    checked = f"Checked at: {result.get('started_at')}{where}"
    lines = ["", f"{checked} (total {result.get('total_ms')} ms)"]
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
            cert += f" ({cert_days(int(tls['days_left']))})"
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
