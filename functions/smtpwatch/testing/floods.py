"""Servers that flood a result with bulk: many long EHLO keywords, many SANs.

Used by the tests of the result's bounds and by ``bench/hostile_result.py``. Each
builder returns what a server in ``smtpwatch.testing.servers`` serves: an EHLO reply
for ``HostileServer.scripted(replies={"EHLO": ...})``, a ``ServerCert`` for
``SmtpServer(cert=...)``. ``largest_result`` is the largest result there can be.
"""

from __future__ import annotations

from smtpwatch.core.result import (
    MAX_BANNER,
    MAX_CERT_TEXT,
    MAX_CIPHER,
    MAX_EXTENSION,
    MAX_HOST,
    MAX_ID,
    MAX_IP,
    MAX_LOCATION,
    MAX_MESSAGE,
    MAX_SHORT,
    MAX_WARNING,
    PHASES,
    AddressAttempt,
    AddressInfo,
    AuthInfo,
    ErrorInfo,
    ErrorKind,
    Phase,
    PhaseResult,
    ProbeResult,
    ServerInfo,
    Status,
    TlsInfo,
    WarningInfo,
    WarningKind,
)
from smtpwatch.testing.servers import Certificates, ServerCert

__all__ = [
    "LOOPBACK_NAMES",
    "ehlo_keyword_flood",
    "flood_keyword",
    "largest_result",
    "many_sans_cert",
    "san_name",
]

# The names a probe of a loopback literal (or of the test hostname) verifies against.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def flood_keyword(i: int, length: int) -> str:
    """The ``i``-th distinct keyword, ``length`` characters long (at least 7)."""
    head = f"X{i:05d}"
    return head + "K" * (length - len(head))


def ehlo_keyword_flood(count: int, length: int, *, starttls: bool = False) -> bytes:
    """A ``250`` EHLO reply listing ``count`` distinct keywords of ``length`` bytes
    (then ``STARTTLS`` when asked): 200 keywords of 60 bytes are 13 KB, a reply a
    server may send, but no result should keep."""
    lines = [b"flood.smtpwatch.test"]
    lines += [flood_keyword(i, length).encode("ascii") for i in range(count)]
    if starttls:
        lines.append(b"STARTTLS")
    out = b"".join(b"250-" + line + b"\r\n" for line in lines[:-1])
    return out + b"250 " + lines[-1] + b"\r\n"


def san_name(i: int) -> str:
    """The ``i``-th extra DNS name of ``many_sans_cert``. Short: OpenSSL refuses a
    certificate chain over 100 KB, and 3,000 of these make 70 KB."""
    return f"h{i:04d}.smtpwatch.test"


def many_sans_cert(certs: Certificates, count: int, *, matching: bool = True) -> ServerCert:
    """A leaf from the trusted test CA naming ``count`` extra DNS names; with
    ``matching`` it also names the loopback addresses and the test hostname, so a
    probe of them verifies (without, the certificate fits no probed name)."""
    names = [san_name(i) for i in range(count)]
    if matching:
        names += [certs.hostname, *LOOPBACK_NAMES]
    return certs.issue(*names)


def _at_limit(limit: int) -> str:
    return "a" * limit  # exactly at the limit: kept whole, and as large as a text gets


def largest_result() -> ProbeResult:
    """Every text at its limit and every list at its cap, entries at theirs: the
    largest result there can be (the sum of the limits is what bounds it)."""
    short = _at_limit(MAX_SHORT)
    return ProbeResult(
        target_id=_at_limit(MAX_ID),
        started_at=short,
        status=Status.CRITICAL,
        host=_at_limit(MAX_HOST),
        port=65_535,
        encryption=short,
        error=ErrorInfo(ErrorKind.PROTOCOL, Phase.EHLO_TLS, _at_limit(MAX_MESSAGE), 999, short),
        warnings=tuple(
            WarningInfo(WarningKind.CERT_EXPIRING, _at_limit(MAX_WARNING)) for _ in range(99)
        ),
        phases=tuple(PhaseResult(p, True, False, -999_999_999.9) for p in PHASES),
        address=AddressInfo(
            _at_limit(MAX_IP),
            short,
            65_535,
            short,
            tuple(
                AddressAttempt(_at_limit(MAX_IP), short, False, -999_999_999.9, short)
                for _ in range(99)
            ),
        ),
        tls=TlsInfo(
            short,
            _at_limit(MAX_CIPHER),
            True,
            _at_limit(MAX_CERT_TEXT),
            _at_limit(MAX_CERT_TEXT),
            _at_limit(MAX_CERT_TEXT),
            # 37 bytes each: the most JSON the SAN caps let through (100 entries + a
            # count), most of all with indent=2 (each entry on a line of its own)
            tuple(f"{i:09d}".ljust(37, "s") for i in range(5_000)),
            short,
            short,
            -(10**7),
        ),
        auth=AuthInfo(short, tuple(f"{i:03d}".ljust(MAX_SHORT, "m") for i in range(99)), True),
        server=ServerInfo(
            _at_limit(MAX_BANNER),
            tuple(f"{i:09d}".ljust(MAX_EXTENSION, "K") for i in range(5_000)),
        ),
        total_ms=-999_999_999.9,
        location=_at_limit(MAX_LOCATION),
    )
