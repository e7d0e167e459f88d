"""smtpwatch's exceptions.

``ConfigError`` is the one error for bad target/option values (its message names the
field). ``SecretError`` is raised by secret resolvers; its text never holds a secret.
The probe's internal error tree (``ProbeError`` and subclasses, one per failure class)
lives here too; the probe maps smtplib/ssl/socket/dns exceptions onto it at each phase
boundary and never lets one escape to the caller (it returns a ``ProbeResult``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from typing import ClassVar

    from smtpwatch.core.result import ErrorKind, Phase

__all__ = [
    "AuthFailed",
    "AuthUnsupported",
    "BannerError",
    "CertExpired",
    "CertHostname",
    "CertUntrusted",
    "ConfigError",
    "ConnectRefused",
    "ConnectTimeout",
    "DnsError",
    "EhloError",
    "ProbeConfigError",
    "ProbeError",
    "ProbeTimeout",
    "ProtocolError",
    "SecretError",
    "SmtpwatchError",
    "StartTlsError",
    "StartTlsUnsupported",
    "TlsError",
    "TlsHandshakeError",
    "Unreachable",
]


class SmtpwatchError(Exception):
    """Base of every smtpwatch exception."""


class ConfigError(SmtpwatchError, ValueError):
    """A target field or option has a bad value. ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


class SecretError(SmtpwatchError):
    """A password could not be resolved, or may not be sent to this host."""


# ---------------------------------------------------------------- the probe's failures
# One class per failure class (docs/troubleshooting.md; ``kind`` names its ErrorKind
# value). They
# live inside the probe: ``probe()`` turns each into the result's ``error`` and never
# raises them. Builtin bases let generic code catch them naturally (a ProbeTimeout is a
# TimeoutError, a refused connect a ConnectionRefusedError).


class ProbeError(SmtpwatchError):
    """A failure of the probed target. ``str()`` is the one-line message (no secret)."""

    kind: ClassVar[str] = "internal"

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
        from smtpwatch.core.result import ErrorKind

        return ErrorKind(self.kind)


class ProbeConfigError(ProbeError, ValueError):
    kind = "config"


class DnsError(ProbeError, LookupError):
    kind = "dns"


class ConnectRefused(ProbeError, ConnectionRefusedError):
    kind = "connect_refused"


class ConnectTimeout(ProbeError, TimeoutError):
    kind = "connect_timeout"


class Unreachable(ProbeError, ConnectionError):
    kind = "unreachable"


class BannerError(ProbeError, ConnectionError):
    kind = "banner"


class EhloError(ProbeError, ConnectionError):
    kind = "ehlo"


class StartTlsUnsupported(ProbeError, ConnectionError):
    kind = "starttls_unsupported"


class StartTlsError(ProbeError, ConnectionError):
    kind = "starttls"


class TlsError(ProbeError, ConnectionError):
    """Base of the TLS failures (handshake and certificate)."""

    kind = "tls_handshake"


class TlsHandshakeError(TlsError):
    kind = "tls_handshake"


class CertExpired(TlsError):
    kind = "cert_expired"


class CertHostname(TlsError):
    kind = "cert_hostname"


class CertUntrusted(TlsError):
    kind = "cert_untrusted"


class AuthUnsupported(ProbeError, PermissionError):
    kind = "auth_unsupported"


class AuthFailed(ProbeError, PermissionError):
    kind = "auth_failed"


class ProtocolError(ProbeError, ConnectionError):
    """Garbled, oversize or endless replies."""

    kind = "protocol"


class ProbeTimeout(ProbeError, TimeoutError):
    """The overall deadline (``timeout_s``) was reached; ``phase`` says where."""

    kind = "timeout"
