"""TLS for the probe: cached client contexts, certificate facts, verify-error classes.

``ContextCache`` builds a context once per ``(verify, ca_bundle)``, with the same
verification flags on every Python version. Certificate facts come from a verified
handshake or from the raw certificate; ``tls_info`` turns them into the result's TLS
part, every text field through the probe's ``ServerTextGuard``.
"""

from __future__ import annotations

import _thread
import datetime as dt
import os
import ssl
from collections.abc import Callable

from smtpwatch.core.kinds import ErrorKind
from smtpwatch.core.record import Record
from smtpwatch.core.result import TlsInfo
from smtpwatch.core.server_text import ServerTextGuard, printable

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAX_BUNDLE_CONTEXTS",
    "CertFacts",
    "ContextCache",
    "cert_facts_from_der",
    "cert_facts_from_dict",
    "classify_verify_error",
    "tls_info",
]

# OpenSSL X509_V_ERR_* codes the probe tells apart.
_X509_V_ERR_CERT_NOT_YET_VALID = 9
_X509_V_ERR_CERT_HAS_EXPIRED = 10
_X509_V_ERR_HOSTNAME_MISMATCH = 62
_X509_V_ERR_IP_ADDRESS_MISMATCH = 64

_VERIFY_FLAGS = ssl.VERIFY_X509_TRUSTED_FIRST | ssl.VERIFY_X509_PARTIAL_CHAIN


# Contexts with a target's own ca_bundle kept at most (least recently used dropped
# first): a warm Lambda container or a long `smtpwatch run` sees every bundle of the
# table over time, and each context holds its parsed CA store.
MAX_BUNDLE_CONTEXTS = 64


class ContextCache:
    """Client SSL contexts keyed by ``(verify, ca_bundle)``; thread-safe. The two
    system-store contexts stay; ``max_bundles`` bounds those built from a target's own
    ``ca_bundle``."""

    def __init__(self, *, max_bundles: int = MAX_BUNDLE_CONTEXTS) -> None:
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        self._max_bundles = max(1, max_bundles)
        self._lock = _thread.allocate_lock()  # threading.Lock without importing threading

    def get(self, *, verify: bool, ca_bundle: str | None) -> ssl.SSLContext:
        key = (verify, ca_bundle if verify else None)
        with self._lock:
            ctx = self._contexts.pop(key, None)  # re-inserted below: newest last
            if ctx is None:
                ctx = _build(verify=verify, ca_bundle=key[1])
            self._contexts[key] = ctx
            if key[1] is not None:
                bundles = [k for k in self._contexts if k[1] is not None]
                for old in bundles[: max(0, len(bundles) - self._max_bundles)]:
                    del self._contexts[old]
            return ctx

    def __len__(self) -> int:
        return len(self._contexts)


def _build(*, verify: bool, ca_bundle: str | None) -> ssl.SSLContext:
    if not verify:
        # Unverified: facts are still read (from DER); nothing is trusted or checked.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_bundle:
        ctx = ssl.create_default_context(cadata=ca_bundle)
    else:
        ctx = ssl.create_default_context()
    ctx.verify_flags = _VERIFY_FLAGS
    return ctx


# ------------------------------------------------------------------- certificate facts


class CertFacts(Record):
    """What the leaf certificate says (subject, issuer, SANs, validity)."""

    # In constructor order, as Record needs (replace, pickling).
    __slots__ = ("subject", "issuer", "sans", "not_before", "not_after")  # noqa: RUF023

    subject: str | None
    issuer: str | None
    sans: tuple[str, ...]
    not_before: dt.datetime | None
    not_after: dt.datetime | None

    def __init__(
        self,
        subject: str | None,
        issuer: str | None,
        sans: tuple[str, ...],
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
    ) -> None:
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "issuer", issuer)
        object.__setattr__(self, "sans", sans)
        object.__setattr__(self, "not_before", not_before)
        object.__setattr__(self, "not_after", not_after)

    def expired(self, now: dt.datetime) -> bool:
        return self.not_after is not None and self.not_after < now


def _rdn_text(name: Any) -> str | None:
    # getpeercert()'s name: a tuple of RDNs, each a tuple of (attribute, value) pairs.
    if not name:
        return None
    parts = []
    for rdn in name:
        for attr, value in rdn:
            parts.append(f"{_SHORT.get(attr, attr)}={value}")
    return ", ".join(parts)


