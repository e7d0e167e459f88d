"""The probe's one result: timed phases, the failure (if any), TLS and AUTH facts.

The shape of ``ProbeResult.to_dict()`` is a public contract (CLI ``--json``, the
results table, alert documents): keys are stable and documented in the README;
``SCHEMA_VERSION`` changes when a key changes meaning or disappears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
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


@dataclass(frozen=True, slots=True)
class PhaseResult:
    phase: Phase
    reached: bool = False
    ok: bool = False
    ms: float | None = None  # None when not reached
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reached": self.reached,
            "ok": self.ok,
            "ms": None if self.ms is None else round(self.ms, 1),
        }


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    kind: ErrorKind
    phase: Phase | None
    message: str  # one line, never a secret
    smtp_code: int | None = None
    enhanced_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "phase": None if self.phase is None else self.phase.value,
            "smtp_code": self.smtp_code,
            "enhanced_code": self.enhanced_code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class WarningInfo:
    kind: WarningKind
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class AddressAttempt:
    ip: str
    family: str  # "ipv4" | "ipv6"
    ok: bool
    ms: float | None
    error: str | None = None  # failure kind of this attempt, e.g. "connect_refused"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "family": self.family,
            "ok": self.ok,
            "ms": None if self.ms is None else round(self.ms, 1),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class AddressInfo:
    ip: str | None = None  # the address finally used (None if no connect succeeded)
    family: str | None = None
    port: int | None = None
    source: str | None = None  # "literal" | "dns_hosts" | "dns" | "cache"
    attempts: tuple[AddressAttempt, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "family": self.family,
            "port": self.port,
            "source": self.source,
            "attempts": [a.to_dict() for a in self.attempts],
        }


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str | None = None
    cipher: str | None = None
    verified: bool = False
    verify_error: str | None = None
    subject: str | None = None
    issuer: str | None = None
    sans: tuple[str, ...] = ()
    not_before: str | None = None  # ISO-8601 UTC
    not_after: str | None = None  # ISO-8601 UTC
    days_left: int | None = None

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


@dataclass(frozen=True, slots=True)
class AuthInfo:
    mechanism: str | None = None  # the one that succeeded
    tried: tuple[str, ...] = ()  # in order; "PLAIN@tls" style is not used: see over_tls
    over_tls: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "tried": list(self.tried), "over_tls": self.over_tls}


@dataclass(frozen=True, slots=True)
class ServerInfo:
    banner: str | None = None
    extensions: tuple[str, ...] = ()  # EHLO keywords (upper case), the last EHLO seen

    def to_dict(self) -> dict[str, Any]:
        return {"banner": self.banner, "extensions": list(self.extensions)}


def _empty_phases() -> tuple[PhaseResult, ...]:
    return tuple(PhaseResult(p) for p in PHASES)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target_id: str
    started_at: str  # ISO-8601 UTC with "Z"
    status: Status
    host: str = ""
    port: int | None = None
    encryption: str = ""
    error: ErrorInfo | None = None
    warnings: tuple[WarningInfo, ...] = ()
    phases: tuple[PhaseResult, ...] = field(default_factory=_empty_phases)
    address: AddressInfo = field(default_factory=AddressInfo)
    tls: TlsInfo | None = None
    auth: AuthInfo | None = None
    server: ServerInfo = field(default_factory=ServerInfo)
    total_ms: float = 0.0
    schema_version: int = SCHEMA_VERSION

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
