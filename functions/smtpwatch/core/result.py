"""The probe's one result: timed phases, the failure (if any), TLS and AUTH facts.

The shape of ``ProbeResult.to_dict()`` is a public contract (CLI ``--json``, the
results table, alert documents): keys are stable and documented in docs/probe.md;
``SCHEMA_VERSION`` changes when a key changes meaning or disappears.

A result is bounded by construction. Server text is hostile input: a server may send
a thousand long EHLO keywords or a certificate with thousands of names, and a stored
document read back may hold anything. So every record below cuts its own fields in
its constructor, the one path by which the probe, ``from_dict`` (SQLite rows,
DynamoDB items, Lambda events), ``replace`` and the service build results, with the
limits below. Together they keep ``json.dumps(result.to_dict())`` at most
``RESULT_MAX_BYTES`` (16 KB) — also with ``indent=2`` and as UTF-8 — whatever went in.

- Text limits count bytes of JSON: a printable ASCII character is 1 byte, ``"`` and
  ``\\`` are 2, any other character 6 (12 beyond U+FFFF), as ``json.dumps`` escapes
  them. UTF-8 never needs more, so a limit holds in every store. A text that was cut
  ends in ``CUT_MARK`` ("…"); it is cut between whole characters, and a lone
  surrogate (which no UTF-8 store accepts) becomes U+FFFD.
- Lists of text (``server.extensions``, ``tls.sans``, ``auth.tried``) keep their first
  entries, each cut as a text; when entries were left out, a last entry
  ``"… and N more"`` says how many (``left_out`` reads N back). No SAN, keyword or
  mechanism can look like it: SANs start with their kind (``DNS:``), keywords and
  mechanisms are single words. A list read back with that entry keeps its count, so
  bounding a bounded result changes nothing.
- ``warnings`` and ``address.attempts`` keep their first ``MAX_WARNINGS`` and
  ``MAX_ATTEMPTS`` entries (the address used is ``address.ip``).
- Numbers out of range (``port`` outside 0-65535, ``smtp_code`` outside 0-999,
  ``days_left`` beyond ±10,000,000, a duration in ms beyond ±1e9 or not finite) are
  dropped to ``None`` (``total_ms`` to 0), not stored.

Ordinary results are far from every limit and are kept exactly.
"""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from smtpwatch.core.kinds import PHASES, ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CUT_MARK",
    "MAX_ATTEMPTS",
    "MAX_BANNER",
    "MAX_CERT_TEXT",
    "MAX_CIPHER",
    "MAX_DETAIL",
    "MAX_EXTENSION",
    "MAX_EXTENSIONS",
    "MAX_HOST",
    "MAX_ID",
    "MAX_IP",
    "MAX_MESSAGE",
    "MAX_SAN",
    "MAX_SANS",
    "MAX_SANS_BYTES",
    "MAX_SHORT",
    "MAX_TRIED",
    "MAX_WARNING",
    "MAX_WARNINGS",
    "PHASES",
    "RESULT_MAX_BYTES",
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
    "left_out",
    "shorten",
]

SCHEMA_VERSION = 1

# ---- bounds: what a result keeps (see the module docstring) ---------------------------
# Text limits are bytes of JSON (ASCII characters); list caps are entries.
RESULT_MAX_BYTES = 16_384  # the whole result's JSON; the limits below add up to less
MAX_ID = 256  # target_id (a valid one has at most 128)
MAX_HOST = 256  # host (a DNS name has at most 253)
MAX_SHORT = 32  # encryption, started_at, enhanced_code, families, sources, TLS
#                 version, dates, mechanisms, an attempt's error kind
MAX_MESSAGE = 512  # error.message
MAX_WARNING = 200  # each warning's message
MAX_WARNINGS = 5  # warnings kept (a probe makes at most one of each kind)
MAX_DETAIL = 256  # a phase's detail (not in to_dict)
MAX_IP = 64  # an address, with an IPv6 zone
MAX_ATTEMPTS = 6  # address.attempts kept, the first ones
MAX_CIPHER = 64  # tls.cipher
MAX_CERT_TEXT = 256  # tls.subject, tls.issuer, tls.verify_error
MAX_SANS = 100  # tls.sans kept...
MAX_SAN = 256  # ...each at most this long...
MAX_SANS_BYTES = 4_096  # ...and all of them together at most this
MAX_TRIED = 12  # auth.tried kept (each method at most twice: plain, then TLS)
MAX_BANNER = 512  # server.banner
MAX_EXTENSIONS = 48  # server.extensions kept (real servers list about 10-20)...
MAX_EXTENSION = 64  # ...each at most this long
CUT_MARK = "…"  # ends a text that was cut

