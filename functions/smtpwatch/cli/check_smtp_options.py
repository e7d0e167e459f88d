"""check_smtp's options on `smtpwatch probe`, with check_smtp's meanings.

``-H -p -t -w -c -S -e -D -F -4 -6 -v``: with ``-H`` check_smtp's defaults apply (port
25, no TLS unless ``-S`` or ``-D``). They become Target fields and ``CheckLimits``.
"""

from __future__ import annotations

from smtpwatch.cli.main import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from smtpwatch.core.probe.check_limits import CheckLimits

__all__ = ["PROBE_TIMEOUT_S", "check_limits", "check_smtp_fields"]

# `smtpwatch probe`'s deadline when -t/--timeout is not given: check_smtp's 10 s, well
# inside a monitoring system's own limit (Nagios kills a check after 60 s), so a timeout
# is reported with its phase instead of being killed. Stored targets keep 120 s.
PROBE_TIMEOUT_S = 10.0
# The deadline's upper bound (timeout_s), which bounds -w and -c too.
_MAX_SECONDS = 300.0
_MAX_EXPECT = 1000


def check_smtp_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The Target fields check_smtp's options set (HOST[:PORT] and -H are read by the
    caller). Raises ``UsageError`` naming the option."""
    fields: dict[str, Any] = {}
    encryption = args.encryption
    if args.starttls:
        if encryption not in (None, "explicit"):
            raise UsageError(f"-S: STARTTLS is --encryption explicit, not {encryption}")
        encryption = "explicit"
    cert_days = _cert_days(args.certificate)
    if cert_days is not None:
        if args.cert_warn_days is not None:
            raise UsageError("-D: give either -D or --cert-warn-days")
        if encryption is None and args.hostname is not None:
            encryption = "explicit"  # check_smtp -D runs STARTTLS without -S
        if encryption == "none":
            raise UsageError("-D: a certificate needs TLS (--encryption none was given)")
        # check_smtp warns with W whole days or fewer left: fewer than W + 1.
        fields["cert_warn_days"] = cert_days[0] + 1
    if encryption is None and args.hostname is not None:
        encryption = "none"  # check_smtp: plain SMTP unless -S
    if encryption is not None:
        fields["encryption"] = encryption
    if args.warning is not None:
        if args.warn_ms is not None:
            raise UsageError("-w: give either -w (seconds) or --warn-ms")
        fields["warn_ms"] = max(1, round(_seconds("-w", args.warning) * 1000))
    fields["timeout_s"] = PROBE_TIMEOUT_S if args.timeout is None else args.timeout
    return fields


def check_limits(args: argparse.Namespace) -> CheckLimits | None:
    """``-c``, ``-D``'s critical days and ``-e`` as the probe's ``CheckLimits``."""
    cert_days = _cert_days(args.certificate)
    crit = None if args.critical is None else _seconds("-c", args.critical) * 1000
    expect = args.expect
    if expect is not None and not 0 < len(expect) <= _MAX_EXPECT:
        raise UsageError(f"-e: give 1 to {_MAX_EXPECT} characters the greeting must contain")
    if crit is None and cert_days is None and expect is None:
        return None
    from smtpwatch.core.probe.check_limits import CheckLimits

    return CheckLimits(
        crit_ms=crit,
        cert_crit_days=None if cert_days is None else cert_days[1],
        expect_banner=expect,
    )


def _seconds(option: str, text: str) -> float:
    """A time threshold: a number of seconds, as check_smtp takes it. In the plugin
    guidelines' range syntax a bare number N is the range 0:N (alert above N); other
    ranges have no meaning for a response time and are refused."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not a number of seconds (alert when the probe takes longer)"
        ) from None
    if not 0 < value <= _MAX_SECONDS:  # also refuses nan
        raise UsageError(f"{option}: seconds must be more than 0 and at most {_MAX_SECONDS:g}")
    return value


def _cert_days(text: str | None) -> tuple[int, int] | None:
    """``-D WARN[,CRIT]``: whole days; CRIT defaults to 0 (under 24 hours left), as in
    check_smtp."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) > 2 or not all(p.strip().isdigit() and p.strip().isascii() for p in parts):
        raise UsageError(f"-D: {text!r} is not WARN[,CRIT] (whole days, e.g. 30,14)")
    warn = int(parts[0])
    crit = int(parts[1]) if len(parts) == 2 else 0
    if warn > 3649 or crit > 3649:
        raise UsageError("-D: at most 3649 days")
    return warn, crit
