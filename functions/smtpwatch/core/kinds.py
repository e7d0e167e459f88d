"""The probe's vocabulary: phases, statuses, failure classes and warning kinds.

Each value is a contract: it is stored, sent in alerts and matched by users' rules.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PHASES", "ErrorKind", "Phase", "Status", "WarningKind"]


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
    OAUTH_TOKEN = "oauth_token"  # no access token from the identity provider
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    # Only when a check asks for them (check_smtp's -c and -D critical): thresholds
    # judged after a dialogue that otherwise went through.
    SLOW = "slow"
    CERT_EXPIRING = "cert_expiring"
    INTERNAL = "internal"  # only with Status.UNKNOWN: a bug in smtpwatch


class WarningKind(StrEnum):
    SLOW = "slow"
    CERT_EXPIRING = "cert_expiring"
    TLS_NOT_OFFERED = "tls_not_offered"
    BANNER_MISMATCH = "banner_mismatch"
    # Only on a verdict of several locations, when its target asks (alert_on_partial):
    # some locations failed, fewer than its quorum.
    PARTIAL_FAILURE = "partial_failure"
