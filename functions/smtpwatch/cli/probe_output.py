"""`smtpwatch probe`'s text: a monitoring-plugin verdict line with performance data,
then the phases, the address, the server, TLS, AUTH, warnings and the error.

Server text is made one line and terminal-safe field by field.
"""

from __future__ import annotations

from smtpwatch.core.safe_text import for_terminal

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from smtpwatch.core.result import PhaseResult, ProbeResult

__all__ = ["MAX_TEXT_KB", "bounded", "format_human", "perfdata", "verdict"]

# The text output's bound without -v: a server with thousands of EHLO keywords or
# certificate names must not flood a terminal or a monitoring system's log.
MAX_TEXT_KB = 16
# The verdict line's text (a Nagios system shows this one line; perfdata follows it).
MAX_VERDICT_TEXT = 1000


def bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, notice included: the lines that
    fit and the start of the first one that does not (a server's single line of
    keywords can be most of the output), then one line saying how much was left out
    and that ``-v`` prints it."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    budget = limit - 160  # room for the notice
    # Cut at a character boundary ("ignore" drops a split one).
    head = data[:budget].decode("utf-8", "ignore")
    in_part = not head.endswith("\n")
    left = text.count("\n") + 1 - head.count("\n")
    notice = (
        f"... output cut at {limit // 1024} KB: {len(data) - len(head.encode('utf-8')):,} "
        f"more bytes ({left:,} line{'s' if left != 1 else ''}"
        f"{', the first one in part' if in_part else ''}) not shown; -v prints everything"
    )
    return head + ("…\n" if in_part else "") + notice


def _clean(text: object) -> str:
    """One line, terminal-safe (server-supplied text may hold escape sequences)."""
    return for_terminal(" ".join(str(text).split()))


def _where(result: ProbeResult) -> str:
    from smtpwatch.core.parsing import format_host_port

    return format_host_port(result.host, result.port) if result.host else result.target_id


def verdict(result: ProbeResult, **limits: float | None) -> str:
    """``SMTP CRITICAL - host:port phase kind: message | perfdata`` (one line);
    ``limits`` as for ``perfdata``."""
    head = f"SMTP {result.status.value.upper()} - {_where(result)} {result.encryption}".rstrip()
    if result.error is not None:
        err = result.error
        phase = err.phase.value if err.phase is not None else None
        label = err.kind.value if phase in (None, err.kind.value) else f"{phase} {err.kind.value}"
        text = f"{label}: {err.message}"
    elif result.warnings:
        text = "; ".join(f"{w.kind.value}: {w.message}" for w in result.warnings)
    else:
        facts = []
        if result.tls is not None and result.tls.version:
            facts.append(result.tls.version)
        if result.auth is not None and result.auth.mechanism:
            facts.append(f"AUTH {result.auth.mechanism}")
        if result.tls is not None and result.tls.days_left is not None:
            facts.append(f"cert {result.tls.days_left} days left")
        facts.append(f"{result.total_ms:.0f} ms")
        text = ", ".join(facts)
    text = _clean(text)
    if len(text) > MAX_VERDICT_TEXT:
        text = text[: MAX_VERDICT_TEXT - 1] + "…"
    # "|" starts the performance data: keep it out of the text.
    line = f"{head}: {text}".replace("|", "/")
    return f"{line} | {perfdata(result, **limits)}"


def perfdata(
    result: ProbeResult,
    *,
    warn_ms: float | None = None,
    crit_ms: float | None = None,
    cert_warn_days: float | None = 14,
    cert_crit_days: float | None = None,
) -> str:
    """Nagios performance data: seconds with six decimals, ``min`` 0. ``time`` carries
    the warning and critical times (a bare N: alert above N); ``cert_days`` alerts
    below its thresholds (``N:``), critical below 0 unless ``cert_crit_days`` (whole
    days left that are critical, check_smtp's count) says more."""
    parts = [
        f"{p.phase.value}={p.ms / 1000:.6f}s;;;0"
        for p in result.phases
        if p.reached and p.ms is not None
    ]
    warn = "" if warn_ms is None else f"{warn_ms / 1000:.6f}"
    crit = "" if crit_ms is None else f"{crit_ms / 1000:.6f}"
    parts.append(f"time={result.total_ms / 1000:.6f}s;{warn};{crit};0")
    if result.tls is not None and result.tls.days_left is not None:
        # "N:" = alert when the value drops below N (Nagios threshold syntax).
        below = 0 if cert_crit_days is None else int(cert_crit_days) + 1
        warn_days = "" if cert_warn_days is None else f"{int(cert_warn_days)}:"
        parts.append(f"cert_days={result.tls.days_left};{warn_days};{below}:")
    return " ".join(parts)


