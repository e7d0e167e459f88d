"""Certificate diagnosis: why verification failed, and whether expiry is near.

Certificate facts matter most exactly when verification fails, so a failed
verification reads the certificate again over a second, unverified connection.
"""

from __future__ import annotations

import datetime as dt
import smtplib

from smtpwatch.core.errors import (
    CertExpiredError,
    CertHostnameError,
    CertUntrustedError,
    ProbeError,
)
from smtpwatch.core.kinds import ErrorKind, Phase, WarningKind
from smtpwatch.core.probe.connect import open_socket
from smtpwatch.core.result import TlsInfo, WarningInfo, expiry_phrase
from smtpwatch.core.smtp_client import SmtpClient
from smtpwatch.core.tls import (
    CertFacts,
    classify_verify_error,
    peer_facts,
    tls_info,
    verify_message,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    import ssl

    from smtpwatch.core.deadline import Deadline
    from smtpwatch.core.server_text import ServerTextGuard

__all__ = [
    "CERT_ERRORS",
    "PeerCertificate",
    "expiry_warning",
    "read_certificate_unverified",
    "verify_failure",
]

CERT_ERRORS: dict[ErrorKind, type[ProbeError]] = {
    ErrorKind.CERT_EXPIRED: CertExpiredError,
    ErrorKind.CERT_HOSTNAME: CertHostnameError,
    ErrorKind.CERT_UNTRUSTED: CertUntrustedError,
}

# What an unverified handshake tells: the leaf's facts, the TLS version and the cipher.
PeerCertificate = tuple[CertFacts | None, str | None, str | None]
_NOTHING: PeerCertificate = (None, None, None)


def expiry_warning(
    facts: CertFacts | None, tls: TlsInfo, *, now: dt.datetime, warn_days: int
) -> WarningInfo | None:
    """``cert_expiring`` when the certificate ends within ``warn_days`` of ``now``."""
    if facts is None or facts.not_after is None:
        return None
    days, not_after = tls.days_left, tls.not_after
    left = facts.not_after - now
    # left < 0 only with tls_verify false: verification would have failed.
    if days is None or left >= dt.timedelta(days=warn_days):
        return None
    return WarningInfo(
        WarningKind.CERT_EXPIRING, f"certificate {expiry_phrase(days)} (not after {not_after})"
    )


def verify_failure(
    err: ssl.SSLCertVerificationError,
    peer: PeerCertificate,
    *,
    now: dt.datetime,
    host: str,
    guard: ServerTextGuard,
) -> tuple[TlsInfo, ProbeError]:
    """The result's TLS facts and the error for a failed verification; ``peer`` is
    what ``read_certificate_unverified`` found (all None when it found nothing)."""
    facts, version, cipher = peer
    kind = classify_verify_error(err, facts, now)
    reason = guard.clean(verify_message(err))
    tls = tls_info(
        facts,
        now=now,
        version=version,
        cipher=cipher,
        verified=False,
        verify_error=reason,
        guard=guard,
    )
    days = tls.days_left
    if kind is ErrorKind.CERT_EXPIRED:
        message = "certificate expired"
        if days is not None and days < 0:
            message = f"certificate {expiry_phrase(days)} (not after {tls.not_after})"
    elif kind is ErrorKind.CERT_HOSTNAME:
        names = ", ".join(tls.sans) or "none"
        message = f"certificate is not valid for {host} (names: {names})"
    else:
        message = f"certificate not trusted: {reason}"
    return tls, CERT_ERRORS[kind](message)


def read_certificate_unverified(
    ip: str,
    port: int,
    *,
    host: str,
    implicit_tls: bool,
    ehlo_name: str,
    context: ssl.SSLContext,
    deadline: Deadline,
    guard: ServerTextGuard,
) -> PeerCertificate:
    """A second connection to the same address, same dialogue up to TLS, with an
    unverified ``context``. Shares the deadline; any failure just means no facts."""
    client = SmtpClient(local_hostname=ehlo_name, deadline=deadline, guard=guard)
    client.phase = Phase.TLS
    try:
        sock = open_socket(ip)
        client.attach(sock, host)
        sock.settimeout(deadline.socket_timeout(Phase.TLS))
        sock.connect((ip, port))
        if not implicit_tls:
            if client.getreply()[0] != 220 or client.ehlo()[0] != 250:
                return _NOTHING
            if client.docmd("STARTTLS")[0] != 220:
                return _NOTHING
        tls = client.start_tls(context, server_hostname=host)
        cipher = tls.cipher()
        return peer_facts(tls), tls.version(), None if cipher is None else cipher[0]
    except (ProbeError, OSError, smtplib.SMTPException, ValueError):
        return _NOTHING
    finally:
        # not contextlib.suppress: one import less at every start of the CLI
        try:  # noqa: SIM105
            client.close()
        except OSError:
            pass
