"""``ProbeResult``: one probe's whole result, and its document (``to_dict`` and
``from_dict``), whose shape docs/probe.md describes."""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from smtpwatch.core.kinds import PHASES, ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.record import Record
from smtpwatch.core.result.cutting import cut, cut_list, shorten
from smtpwatch.core.result.limits import (
    MAX_ATTEMPTS,
    MAX_HOST,
    MAX_ID,
    MAX_LOCATION,
    MAX_LOCATIONS,
    MAX_SAN,
    MAX_SHORT,
    MAX_WARNINGS,
    PORTS,
    SCHEMA_VERSIONS,
    VERDICT_ATTEMPTS,
    VERDICT_EXTENSIONS,
    VERDICT_SANS,
    VERDICT_SANS_BYTES,
    duration,
    in_range,
    tenth,
)
from smtpwatch.core.result.parts import (
    AddressAttempt,
    AddressInfo,
    AuthInfo,
    ErrorInfo,
    PhaseResult,
    ServerInfo,
    TlsInfo,
    WarningInfo,
)
from smtpwatch.core.result.vote import LocationVote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SCHEMA_VERSION", "ProbeResult"]

SCHEMA_VERSION = 1


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
        "location",
        "locations",
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
    location: str  # where it ran ("": stored before results said so)
    locations: tuple[LocationVote, ...]  # a verdict's votes, in the slot's order; () else

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
        location: str = "",
        locations: tuple[LocationVote, ...] = (),
    ) -> None:
        set_ = object.__setattr__
        set_(self, "target_id", cut(target_id, MAX_ID))
        set_(self, "started_at", cut(started_at, MAX_SHORT))
        set_(self, "status", status)
        set_(self, "host", cut(host, MAX_HOST))
        set_(self, "port", in_range(port, PORTS))
        set_(self, "encryption", cut(encryption, MAX_SHORT))
        set_(self, "error", error)
        set_(self, "warnings", tuple(warnings[:MAX_WARNINGS]))
        set_(self, "phases", _empty_phases() if phases is None else phases)
        set_(self, "address", AddressInfo() if address is None else address)
        set_(self, "tls", tls)
        set_(self, "auth", auth)
        set_(self, "server", ServerInfo() if server is None else server)
        set_(self, "total_ms", duration(total_ms) or 0.0)
        version = in_range(schema_version, SCHEMA_VERSIONS)
        set_(self, "schema_version", SCHEMA_VERSION if version is None else version)
        set_(self, "location", cut(location, MAX_LOCATION))
        set_(self, "locations", tuple(locations[:MAX_LOCATIONS]))
        if self.locations:
            _make_room_for_votes(self)

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
        # The documented shape, not the slots: schema_version first, "phases" an
        # object keyed by phase with every phase present, total_ms to 0.1 ms.
        by_phase = {p.phase: p for p in self.phases}
        return {
            "schema_version": self.schema_version,
            "target_id": self.target_id,
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption,
            "started_at": self.started_at,
            "location": self.location,
            "status": self.status.value,
            "error": None if self.error is None else self.error.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "phases": {p.value: by_phase.get(p, PhaseResult(p)).to_dict() for p in PHASES},
            "address": self.address.to_dict(),
            "tls": None if self.tls is None else self.tls.to_dict(),
            "auth": None if self.auth is None else self.auth.to_dict(),
            "server": self.server.to_dict(),
            "total_ms": tenth(self.total_ms),
        } | ({"locations": [v.to_dict() for v in self.locations]} if self.locations else {})

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
                # (the constructor keeps no more: do not build the rest)
                for w in (data.get("warnings") or ())[:MAX_WARNINGS]
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
                    for a in (addr.get("attempts") or ())[:MAX_ATTEMPTS]
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
                token_ms=auth.get("token_ms"),
            ),
            server=ServerInfo(
                banner=server.get("banner"), extensions=tuple(server.get("extensions") or ())
            ),
            total_ms=float(data.get("total_ms") or 0.0),
            schema_version=int(data.get("schema_version") or SCHEMA_VERSION),
            location=str(data.get("location") or ""),  # older results have none
            locations=_votes(data.get("locations")),
        )


def _votes(raw: Any) -> tuple[LocationVote, ...]:
    """A stored verdict's votes: the first ``MAX_LOCATIONS`` entries, unusable ones
    dropped (a result that is no verdict has none)."""
    if not isinstance(raw, list):
        return ()
    votes = (LocationVote.from_dict(entry) for entry in raw[:MAX_LOCATIONS])
    return tuple(v for v in votes if v is not None)


def _make_room_for_votes(result: ProbeResult) -> None:
    """A verdict keeps less of its carried vote's bulk (extensions, SANs, address
    attempts): its votes take that room within ``RESULT_MAX_BYTES``."""
    set_ = object.__setattr__
    server, tls, address = result.server, result.tls, result.address
    if len(server.extensions) > VERDICT_EXTENSIONS:
        set_(
            result,
            "server",
            server.replace(extensions=shorten(server.extensions, VERDICT_EXTENSIONS)),
        )
    if tls is not None and len(tls.sans) > 1:
        sans = cut_list(tls.sans, VERDICT_SANS - 1, MAX_SAN, VERDICT_SANS_BYTES)
        set_(result, "tls", tls.replace(sans=sans))
    if len(address.attempts) > VERDICT_ATTEMPTS:
        set_(result, "address", address.replace(attempts=address.attempts[:VERDICT_ATTEMPTS]))


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)