_MARK_BYTES = 6  # CUT_MARK as JSON: "\u2026"
_MAX_COUNT = 10**18 - 1  # "… and N more": N is at most 18 digits
_MORE_HEAD, _MORE_TAIL = CUT_MARK + " and ", " more"
_PORTS = (0, 65_535)
_SMTP_CODES = (0, 999)
_DAYS = (-10_000_000, 10_000_000)
_SCHEMA_VERSIONS = (0, 1_000_000)
_MS = 1e9  # a duration beyond ±11 days is no clock's reading (DynamoDB refuses > 1e125)
_ESCAPED_ASCII = frozenset('"\\\b\f\n\r\t')  # two bytes each as JSON


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
        object.__setattr__(self, "ms", _duration(ms))
        object.__setattr__(self, "detail", _cut_opt(detail, MAX_DETAIL))

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
        object.__setattr__(self, "message", _cut(message, MAX_MESSAGE))
        object.__setattr__(self, "smtp_code", _in_range(smtp_code, _SMTP_CODES))
        object.__setattr__(self, "enhanced_code", _cut_opt(enhanced_code, MAX_SHORT))

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
        object.__setattr__(self, "message", _cut(message, MAX_WARNING))

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
        object.__setattr__(self, "ip", _cut(ip, MAX_IP))
        object.__setattr__(self, "family", _cut(family, MAX_SHORT))
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "ms", _duration(ms))
        object.__setattr__(self, "error", _cut_opt(error, MAX_SHORT))

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
        object.__setattr__(self, "ip", _cut_opt(ip, MAX_IP))
        object.__setattr__(self, "family", _cut_opt(family, MAX_SHORT))
        object.__setattr__(self, "port", _in_range(port, _PORTS))
        object.__setattr__(self, "source", _cut_opt(source, MAX_SHORT))
        object.__setattr__(self, "attempts", tuple(attempts[:MAX_ATTEMPTS]))

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
        object.__setattr__(self, "version", _cut_opt(version, MAX_SHORT))
        object.__setattr__(self, "cipher", _cut_opt(cipher, MAX_CIPHER))
        object.__setattr__(self, "verified", verified)
        object.__setattr__(self, "verify_error", _cut_opt(verify_error, MAX_CERT_TEXT))
        object.__setattr__(self, "subject", _cut_opt(subject, MAX_CERT_TEXT))
        object.__setattr__(self, "issuer", _cut_opt(issuer, MAX_CERT_TEXT))
        object.__setattr__(self, "sans", _cut_list(sans, MAX_SANS, MAX_SAN, MAX_SANS_BYTES))
        object.__setattr__(self, "not_before", _cut_opt(not_before, MAX_SHORT))
        object.__setattr__(self, "not_after", _cut_opt(not_after, MAX_SHORT))
        object.__setattr__(self, "days_left", _in_range(days_left, _DAYS))

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
        object.__setattr__(self, "mechanism", _cut_opt(mechanism, MAX_SHORT))
        object.__setattr__(self, "tried", _cut_list(tried, MAX_TRIED, MAX_SHORT))
        object.__setattr__(self, "over_tls", None if over_tls is None else bool(over_tls))

    def to_dict(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "tried": list(self.tried), "over_tls": self.over_tls}


class ServerInfo(Record):
    """The greeting's text (``MAX_BANNER``) and the EHLO keywords: the first
    ``MAX_EXTENSIONS``, then ``"… and N more"`` when the server listed more."""

    __slots__ = ("banner", "extensions")
    banner: str | None
    extensions: tuple[str, ...]  # EHLO keywords (upper case), the last EHLO seen

    def __init__(self, banner: str | None = None, extensions: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "banner", _cut_opt(banner, MAX_BANNER))
        object.__setattr__(self, "extensions", _cut_list(extensions, MAX_EXTENSIONS, MAX_EXTENSION))

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
        set_(self, "target_id", _cut(target_id, MAX_ID))
        set_(self, "started_at", _cut(started_at, MAX_SHORT))
        set_(self, "status", status)
        set_(self, "host", _cut(host, MAX_HOST))
        set_(self, "port", _in_range(port, _PORTS))
        set_(self, "encryption", _cut(encryption, MAX_SHORT))
        set_(self, "error", error)
        set_(self, "warnings", tuple(warnings[:MAX_WARNINGS]))
        set_(self, "phases", _empty_phases() if phases is None else phases)
        set_(self, "address", AddressInfo() if address is None else address)
        set_(self, "tls", tls)
        set_(self, "auth", auth)
        set_(self, "server", ServerInfo() if server is None else server)
        set_(self, "total_ms", _duration(total_ms) or 0.0)
        version = _in_range(schema_version, _SCHEMA_VERSIONS)
        set_(self, "schema_version", SCHEMA_VERSION if version is None else version)

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


