"""The probe's one result: timed phases, the failure (if any), TLS and AUTH facts.

The shape of ``ProbeResult.to_dict()`` is a public contract (CLI ``--json``, the
results table, alert documents): keys are stable and documented in the README;
``SCHEMA_VERSION`` changes when a key changes meaning or disappears.
"""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from enum import StrEnum

from smtpwatch.core.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "PHASES",
    "SCHEMA_VERSION",
    "AddressAttempt",
    "AddressInfo",
    "AuthInfo",
    "ErrorInfo",
    "ErrorKind",
    "Phase",
    "PhaseResult",
    "ProbeResult",
    "ServerInfo",
    "Status",
    "TlsInfo",
    "WarningInfo",
    "WarningKind",
    "expiry_phrase",
]

SCHEMA_VERSION = 1


class Phase(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    TLS = "tls"
    EHLO_TLS = "ehlo_tls"
    AUTH = "auth"
    QUIT = "quit"


PHASES: tuple[Phase, ...] = tuple(Phase)


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # the probe itself crashed; not a failure of the target

    @property
    def exit_code(self) -> int:
        """Monitoring-plugin convention (Nagios/Icinga/Zabbix)."""
        return {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}[self.value]


class ErrorKind(StrEnum):
    CONFIG = "config"
    DNS = "dns"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    UNREACHABLE = "unreachable"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS_UNSUPPORTED = "starttls_unsupported"
    STARTTLS = "starttls"
    TLS_HANDSHAKE = "tls_handshake"
    CERT_EXPIRED = "cert_expired"
    CERT_HOSTNAME = "cert_hostname"
    CERT_UNTRUSTED = "cert_untrusted"
    AUTH_UNSUPPORTED = "auth_unsupported"
    AUTH_FAILED = "auth_failed"
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    INTERNAL = "internal"  # only with Status.UNKNOWN: a bug in smtpwatch


class WarningKind(StrEnum):
    SLOW = "slow"
    CERT_EXPIRING = "cert_expiring"
    TLS_NOT_OFFERED = "tls_not_offered"


class PhaseResult(Record):
    __slots__ = ("phase", "reached", "ok", "ms", "detail")
    phase: Phase
    reached: bool
    ok: bool
    ms: float | None  # None when not reached
    detail: str | None

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
        object.__setattr__(self, "ms", ms)
        object.__setattr__(self, "detail", detail)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reached": self.reached,
            "ok": self.ok,
            "ms": None if self.ms is None else round(self.ms, 1),
        }


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
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "smtp_code", smtp_code)
        object.__setattr__(self, "enhanced_code", enhanced_code)

    def to_dict(self) -> dict[str, Any]:
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
        object.__setattr__(self, "message", message)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "message": self.message}


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
        object.__setattr__(self, "ip", ip)
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "ms", ms)
        object.__setattr__(self, "error", error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "family": self.family,
            "ok": self.ok,
            "ms": None if self.ms is None else round(self.ms, 1),
            "error": self.error,
        }


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
        object.__setattr__(self, "ip", ip)
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "attempts", attempts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "family": self.family,
            "port": self.port,
            "source": self.source,
            "attempts": [a.to_dict() for a in self.attempts],
        }