_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _cert_time(value: Any) -> dt.datetime | None:
    """``notAfter`` text as OpenSSL prints it (``"Jun  1 12:00:00 2027 GMT"``).

    Parsed here rather than with ``ssl.cert_time_to_seconds``: that goes through
    ``time.strptime``, whose first use imports ``_strptime`` (~4 ms per start,
    bench/import_cost.py).
    """
    if not value:
        return None
    try:
        month, day, hms, year, zone = str(value).split()
        hour, minute, second = hms.split(":")
        if zone != "GMT" or not (day + hour + minute + second + year).isdigit():
            return None
        leap = int(second) == 60  # a leap second, as strptime accepts it
        moment = dt.datetime(
            int(year),
            _MONTHS.index(month.lower()) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second) - leap,
            tzinfo=dt.UTC,
        )
        return moment + dt.timedelta(seconds=1) if leap else moment
    except (ValueError, OverflowError):
        return None


def cert_facts_from_dict(cert: dict[str, Any]) -> CertFacts:
    """Facts from a ``getpeercert()``-style dict."""
    sans = tuple(f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ()))
    return CertFacts(
        subject=_rdn_text(cert.get("subject")),
        issuer=_rdn_text(cert.get("issuer")),
        sans=sans,
        not_before=_cert_time(cert.get("notBefore")),
        not_after=_cert_time(cert.get("notAfter")),
    )


def cert_facts_from_der(der: bytes) -> CertFacts | None:
    """Facts from DER bytes, or None if they cannot be decoded."""
    # The ssl module's X.509 decoder reads only files; the file lives for this call.
    # (tempfile is imported here: only unverified handshakes need it, and it costs a
    # few ms of start-up for every `smtpwatch probe`.)
    import tempfile

    decode: Callable[[str], dict[str, Any]] | None = getattr(ssl._ssl, "_test_decode_cert", None)  # type: ignore[attr-defined]
    if decode is None:
        return None
    # The facts are a bonus: a machine with no writable temporary directory reports
    # none rather than failing the probe of a healthy server.
    try:
        fd, path = tempfile.mkstemp(prefix="smtpwatch-", suffix=".pem")
    except OSError:
        return None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        return cert_facts_from_dict(decode(path))
    except (ssl.SSLError, ValueError, OSError):
        return None
    finally:
        os.unlink(path)


def peer_facts(sock: ssl.SSLSocket) -> CertFacts | None:
    """Facts of the peer's leaf certificate, verified or not."""
    cert = sock.getpeercert()
    if cert:
        return cert_facts_from_dict(cert)
    der = sock.getpeercert(binary_form=True)
    return cert_facts_from_der(der) if der else None


def tls_info(
    facts: CertFacts | None,
    *,
    now: dt.datetime,
    version: str | None,
    cipher: str | None,
    verified: bool,
    verify_error: str | None = None,
    guard: ServerTextGuard | None = None,
) -> TlsInfo:
    """The result's TLS facts; every text field cleaned by ``guard`` (None: control
    characters only)."""
    clean = (guard or ServerTextGuard()).clean

    def text(value: str | None) -> str | None:
        return None if value is None else clean(value)

    days_left = None
    if facts is not None and facts.not_after is not None:
        # Whole days, rounded down: 0 means "expires within 24 hours", -1 "expired".
        days_left = (facts.not_after - now) // dt.timedelta(days=1)
    return TlsInfo(
        version=version,
        cipher=cipher,
        verified=verified,
        verify_error=text(verify_error),
        subject=None if facts is None else text(facts.subject),
        issuer=None if facts is None else text(facts.issuer),
        sans=() if facts is None else _clean_sans(facts.sans, clean),
        not_before=None if facts is None else _iso(facts.not_before),
        not_after=None if facts is None else _iso(facts.not_after),
        days_left=days_left,
    )


def _clean_sans(sans: tuple[str, ...], clean: Callable[..., str]) -> tuple[str, ...]:
    # One pass over all names (a password may be split over two of them); a name's own
    # control characters, line breaks included, are replaced first, so the lines of
    # the joined text are the names.
    if not sans:
        return ()
    joined = "\n".join(printable(san) for san in sans)
    return tuple(clean(joined, keep_newlines=True).split("\n"))


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def classify_verify_error(
    err: ssl.SSLCertVerificationError, facts: CertFacts | None, now: dt.datetime
) -> ErrorKind:
    """cert_expired / cert_hostname / cert_untrusted for a failed verification.

    OpenSSL reports the hostname mismatch before the expiry, so the certificate's own
    dates decide first: an expired certificate is ``cert_expired`` even if its name
    is also wrong (the more urgent fix).
    """
    code = getattr(err, "verify_code", None)
    if code == _X509_V_ERR_CERT_HAS_EXPIRED or (facts is not None and facts.expired(now)):
        return ErrorKind.CERT_EXPIRED
    if code in (_X509_V_ERR_HOSTNAME_MISMATCH, _X509_V_ERR_IP_ADDRESS_MISMATCH):
        return ErrorKind.CERT_HOSTNAME
    return ErrorKind.CERT_UNTRUSTED


def verify_message(err: ssl.SSLCertVerificationError) -> str:
    text = getattr(err, "verify_message", None) or str(err)
    return str(text).strip().rstrip(".")