# ---- bounds: the cutting every constructor above applies ------------------------------


def left_out(entries: tuple[str, ...]) -> int:
    """How many entries a bounded list left out: the N of a last ``"… and N more"``
    entry, else 0."""
    if not entries:
        return 0
    last = entries[-1]
    if not (isinstance(last, str) and last.startswith(_MORE_HEAD) and last.endswith(_MORE_TAIL)):
        return 0
    digits = last[len(_MORE_HEAD) : -len(_MORE_TAIL)]
    if not (0 < len(digits) <= 18 and digits.isascii() and digits.isdigit()):
        return 0
    return 0 if digits[0] == "0" else int(digits)


def shorten(entries: tuple[str, ...] | list[str], cap: int) -> tuple[str, ...]:
    """A list of a result (``sans``, ``extensions``, ``tried``) cut further, for a copy
    that must be smaller (state items, alerts): at most ``cap`` entries in all; when
    any were left out, the last one is ``"… and N more"`` and N counts them all, those
    an earlier cut left out included."""
    if len(entries) <= cap:
        return tuple(entries)
    return _cut_list(entries, max(cap - 1, 0), MAX_SAN)


def _char_weight(ch: str) -> int:
    code = ord(ch)
    if 0x20 <= code < 0x7F:
        return 2 if ch in _ESCAPED_ASCII else 1
    if ch in _ESCAPED_ASCII:
        return 2
    return 12 if code > 0xFFFF else 6  # "\uXXXX", or a pair of them


def _whole(text: str) -> str:
    """``text`` with every surrogate made valid: a pair split in two code points is
    joined, a lone one becomes U+FFFD (no UTF-8 store accepts it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _cut_weighed(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to at most ``limit`` bytes of JSON, and its weight."""
    if len(text) <= limit and text.isascii() and text.isprintable():
        weight = len(text) + text.count('"') + text.count("\\")
        if weight <= limit:
            return text, weight  # the common case: printable ASCII, short
    # Every character weighs at least 1, so limit + 1 characters are enough to decide
    # (and a huge text costs no more than a short one).
    head = _whole(text[: limit + 1])
    weights = [_char_weight(ch) for ch in head]
    total = sum(weights)
    if total <= limit:
        return head, total  # whole (len(text) <= limit: the head is all of it)
    room, used, end = limit - _MARK_BYTES, 0, 0
    while end < len(head) and used + weights[end] <= room:
        used += weights[end]
        end += 1
    return head[:end] + CUT_MARK, used + _MARK_BYTES


def _cut(text: str, limit: int) -> str:
    # Fast path (every field of every result read back passes here): printable ASCII
    # weighs at most 2 bytes a character.
    if type(text) is str:
        if len(text) <= limit >> 1 and text.isascii() and text.isprintable():
            return text
    else:  # a stored document may hold anything
        text = str(text)
    return _cut_weighed(text, limit)[0]


def _cut_opt(text: str | None, limit: int) -> str | None:
    return None if text is None else _cut(text, limit)


def _cut_list(
    entries: tuple[str, ...] | list[str], cap: int, each: int, total: int | None = None
) -> tuple[str, ...]:
    """The first entries (at most ``cap``, each cut to ``each``, together at most
    ``total`` bytes of JSON), then ``"… and N more"`` when any were left out."""
    previous = left_out(tuple(entries[-1:]))
    if previous:
        entries = entries[:-1]
    if total is None and len(entries) <= cap:
        kept = [_cut(entry, each) for entry in entries]  # the common case: a short list
    else:
        kept = []
        used = 0
        for entry in entries[:cap]:
            text, weight = _cut_weighed(entry if type(entry) is str else str(entry), each)
            used += weight + 4  # quotes, comma and space
            if total is not None and used > total:
                break
            kept.append(text)
    dropped = min(len(entries) - len(kept) + previous, _MAX_COUNT)
    if dropped:
        kept.append(f"{_MORE_HEAD}{dropped}{_MORE_TAIL}")
    return tuple(kept)


def _duration(ms: float | None) -> float | None:
    """``ms``, or None when no clock could have measured it (also inf and nan)."""
    return ms if ms is not None and -_MS <= ms <= _MS else None


def _in_range(value: int | None, bounds: tuple[int, int]) -> int | None:
    """``value``, or None when it is out of ``bounds`` (a number no server or store
    gives honestly; its digits could fill the result)."""
    if value is None:
        return None
    low, high = bounds
    return value if low <= value <= high else None
