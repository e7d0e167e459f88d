"""``smtpwatch probe HOST[:PORT]``: one probe now, as a monitoring-plugin check.

Output (human): a one-line verdict with Nagios performance data, then the phases in
ms, the address used, the server, TLS/certificate facts, AUTH facts and warnings.
``--json`` prints ``ProbeResult.to_dict()``. Exit code: 0 ok, 1 warning, 2 critical,
3 unknown — and 3 for bad usage, with one line naming the option.

Performance data follow the Nagios plugin guidelines: ``label=value[UOM];warn;crit;min;max``
with times in seconds (``s``, six decimals like check_smtp; ``ms`` is no Nagios UOM),
one label per reached phase plus ``time`` (the whole probe, warn = ``--warn-ms``) and
``cert_days`` (days left, warn below ``--cert-warn-days``, critical below 0).

The password never appears in argv: ``--password-env VAR`` names an environment
variable; the target keeps only ``password_ref = "env:VAR"``.

Imports stay lean (a Nagios check starts a process per check): the target model and
the probe engine only; no boto3, no json unless ``--json``.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping

from smtpwatch.cli.main import UsageError
from smtpwatch.core.safe_text import for_terminal

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from typing import Any

    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.result import PhaseResult, ProbeResult
    from smtpwatch.core.target import Target

__all__ = ["add_arguments", "build_target", "format_human", "perfdata", "run", "verdict"]

# Target field → the option that sets it (a ConfigError names the field).
OPTION_OF_FIELD: dict[str, str] = {
    "target_id": "HOST[:PORT]",
    "name": "HOST[:PORT]",
    "host": "HOST[:PORT]",
    "port": "HOST[:PORT]",
    "encryption": "--encryption",
    "timeout_s": "--timeout",
    "login": "--user",
    "username": "--user",
    "password_ref": "--password-env",
    "auth_methods": "--auth-methods",
    "allow_plaintext_auth": "--allow-plaintext-auth",
    "ca_bundle": "--ca-bundle",
    "tls_verify": "--no-tls-verify",
    "dns_mode": "--dns-mode",
    "nameservers": "--nameserver",
    "dns_hosts": "--dns-host",
    "ip_family": "-4/-6",
    "ehlo_name": "--ehlo-name",
    "cert_warn_days": "--cert-warn-days",
    "warn_ms": "--warn-ms",
}

# The text output's bound without -v: a server with thousands of EHLO keywords or
# certificate names must not flood a terminal or a monitoring system's log.
MAX_TEXT_KB = 16
# The verdict line's text (a Nagios system shows this one line; perfdata follows it).
MAX_VERDICT_TEXT = 1000

_TARGET_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Exit status: 0 ok, 1 warning, 2 critical, 3 unknown or bad usage. The first line "
        "is a monitoring-plugin verdict with performance data (times in seconds)."
    )
    parser.add_argument(
        "target",
        metavar="HOST[:PORT]",
        help="host name or IP address; a port after an IPv6 address needs brackets, "
        "[ADDR]:PORT (a bare 2001:db8::1:25 is one address), or use --port",
    )
    smtp = parser.add_argument_group("SMTP")
    smtp.add_argument(
        "--port",
        metavar="N",
        help="port (default by --encryption: 587, 465 or 25); instead of HOST:PORT",
    )
    smtp.add_argument(
        "--encryption",
        metavar="MODE",
        help="explicit (STARTTLS, port 587; default), implicit (TLS on connect, 465), "
        "none (25), auto (STARTTLS if offered, 25)",
    )
    smtp.add_argument(
        "--timeout", metavar="SECONDS", help="overall deadline of the probe (default 120)"
    )
    smtp.add_argument(
        "--ehlo-name",
        metavar="NAME",
        help="name to send in EHLO (default: $SMTPWATCH_EHLO_NAME, else localhost)",
    )
    smtp.add_argument(
        "--warn-ms", metavar="MS", help="warning when the whole probe takes longer than this"
    )
    auth = parser.add_argument_group("login")
    auth.add_argument("--user", metavar="NAME", help="log in with this user name")
    auth.add_argument(
        "--password-env",
        metavar="VAR",
        help="environment variable holding the password (never give a password in argv)",
    )
    auth.add_argument(
        "--auth-methods",
        metavar="LIST",
        help="comma-separated, tried in order: CRAM-MD5,LOGIN,PLAIN (default), SIMPLE",
    )
    auth.add_argument(
        "--allow-plaintext-auth",
        action="store_true",
        help="allow sending credentials without TLS",
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="PEM file of the CAs to trust instead of the system store",
    )
    tls.add_argument(
        "--no-tls-verify",
        action="store_true",
        help="do not verify the certificate (facts are still reported)",
    )
    tls.add_argument(
        "--cert-warn-days", metavar="DAYS", help="warning when the certificate expires sooner"
    )
    dns = parser.add_argument_group("DNS")
    dns.add_argument(
        "--dns-mode",
        metavar="MODE",
        help="device_cached (default), non_cached, ttl_cached, external",
    )
    dns.add_argument(
        "--nameserver",
        action="append",
        metavar="IP[:PORT]",
        help="ask this nameserver (repeatable; [IPv6]:PORT); implies --dns-mode external",
    )
    dns.add_argument(
        "--dns-host",
        action="append",
        metavar='"IP NAME [NAME...]"',
        help="hosts-file line answering before DNS (repeatable)",
    )
    family = dns.add_mutually_exclusive_group()
    family.add_argument(
        "-4", dest="ip_family", action="store_const", const="ipv4", help="IPv4 only"
    )
    family.add_argument(
        "-6", dest="ip_family", action="store_const", const="ipv6", help="IPv6 only"
    )
    # -4/-6 look like negative numbers, so argparse would take "-1" in
    # "--cert-warn-days -1" for an option ("expected one argument"). Negative numbers are
    # values again (-4 and -6 still match their options exactly first), and the model
    # names the option and its range.
    parser._has_negative_number_optionals.clear()
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"print the whole text output (without it, at most {MAX_TEXT_KB} KB)",
    )


def run(args: argparse.Namespace) -> int:
    target, password = build_target(args, os.environ)

    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.probe import default_environment, probe

    try:
        env = default_environment()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    result = probe(target, password=password, env=env)
    if args.json:
        import json

        print(json.dumps(result.to_dict(), indent=2, sort_keys=False))
    else:
        text = format_human(result, warn_ms=target.warn_ms, cert_warn_days=target.cert_warn_days)
        print(text if args.verbose else bounded(text, MAX_TEXT_KB * 1024))
    return result.status.exit_code


# ---------------------------------------------------------------------------- input


def build_target(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Target, str | None]:
    """The Target of the options (through the one model) and the password, if any.

    Raises ``UsageError`` with one line naming the option.
    """
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.parsing import format_host_port, parse_host_port
    from smtpwatch.core.target import Target

    try:
        host, port = parse_host_port(args.target, None, field="host")
    except ConfigError as exc:
        raise _usage(exc) from None
    if args.port is not None:
        port = _port_option(args.port, port)

    fields: dict[str, Any] = {
        "target_id": _target_id(format_host_port(host, port)),
        "host": host,
        "port": port,
    }
    simple = {
        "encryption": args.encryption,
        "timeout_s": args.timeout,
        "auth_methods": args.auth_methods,
        "dns_mode": args.dns_mode,
        "nameservers": args.nameserver,
        "dns_hosts": args.dns_host,
        "ip_family": args.ip_family,
        "ehlo_name": args.ehlo_name,
        "cert_warn_days": args.cert_warn_days,
        "warn_ms": args.warn_ms,
    }
    if args.nameserver and args.dns_mode is None:
        simple["dns_mode"] = "external"  # the only mode that asks them
    fields.update({k: v for k, v in simple.items() if v is not None})
    if args.allow_plaintext_auth:
        fields["allow_plaintext_auth"] = True
    if args.no_tls_verify:
        fields["tls_verify"] = False
    if args.ca_bundle is not None:
        fields["ca_bundle"] = _read_ca_bundle(args.ca_bundle)

    password: str | None = None
    if args.password_env is not None and args.user is None:
        raise UsageError("--password-env: needs --user (the login name)")
    if args.user is not None:
        if args.password_env is None:
            raise UsageError(
                "--user: needs --password-env VAR (a password is never given on the command line)"
            )
        var = args.password_env.strip()
        fields.update(login=True, username=args.user, password_ref=f"env:{var}")
        try:
            target = Target(**fields)  # validates the variable name before it is read
        except ConfigError as exc:
            raise _usage(exc) from None
        password = environ.get(var)
        if not password:
            raise UsageError(f"--password-env: environment variable {var} is not set or empty")
        return target, password

    try:
        return Target(**fields), None
    except ConfigError as exc:
        raise _usage(exc) from None


def _port_option(value: str, given: int | None) -> int:
    """``--port N``, which must agree with a port in HOST:PORT."""
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.parsing import parse_port

    try:
        port = parse_port(value, field="port")
    except ConfigError as exc:
        raise UsageError(f"--port: {exc.reason}") from None
    if given is not None and given != port:
        raise UsageError(f"--port: {port} conflicts with port {given} in HOST:PORT; give one")
    return port


def _usage(exc: ConfigError) -> UsageError:
    option = OPTION_OF_FIELD.get(exc.field, exc.field)
    return UsageError(f"{option}: {exc.reason}")


def _target_id(text: str) -> str:
    # Target ids allow letters, digits and . _ : @ - (they are DynamoDB keys): an IPv6
    # "[::1]:2525" loses its brackets and gets a leading "ip6" so it starts with a letter.
    if _TARGET_ID_OK.match(text):
        return text
    # An IPv6 zone ("fe80::1%eth0") keeps its name with "-" for the "%".
    bare = text.replace("[", "").replace("]", "").replace("%", "-")
    return bare if _TARGET_ID_OK.match(bare) else f"ip6{bare}"[:128]


def _read_ca_bundle(path: str) -> str:
    """A regular file of at most 1 MiB, read with that bound (``/dev/zero`` or a FIFO
    would otherwise be read until memory runs out)."""
    from smtpwatch.cli.file_input import MAX_CA_BUNDLE_BYTES, read_bounded

    data = read_bounded(path, limit=MAX_CA_BUNDLE_BYTES, label="--ca-bundle", regular_only=True)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"--ca-bundle: {path} is not a PEM text file") from None


# ---------------------------------------------------------------------------- output


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


def verdict(result: ProbeResult, *, warn_ms: int | None = None, cert_warn_days: int = 14) -> str:
    """``SMTP CRITICAL - host:port phase kind: message | perfdata`` (one line)."""
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
    return f"{line} | {perfdata(result, warn_ms=warn_ms, cert_warn_days=cert_warn_days)}"


def perfdata(result: ProbeResult, *, warn_ms: int | None = None, cert_warn_days: int = 14) -> str:
    """Nagios performance data: seconds with six decimals, ``min`` 0."""
    parts = [
        f"{p.phase.value}={p.ms / 1000:.6f}s;;;0"
        for p in result.phases
        if p.reached and p.ms is not None
    ]
    warn = "" if warn_ms is None else f"{warn_ms / 1000:.6f}"
    parts.append(f"time={result.total_ms / 1000:.6f}s;{warn};;0")
    if result.tls is not None and result.tls.days_left is not None:
        # "N:" = alert when the value drops below N (Nagios threshold syntax).
        parts.append(f"cert_days={result.tls.days_left};{cert_warn_days}:;0:")
    return " ".join(parts)


def _phase_line(p: PhaseResult) -> str:
    name = p.phase.value
    if not p.reached or p.ms is None:
        return f"  {name:<9} {'-':>9}  not reached"
    state = "ok" if p.ok else "FAILED"
    return f"  {name:<9} {p.ms:>6.1f} ms  {state}"


def format_human(
    result: ProbeResult, *, warn_ms: int | None = None, cert_warn_days: int = 14
) -> str:
    from smtpwatch.core.result import expiry_phrase

    lines = [verdict(result, warn_ms=warn_ms, cert_warn_days=cert_warn_days), "phases:"]
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
