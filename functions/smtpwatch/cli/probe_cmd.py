"""``smtpwatch probe HOST[:PORT]``: one probe now, as a monitoring-plugin check.

The options become a Target (``cli.probe_target``); the text output is a verdict line
with performance data, then the details (``cli.probe_output``); ``--json`` prints
``ProbeResult.to_dict()``. Exit code: 0 ok, 1 warning, 2 critical, 3 unknown or bad
usage. check_smtp's options work with its meanings (``cli.check_smtp_options``). The
password never appears in argv: ``--password-env VAR`` names it.
"""

from __future__ import annotations

import argparse
import os

from smtpwatch.cli.check_smtp_options import PROBE_TIMEOUT_S, check_limits
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.probe_output import MAX_TEXT_KB, bounded, format_human
from smtpwatch.cli.probe_target import build_target
from smtpwatch.core.target_fields import DEFAULTS

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Exit status: 0 ok, 1 warning, 2 critical, 3 unknown or bad usage. The first line "
        "is a monitoring-plugin verdict with performance data (times in seconds)."
    )
    parser.add_argument(
        "target",
        nargs="?",
        metavar="HOST[:PORT]",
        help="host name or IP address; a port after an IPv6 address needs brackets, "
        "[ADDR]:PORT (a bare 2001:db8::1:25 is one address), or use --port",
    )
    smtp = parser.add_argument_group("SMTP")
    smtp.add_argument(
        "-H",
        "--hostname",
        metavar="HOST",
        help="the host, as check_smtp takes it, instead of HOST[:PORT]: check_smtp's "
        "defaults apply (port 25, no TLS unless -S or -D)",
    )
    smtp.add_argument(
        "-p",
        "--port",
        metavar="N",
        help="port (default by --encryption: 587, 465 or 25; 25 with -H); instead of HOST:PORT",
    )
    smtp.add_argument(
        "--encryption",
        metavar="MODE",
        help="explicit (STARTTLS, port 587; default), implicit (TLS on connect, 465), "
        "none (25), auto (STARTTLS if offered, 25)",
    )
    smtp.add_argument(
        "-S",
        "--starttls",
        action="store_true",
        help="STARTTLS required: --encryption explicit (as check_smtp -S)",
    )
    smtp.add_argument(
        "-t",
        "--timeout",
        "--timeout-s",
        metavar="SECONDS",
        help=f"overall deadline of the probe, 1-300 (default {PROBE_TIMEOUT_S:g}; "
        f"stored targets: {DEFAULTS['timeout_s']:g})",
    )
    smtp.add_argument(
        "-F",
        "--ehlo-name",
        metavar="NAME",
        help="name to send in EHLO (default: $SMTPWATCH_EHLO_NAME, else localhost)",
    )
    smtp.add_argument(
        "-e",
        "--expect",
        metavar="TEXT",
        help="text the greeting must contain, reply code included (e.g. '220 mx1'); "
        "else a banner_mismatch warning",
    )
    smtp.add_argument(
        "-q",
        "--ignore-quit-failure",
        action="store_true",
        help="accepted as check_smtp takes it; a failed QUIT is never a failure anyway",
    )
    limits = parser.add_argument_group(
        "thresholds", "times in seconds, alerting above the value (check_smtp's -w/-c)"
    )
    limits.add_argument(
        "-w",
        "--warning",
        metavar="SECONDS",
        help="warning (slow) when the whole probe takes longer",
    )
    limits.add_argument(
        "-c",
        "--critical",
        metavar="SECONDS",
        help="critical (error slow) when the whole probe takes longer",
    )
    limits.add_argument(
        "--warn-ms", metavar="MS", help="as -w, in milliseconds (a stored target's warn_ms)"
    )
    auth = parser.add_argument_group("login")
    auth.add_argument(
        "--username", "--user", dest="user", metavar="NAME", help="log in with this user name"
    )
    auth.add_argument(
        "--password-env",
        metavar="VAR",
        help="environment variable holding the password (never give a password in argv)",
    )
    auth.add_argument(
        "--oauth-token-env",
        metavar="VAR",
        help="environment variable holding a ready OAuth 2.0 access token (XOAUTH2, OAUTHBEARER)",
    )
    auth.add_argument(
        "--oauth-secret-file",
        metavar="PATH",
        help="a token source's secret document (JSON, mode 600): the token is fetched from "
        "the endpoint it names and sent only to the hosts it names",
    )
    auth.add_argument(
        "--auth-methods",
        metavar="LIST",
        help=f"comma-separated, tried in order: {','.join(DEFAULTS['auth_methods'])} (default), "
        "SIMPLE",
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
        "--cert-warn-days",
        metavar="DAYS",
        help="warning when fewer than DAYS days are left (default 14)",
    )
    tls.add_argument(
        "-D",
        "--certificate",
        metavar="WARN[,CRIT]",
        help="as check_smtp: warning with WARN whole days or fewer left, critical "
        "(error cert_expiring) with CRIT or fewer (default 0: under 24 hours); implies TLS",
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
        "--ip-family", metavar="FAMILY", help="any (default), ipv4 (also -4), ipv6 (also -6)"
    )
    family.add_argument(
        "-4",
        "--use-ipv4",
        dest="ip_family",
        action="store_const",
        const="ipv4",
        help="IPv4 only",
    )
    family.add_argument(
        "-6",
        "--use-ipv6",
        dest="ip_family",
        action="store_const",
        const="ipv6",
        help="IPv6 only",
    )
    # -4/-6 look like negative numbers, so argparse would take "-1" in
    # "--cert-warn-days -1" for an option ("expected one argument"). Negative numbers are
    # values again (-4 and -6 still match their options exactly first), and the model
    # names the option and its range.
    parser._has_negative_number_optionals.clear()
    parser.add_argument(
        "--location",
        metavar="NAME",
        help="where this probe runs, written into the result (default: $SMTPWATCH_LOCATION, "
        "else the host name)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"print the whole text output (without it, at most {MAX_TEXT_KB} KB)",
    )


def run(args: argparse.Namespace) -> int:
    target, password = build_target(args, os.environ)
    limits = check_limits(args)

    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.probe import default_environment, parse_location, probe

    try:
        location = None if args.location is None else parse_location("--location", args.location)
        env = default_environment()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if location is not None:
        env.location = location
    tokens = None
    if target.token_ref is not None:
        from smtpwatch.cli.probe_oauth import token_source

        tokens = token_source(args, os.environ, target)
    result = probe(target, password=password, env=env, limits=limits, tokens=tokens)
    if args.json:
        import json

        print(json.dumps(result.to_dict(), indent=2, sort_keys=False))
    else:
        text = format_human(
            result,
            warn_ms=target.warn_ms,
            cert_warn_days=target.cert_warn_days,
            crit_ms=None if limits is None else limits.crit_ms,
            cert_crit_days=None if limits is None else limits.cert_crit_days,
        )
        print(text if args.verbose else bounded(text, MAX_TEXT_KB * 1024))
    return result.status.exit_code
