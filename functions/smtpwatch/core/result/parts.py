"""The parts of a result: a phase's timing, the failure, warnings, the address, TLS,
AUTH and the server's greeting. Each cuts its own fields to the limits."""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from smtpwatch.core.kinds import ErrorKind, Phase, WarningKind
from smtpwatch.core.record import Record
from smtpwatch.core.result.cutting import cut, cut_list, cut_opt
from smtpwatch.core.result.limits import (
    DAYS,
    MAX_ATTEMPTS,
    MAX_BANNER,
    MAX_CERT_TEXT,
    MAX_CIPHER,
    MAX_DETAIL,
    MAX_EXTENSION,
    MAX_EXTENSIONS,
    MAX_IP,
    MAX_MESSAGE,
    MAX_SAN,
    MAX_SANS,
    MAX_SANS_BYTES,
    MAX_SHORT,
    MAX_TRIED,
    MAX_WARNING,
    PORTS,
    SMTP_CODES,
    duration,
    in_range,
    tenth,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AddressAttempt",
    "AddressInfo",
    "AuthInfo",
    "ErrorInfo",
    "PhaseResult",
    "ServerInfo",
    "TlsInfo",
    "WarningInfo",
    "expiry_phrase",
]


class PhaseResult(Record):
    __slots__ = ("phase", "reached", "ok", "ms", "detail")
    phase: Phase
    reached: bool
    ok: bool
    ms: float | None  # None when not reached
    detail: str | None  # QUIT's reply when QUIT failed; in memory only, never stored

    def __init__(
        self,
        phase: Phase,
        reached: bool = False,
        ok: bool = False,
        ms: float | None = None,
        detail: str | None = None,
    ) -> None:
        object.__setattr__(self, "phase", phase)
        object.__setattr__(self, "reached", reached)
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "ms", duration(ms))
        object.__setattr__(self, "detail", cut_opt(detail, MAX_DETAIL))

    def to_dict(self) -> dict[str, Any]:
        # The documented {reached, ok, ms}: the phase is the key of the result's
        # "phases", and ``detail`` is not part of the document (see the slot).
        return {"reached": self.reached, "ok": self.ok, "ms": tenth(self.ms)}


class ErrorInfo(Record):
    __slots__ = ("kind", "phase", "message", "smtp_code", "enhanced_code")
    kind: ErrorKind
    phase: Phase | None
    message: str  # one line, never a secret
    smtp_code: int | None
    enhanced_code: str | None

    def __init__(
        self,
        kind: ErrorKind,
        phase: Phase | None,
        message: str,
        smtp_code: int | None = None,
        enhanced_code: str | None = None,
    ) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "phase", phase)
        object.__setattr__(self, "message", cut(message, MAX_MESSAGE))
        object.__setattr__(self, "smtp_code", in_range(smtp_code, SMTP_CODES))
        object.__setattr__(self, "enhanced_code", cut_opt(enhanced_code, MAX_SHORT))

    def to_dict(self) -> dict[str, Any]:
        # The document's key order puts the codes before the message (constructor
        # order puts the message, which every error has, before the optional codes).
        return {
            "kind": self.kind.value,
            "phase": None if self.phase is None else self.phase.value,
            "smtp_code": self.smtp_code,
            "enhanced_code": self.enhanced_code,
            "message": self.message,
        }


class WarningInfo(Record):
    __slots__ = ("kind", "message")
    kind: WarningKind
    message: str

    def __init__(self, kind: WarningKind, message: str) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "message", cut(message, MAX_WARNING))


class AddressAttempt(Record):
    __slots__ = ("ip", "family", "ok", "ms", "error")
    ip: str
    family: str  # "ipv4" | "ipv6"
    ok: bool
    ms: float | None
    error: str | None  # failure kind of this attempt, e.g. "connect_refused"

    def __init__(
        self, ip: str, family: str, ok: bool, ms: float | None, error: str | None = None
    ) -> None:
        object.__setattr__(self, "ip", cut(ip, MAX_IP))
        object.__setattr__(self, "family", cut(family, MAX_SHORT))
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "ms", duration(ms))
        object.__setattr__(self, "error", cut_opt(error, MAX_SHORT))

    def to_dict(self) -> dict[str, Any]:
        # The slots, but the document writes durations to 0.1 ms.
        return {**super().to_dict(), "ms": tenth(self.ms)}


class AddressInfo(Record):
    __slots__ = ("ip", "family", "port", "source", "attempts")
    ip: str | None  # the address finally used (None if no connect succeeded)
    family: str | None
    port: int | None
    source: str | None  # "literal" | "dns_hosts" | "dns" | "cache"
    attempts: tuple[AddressAttempt, ...]

    def __init__(
        self,
        ip: str | None = None,
        family: str | None = None,
        port: int | None = None,
        source: str | None = None,
        attempts: tuple[AddressAttempt, ...] = (),
    ) -> None:
        object.__setattr__(self, "ip", cut_opt(ip, MAX_IP))
        object.__setattr__(self, "family", cut_opt(family, MAX_SHORT))
        object.__setattr__(self, "port", in_range(port, PORTS))
        object.__setattr__(self, "source", cut_opt(source, MAX_SHORT))
        object.__setattr__(self, "attempts", tuple(attempts[:MAX_ATTEMPTS]))