def _phase_line(p: PhaseResult) -> str:
    name = p.phase.value
    if not p.reached or p.ms is None:
        return f"  {name:<9} {'-':>9}  not reached"
    state = "ok" if p.ok else "FAILED"
    return f"  {name:<9} {p.ms:>6.1f} ms  {state}"


def format_human(result: ProbeResult, **limits: float | None) -> str:
    """The verdict line, then the details; ``limits`` as for ``perfdata``."""
    from smtpwatch.core.result import expiry_phrase

    lines = [verdict(result, **limits), "phases:"]
    lines += [_phase_line(p) for p in result.phases]
    lines.append(f"  {'total':<9} {result.total_ms:>6.1f} ms")

    addr = result.address
    if addr.ip is not None or addr.attempts:
        used = (
            "none connected" if addr.ip is None else f"{addr.ip} port {addr.port} ({addr.family})"
        )
        lines.append(f"address: {used}, from {addr.source or '?'}")
        if len(addr.attempts) > 1 or (addr.attempts and not addr.attempts[0].ok):
            for a in addr.attempts:
                ms = "-" if a.ms is None else f"{a.ms:.1f} ms"
                lines.append(f"  attempt {a.ip}: {'ok' if a.ok else a.error or 'failed'} ({ms})")

    if result.server.banner:
        lines.append(f"banner: {_clean(result.server.banner)}")
    if result.server.extensions:
        lines.append(f"extensions: {_clean(' '.join(result.server.extensions))}")

    tls = result.tls
    if tls is not None:
        state = "verified" if tls.verified else f"NOT verified ({_clean(tls.verify_error or '?')})"
        lines.append(f"tls: {tls.version or '?'} {tls.cipher or '?'}, {state}")
        if tls.subject:
            lines.append(f"  subject:   {_clean(tls.subject)}")
        if tls.issuer:
            lines.append(f"  issuer:    {_clean(tls.issuer)}")
        if tls.sans:
            lines.append(f"  SANs:      {_clean(', '.join(tls.sans))}")
        if tls.not_after:
            left = ""
            if tls.days_left is not None:
                left = f" ({expiry_phrase(tls.days_left)})"
            lines.append(f"  not after: {tls.not_after}{left}")

    auth = result.auth
    if auth is not None:
        tried = ", ".join(auth.tried) or "none"
        where = {True: "over TLS", False: "without TLS", None: ""}[auth.over_tls]
        if auth.mechanism:
            lines.append(f"auth: {auth.mechanism} ok {where} (tried: {tried})".replace("  ", " "))
        else:
            lines.append(f"auth: no success (tried: {tried})")
        if auth.token_ms is not None:
            lines.append(f"  access token: {auth.token_ms:.1f} ms at the token endpoint")

    for w in result.warnings:
        lines.append(f"warning: {w.kind.value}: {_clean(w.message)}")
    if result.error is not None:
        err = result.error
        codes = " ".join(str(c) for c in (err.smtp_code, err.enhanced_code) if c)
        where_ = f" in {err.phase.value}" if err.phase is not None else ""
        suffix = f" [{codes}]" if codes else ""
        lines.append(f"error: {err.kind.value}{where_}: {_clean(err.message)}{suffix}")
    # Server text is escaped field by field (_clean); this catches the rest (an
    # address attempt's error) so that what is measured is what is printed.
    return for_terminal("\n".join(lines))
