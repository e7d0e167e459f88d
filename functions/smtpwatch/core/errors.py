"""smtpwatch's exceptions.

``ConfigError`` is the one error for bad target/option values (its message names the
field). ``SecretError`` is raised by secret resolvers; its text never holds a secret.
The probe's internal error tree (``ProbeError`` and subclasses, one per failure class)
lives here too; the probe maps smtplib/ssl/socket/dns exceptions onto it at each phase
boundary and never lets one escape to the caller (it returns a ``ProbeResult``).
"""

from __future__ import annotations

__all__ = ["ConfigError", "SecretError", "SmtpwatchError"]


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