class TlsInfo(Record):
    """TLS session and certificate facts.

    ``days_left`` is ``floor((not_after - now) / 1 day)``: 0 means the certificate
    expires within 24 hours, -1 that it expired within the last 24 hours, -3 that it
    expired 2 whole days (and less than 3) ago. Say it in words with ``expiry_phrase``.

    ``sans`` are the certificate's names as ``KIND:value`` ("DNS:mx.example.com"), the
    first ``MAX_SANS`` of them (and no more than ``MAX_SANS_BYTES`` in all); when the
    certificate names more, a last entry ``"… and N more"`` counts the rest
    (``left_out(sans)``), so a certificate with 3,000 names shows its first names and
    the fact that there are more, in a result of a few KB.
    """

    __slots__ = (
        "version",
        "cipher",
        "verified",
        "verify_error",
        "subject",
        "issuer",
        "sans",
        "not_before",
        "not_after",
        "days_left",
    )
    version: str | None
    cipher: str | None
    verified: bool
    verify_error: str | None
    subject: str | None
    issuer: str | None
    sans: tuple[str, ...]
    not_before: str | None  # ISO-8601 UTC
    not_after: str | None  # ISO-8601 UTC
    days_left: int | None

    def __init__(
        self,
        version: str | None = None,
        cipher: str | None = None,
        verified: bool = False,
        verify_error: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
        sans: tuple[str, ...] = (),
        not_before: str | None = None,
        not_after: str | None = None,
        days_left: int | None = None,
    ) -> None:
        object.__setattr__(self, "version", cut_opt(version, MAX_SHORT))
        object.__setattr__(self, "cipher", cut_opt(cipher, MAX_CIPHER))
        object.__setattr__(self, "verified", verified)
        object.__setattr__(self, "verify_error", cut_opt(verify_error, MAX_CERT_TEXT))
        object.__setattr__(self, "subject", cut_opt(subject, MAX_CERT_TEXT))
        object.__setattr__(self, "issuer", cut_opt(issuer, MAX_CERT_TEXT))
        object.__setattr__(self, "sans", cut_list(sans, MAX_SANS, MAX_SAN, MAX_SANS_BYTES))
        object.__setattr__(self, "not_before", cut_opt(not_before, MAX_SHORT))
        object.__setattr__(self, "not_after", cut_opt(not_after, MAX_SHORT))
        object.__setattr__(self, "days_left", in_range(days_left, DAYS))


class AuthInfo(Record):
    """``token_ms``: the time spent at the OAuth token endpoint during this probe, part
    of the ``auth`` phase's ``ms``; left out of the document when no token was fetched
    (no OAuth, or the token came from the cache)."""

    __slots__ = ("mechanism", "tried", "over_tls", "token_ms")
    mechanism: str | None  # the one that succeeded
    tried: tuple[str, ...]  # in order; "PLAIN@tls" style is not used: see over_tls
    over_tls: bool | None
    token_ms: float | None

    def __init__(
        self,
        mechanism: str | None = None,
        tried: tuple[str, ...] = (),
        over_tls: bool | None = None,
        token_ms: float | None = None,
    ) -> None:
        object.__setattr__(self, "mechanism", cut_opt(mechanism, MAX_SHORT))
        object.__setattr__(self, "tried", cut_list(tried, MAX_TRIED, MAX_SHORT))
        object.__setattr__(self, "over_tls", None if over_tls is None else bool(over_tls))
        ms = None if token_ms is None else round(max(0.0, float(token_ms)), 3)
        object.__setattr__(self, "token_ms", ms)

    def to_dict(self) -> dict[str, Any]:
        doc = super().to_dict()
        if self.token_ms is None:
            del doc["token_ms"]
        return doc


class ServerInfo(Record):
    """The greeting's text (``MAX_BANNER``) and the EHLO keywords: the first
    ``MAX_EXTENSIONS``, then ``"… and N more"`` when the server listed more."""

    __slots__ = ("banner", "extensions")
    banner: str | None
    extensions: tuple[str, ...]  # EHLO keywords (upper case), the last EHLO seen

    def __init__(self, banner: str | None = None, extensions: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "banner", cut_opt(banner, MAX_BANNER))
        object.__setattr__(self, "extensions", cut_list(extensions, MAX_EXTENSIONS, MAX_EXTENSION))


def expiry_phrase(days_left: int) -> str:
    """``TlsInfo.days_left`` in words, exact for the past too: "expires in 9 days",
    "expires within 24 hours", "expired within the last 24 hours", "expired 2 days ago"
    (whole days elapsed since ``not_after``: ``-days_left - 1``)."""
    if days_left > 0:
        return f"expires in {_days(days_left)}"
    if days_left == 0:
        return "expires within 24 hours"
    if days_left == -1:
        return "expired within the last 24 hours"
    return f"expired {_days(-days_left - 1)} ago"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"
