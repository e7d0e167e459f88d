"""What a monitoring check adds to a probe (check_smtp's ``-c``, ``-D`` critical, ``-e``).

``CheckLimits`` travels with one probe run, not with a target: the thresholds judge a
dialogue that went through, so a failure of the dialogue itself always wins.
"""

from __future__ import annotations

from smtpwatch.core.errors import CertExpiringError, SlowError
from smtpwatch.core.kinds import Phase, WarningKind
from smtpwatch.core.result import WarningInfo, expiry_phrase

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from smtpwatch.core.errors import ProbeError
    from smtpwatch.core.result import TlsInfo

__all__ = ["CheckLimits", "banner_mismatch", "critical_threshold"]

# How much of the expected text a warning quotes.
_QUOTE = 80


class CheckLimits:
    """``crit_ms``: the whole probe (QUIT aside) may take at most this long, else a
    ``slow`` error. ``cert_crit_days``: a certificate with this many whole days left or
    fewer is a ``cert_expiring`` error (check_smtp's count: 0 = under 24 hours).
    ``expect_banner``: text the greeting must contain (the reply code included, as
    check_smtp reads it), else a ``banner_mismatch`` warning."""

    __slots__ = ("cert_crit_days", "crit_ms", "expect_banner")

    def __init__(
        self,
        *,
        crit_ms: float | None = None,
        cert_crit_days: int | None = None,
        expect_banner: str | None = None,
    ) -> None:
        self.crit_ms = crit_ms
        self.cert_crit_days = cert_crit_days
        self.expect_banner = expect_banner

    def __repr__(self) -> str:
        return (
            f"CheckLimits(crit_ms={self.crit_ms!r}, cert_crit_days={self.cert_crit_days!r}, "
            f"expect_banner={self.expect_banner!r})"
        )


def banner_mismatch(limits: CheckLimits | None, code: int, resp: bytes) -> WarningInfo | None:
    """``banner_mismatch`` when the greeting (every line, reply codes included) lacks
    the expected text; compared case-sensitively, as check_smtp does."""
    if limits is None or limits.expect_banner is None:
        return None
    expected = limits.expect_banner
    lines = resp.decode("utf-8", "replace").splitlines() or [""]
    # smtplib hands the reply's text without codes: put them back, "220-" for all
    # lines but the last, so "-e 220" and "-e '220 mx'" mean what they do to check_smtp.
    greeting = "\n".join(
        f"{code}{'-' if i < len(lines) - 1 else ' '}{line}" for i, line in enumerate(lines)
    )
    if expected in greeting:
        return None
    shown = expected if len(expected) <= _QUOTE else expected[: _QUOTE - 1] + "…"
    return WarningInfo(WarningKind.BANNER_MISMATCH, f"greeting does not contain {shown!r}")


def critical_threshold(
    limits: CheckLimits | None,
    *,
    took_ms: float,
    tls: TlsInfo | None,
    warnings: list[WarningInfo],
) -> ProbeError | None:
    """The ``slow`` or ``cert_expiring`` error a check's critical threshold makes of a
    dialogue that went through (None: within them). The warning it supersedes is
    taken out of ``warnings``; time is judged first, as check_smtp's ``-c`` is."""
    if limits is None:
        return None
    if limits.crit_ms is not None and took_ms > limits.crit_ms:
        _drop(warnings, WarningKind.SLOW)
        return SlowError(f"probe took {took_ms:.0f} ms (critical over {_seconds(limits.crit_ms)})")
    days = None if tls is None else tls.days_left
    if limits.cert_crit_days is not None and days is not None and days <= limits.cert_crit_days:
        _drop(warnings, WarningKind.CERT_EXPIRING)
        critical = limits.cert_crit_days
        return CertExpiringError(
            f"certificate {expiry_phrase(days)} (not after {tls.not_after if tls else '?'}; "
            f"critical at {critical} day{'' if critical == 1 else 's'} or fewer)",
            phase=Phase.TLS,
        )
    return None


def _seconds(ms: float) -> str:
    return f"{ms / 1000:g} s"


def _drop(warnings: list[WarningInfo], kind: WarningKind) -> None:
    warnings[:] = [w for w in warnings if w.kind is not kind]
