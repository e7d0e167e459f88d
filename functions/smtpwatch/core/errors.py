"""smtpwatch's exceptions: bad configuration, unresolvable secrets, and the probe's
failures (one class per failure class, which ``probe()`` turns into a result and never
raises)."""

from __future__ import annotations

from smtpwatch.core.kinds import ErrorKind

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import ClassVar

    from smtpwatch.core.kinds import Phase

__all__ = [
    "AuthFailedError",
    "AuthUnsupportedError",
    "BannerError",
    "CertExpiredError",
    "CertExpiringError",
    "CertHostnameError",
    "CertUntrustedError",
    "ConfigError",
    "ConnectRefusedError",
    "ConnectTimeoutError",
    "DnsError",
    "EhloError",
    "OAuthTokenError",
    "ProbeConfigError",
    "ProbeError",
    "ProbeTimeoutError",
    "ProtocolError",
    "SecretError",
    "SlowError",
    "SmtpwatchError",
    "StartTlsError",
    "StartTlsUnsupportedError",
    "TlsError",
    "TlsHandshakeError",
    "UnreachableError",
]


class SmtpwatchError(Exception):
    """Base of every smtpwatch exception."""


class ConfigError(SmtpwatchError, ValueError):
    """A target field or option has a bad value; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


class SecretError(SmtpwatchError):
    """A password could not be resolved, or may not be sent to this host."""


# The probe's failures. Builtin bases let generic code catch them naturally (a
# ProbeTimeoutError is a TimeoutError). Each concrete class owns exactly one ErrorKind.


class ProbeError(SmtpwatchError):
    """A failure inside smtpwatch's probe itself; ``str()`` is the one-line message."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        phase: Phase | None = None,
        smtp_code: int | None = None,
        enhanced_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.phase = phase
        self.smtp_code = smtp_code
        self.enhanced_code = enhanced_code

    def __str__(self) -> str:
        return self.message

    @property
    def error_kind(self) -> ErrorKind:
        return self.kind


class ProbeConfigError(ProbeError, ValueError):
    """The target cannot be probed as configured."""

    kind = ErrorKind.CONFIG


class DnsError(ProbeError, LookupError):
    """The host name did not resolve to a usable address."""

    kind = ErrorKind.DNS


class ConnectRefusedError(ProbeError, ConnectionRefusedError):
    """Every address refused the connection."""

    kind = ErrorKind.CONNECT_REFUSED


class ConnectTimeoutError(ProbeError, TimeoutError):
    """No address accepted the connection in time."""

    kind = ErrorKind.CONNECT_TIMEOUT


class UnreachableError(ProbeError, ConnectionError):
    """No route to any address (network or host unreachable)."""

    kind = ErrorKind.UNREACHABLE


class BannerError(ProbeError, ConnectionError):
    """The greeting was missing, not 220, or the connection closed before it."""

    kind = ErrorKind.BANNER


class EhloError(ProbeError, ConnectionError):
    """EHLO (and the HELO fallback) was refused."""

    kind = ErrorKind.EHLO


class StartTlsUnsupportedError(ProbeError, ConnectionError):
    """The server does not offer STARTTLS and the target requires it."""

    kind = ErrorKind.STARTTLS_UNSUPPORTED


class StartTlsError(ProbeError, ConnectionError):
    """The server refused the STARTTLS command."""

    kind = ErrorKind.STARTTLS


class TlsError(ProbeError, ConnectionError):
    """Base of the TLS failures; never raised itself."""


class TlsHandshakeError(TlsError):
    """The TLS handshake failed for a reason other than the certificate."""

    kind = ErrorKind.TLS_HANDSHAKE


class CertExpiredError(TlsError):
    """The server's certificate has expired (or is not yet valid)."""

    kind = ErrorKind.CERT_EXPIRED


class CertHostnameError(TlsError):
    """The server's certificate does not name the host."""

    kind = ErrorKind.CERT_HOSTNAME


class CertUntrustedError(TlsError):
    """The server's certificate does not chain to a trusted root."""

    kind = ErrorKind.CERT_UNTRUSTED


class CertExpiringError(TlsError):
    """The certificate expires sooner than a check's critical number of days."""

    kind = ErrorKind.CERT_EXPIRING


class AuthUnsupportedError(ProbeError, PermissionError):
    """No AUTH mechanism smtpwatch can use is offered, or AUTH is not allowed here."""

    kind = ErrorKind.AUTH_UNSUPPORTED


class AuthFailedError(ProbeError, PermissionError):
    """The server rejected the credentials."""

    kind = ErrorKind.AUTH_FAILED


class OAuthTokenError(ProbeError, PermissionError):
    """The identity provider gave no access token (its error, a timeout or a 5xx)."""

    kind = ErrorKind.OAUTH_TOKEN


class ProtocolError(ProbeError, ConnectionError):
    """Garbled, oversize or endless replies."""

    kind = ErrorKind.PROTOCOL


class ProbeTimeoutError(ProbeError, TimeoutError):
    """The overall deadline (``timeout_s``) was reached; ``phase`` says where."""

    kind = ErrorKind.TIMEOUT


class SlowError(ProbeError):
    """The whole probe took longer than a check's critical time."""

    kind = ErrorKind.SLOW
