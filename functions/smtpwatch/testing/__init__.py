"""Real servers on loopback for smtpwatch's tests and for ``smtpwatch demo``.

Needs the ``demo`` (or ``dev``) extra: aiosmtpd and trustme. Nothing here is imported
by the probe core or the Lambda handlers.
"""

from __future__ import annotations

from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    BlackHole,
    Certificates,
    HostileServer,
    ServerCert,
    SmtpServer,
    closed_port,
)

__all__ = [
    "DEFAULT_HOSTNAME",
    "BlackHole",
    "Certificates",
    "HostileServer",
    "ServerCert",
    "SmtpServer",
    "closed_port",
]