class TlsInfo(Record):
    """TLS session and certificate facts.

    ``days_left`` is ``floor((not_after - now) / 1 day)``: 0 means the certificate
    expires within 24 hours, -1 that it expired within the last 24 hours, -3 that it
    expired 2 whole days (and less than 3) ago. Say it in words with ``expiry_phrase``.
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
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "cipher", cipher)
        object.__setattr__(self, "verified", verified)
        object.__setattr__(self, "verify_error", verify_error)
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "issuer", issuer)
        object.__setattr__(self, "sans", sans)
        object.__setattr__(self, "not_before", not_before)
        object.__setattr__(self, "not_after", not_after)
        object.__setattr__(self, "days_left", days_left)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "verified": self.verified,
            "verify_error": self.verify_error,
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "days_left": self.days_left,
        }


class AuthInfo(Record):
    __slots__ = ("mechanism", "tried", "over_tls")
    mechanism: str | None  # the one that succeeded
    tried: tuple[str, ...]  # in order; "PLAIN@tls" style is not used: see over_tls
    over_tls: bool | None

    def __init__(
        self,
        mechanism: str | None = None,
        tried: tuple[str, ...] = (),
        over_tls: bool | None = None,
    ) -> None:
        object.__setattr__(self, "mechanism", mechanism)
        object.__setattr__(self, "tried", tried)
        object.__setattr__(self, "over_tls", over_tls)

    def to_dict(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "tried": list(self.tried), "over_tls": self.over_tls}


class ServerInfo(Record):
    __slots__ = ("banner", "extensions")
    banner: str | None
    extensions: tuple[str, ...]  # EHLO keywords (upper case), the last EHLO seen

    def __init__(self, banner: str | None = None, extensions: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "banner", banner)
        object.__setattr__(self, "extensions", extensions)

    def to_dict(self) -> dict[str, Any]:
        return {"banner": self.banner, "extensions": list(self.extensions)}


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


def _empty_phases() -> tuple[PhaseResult, ...]:
    return tuple(PhaseResult(p) for p in PHASES)


class ProbeResult(Record):
    __slots__ = (
        "target_id",
        "started_at",
        "status",
        "host",
        "port",
        "encryption",
        "error",
        "warnings",
        "phases",
        "address",
        "tls",
        "auth",
        "server",
        "total_ms",
        "schema_version",
    )
    target_id: str
    started_at: str  # ISO-8601 UTC with "Z"
    status: Status
    host: str
    port: int | None
    encryption: str
    error: ErrorInfo | None
    warnings: tuple[WarningInfo, ...]
    phases: tuple[PhaseResult, ...]  # default: every phase, not reached
    address: AddressInfo
    tls: TlsInfo | None
    auth: AuthInfo | None
    server: ServerInfo
    total_ms: float
    schema_version: int

    def __init__(
        self,
        target_id: str,
        started_at: str,
        status: Status,
        host: str = "",
        port: int | None = None,
        encryption: str = "",
        error: ErrorInfo | None = None,
        warnings: tuple[WarningInfo, ...] = (),
        phases: tuple[PhaseResult, ...] | None = None,
        address: AddressInfo | None = None,
        tls: TlsInfo | None = None,
        auth: AuthInfo | None = None,
        server: ServerInfo | None = None,
        total_ms: float = 0.0,
        schema_version: int = SCHEMA_VERSION,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "target_id", target_id)
        set_(self, "started_at", started_at)
        set_(self, "status", status)
        set_(self, "host", host)
        set_(self, "port", port)
        set_(self, "encryption", encryption)
        set_(self, "error", error)
        set_(self, "warnings", warnings)
        set_(self, "phases", _empty_phases() if phases is None else phases)
        set_(self, "address", AddressInfo() if address is None else address)
        set_(self, "tls", tls)
        set_(self, "auth", auth)
        set_(self, "server", ServerInfo() if server is None else server)
        set_(self, "total_ms", total_ms)
        set_(self, "schema_version", schema_version)

    @property
    def ok(self) -> bool:
        """True when the target passed (ok or warning)."""
        return self.status in (Status.OK, Status.WARNING)

    def phase(self, phase: Phase | str) -> PhaseResult:
        wanted = Phase(phase)
        for p in self.phases:
            if p.phase is wanted:
                return p
        return PhaseResult(wanted)

    def to_dict(self) -> dict[str, Any]:
        by_phase = {p.phase: p for p in self.phases}
        return {
            "schema_version": self.schema_version,
            "target_id": self.target_id,
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption,
            "started_at": self.started_at,
            "status": self.status.value,
            "error": None if self.error is None else self.error.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "phases": {p.value: by_phase.get(p, PhaseResult(p)).to_dict() for p in PHASES},
            "address": self.address.to_dict(),
            "tls": None if self.tls is None else self.tls.to_dict(),
            "auth": None if self.auth is None else self.auth.to_dict(),
            "server": self.server.to_dict(),
            "total_ms": round(self.total_ms, 1),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        """Inverse of ``to_dict`` (stored results are read back for status/history/alerts)."""
        err = data.get("error")
        tls = data.get("tls")
        auth = data.get("auth")
        addr = data.get("address") or {}
        server = data.get("server") or {}
        phases_d = data.get("phases") or {}
        return cls(
            target_id=str(data.get("target_id", "")),
            started_at=str(data.get("started_at", "")),
            status=Status(data.get("status", "unknown")),
            host=str(data.get("host") or ""),
            port=_opt_int(data.get("port")),
            encryption=str(data.get("encryption") or ""),
            error=None
            if not err
            else ErrorInfo(
                kind=ErrorKind(err["kind"]),
                phase=None if err.get("phase") is None else Phase(err["phase"]),
                message=str(err.get("message", "")),
                smtp_code=_opt_int(err.get("smtp_code")),
                enhanced_code=err.get("enhanced_code"),
            ),
            warnings=tuple(
                WarningInfo(WarningKind(w["kind"]), str(w.get("message", "")))
                for w in data.get("warnings") or ()
            ),
            phases=tuple(
                PhaseResult(
                    p,
                    reached=bool((phases_d.get(p.value) or {}).get("reached", False)),
                    ok=bool((phases_d.get(p.value) or {}).get("ok", False)),
                    ms=_opt_float((phases_d.get(p.value) or {}).get("ms")),
                )
                for p in PHASES
            ),
            address=AddressInfo(
                ip=addr.get("ip"),
                family=addr.get("family"),
                port=_opt_int(addr.get("port")),
                source=addr.get("source"),
                attempts=tuple(
                    AddressAttempt(
                        ip=str(a.get("ip")),
                        family=str(a.get("family")),
                        ok=bool(a.get("ok")),
                        ms=_opt_float(a.get("ms")),
                        error=a.get("error"),
                    )
                    for a in addr.get("attempts") or ()
                ),
            ),
            tls=None
            if not tls
            else TlsInfo(
                version=tls.get("version"),
                cipher=tls.get("cipher"),
                verified=bool(tls.get("verified")),
                verify_error=tls.get("verify_error"),
                subject=tls.get("subject"),
                issuer=tls.get("issuer"),
                sans=tuple(tls.get("sans") or ()),
                not_before=tls.get("not_before"),
                not_after=tls.get("not_after"),
                days_left=_opt_int(tls.get("days_left")),
            ),
            auth=None
            if not auth
            else AuthInfo(
                mechanism=auth.get("mechanism"),
                tried=tuple(auth.get("tried") or ()),
                over_tls=auth.get("over_tls"),
            ),
            server=ServerInfo(
                banner=server.get("banner"), extensions=tuple(server.get("extensions") or ())
            ),
            total_ms=float(data.get("total_ms") or 0.0),
            schema_version=int(data.get("schema_version") or SCHEMA_VERSION),
        )


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)
