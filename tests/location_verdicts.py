"""Verdicts of several locations made as the AWS deployment makes them, for the tests
of what `status`, `history` and the dashboard show: each location really probes an
SMTP server on loopback, and a failing location's own hosts line sends the name to
127.0.0.2, where nothing listens (its connection is refused); ``verdict`` decides.

Imported as ``location_verdicts``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from smtpwatch.core.locations import verdict
from smtpwatch.core.probe import probe
from smtpwatch.core.probe.environment import ProbeEnvironment
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts, utc_now
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import SmtpServer

LOCATIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
HOST = "mx.test"


def target_item(server: SmtpServer, target_id: str = "mx1", **extra: Any) -> dict[str, Any]:
    """The target as its table holds it: a plain SMTP server, by a name."""
    return {
        "target_id": target_id,
        "host": HOST,
        "port": server.port,
        "encryption": "none",
        "interval_s": 60,
        "dns_hosts": [f"127.0.0.1 {HOST}"],
        **extra,
    }


def vote(server: SmtpServer, location: str, *, failing: bool) -> ProbeResult:
    """One location's probe of ``server``: refused when ``failing``."""
    address = "127.0.0.2" if failing else "127.0.0.1"
    item = target_item(server) | {"dns_hosts": [f"{address} {HOST}"]}
    target, _ = Target.from_item(item, strict=True)
    return probe(target, env=ProbeEnvironment.from_environ({}, location=location))


def slot_verdict(
    server: SmtpServer,
    slot: str,
    *,
    failing: Collection[str] = (),
    silent: Collection[str] = (),
    quorum: int = 0,
    alert_on_partial: bool = False,
) -> ProbeResult:
    """The verdict of the ``slot`` whose ``failing`` locations are refused and whose
    ``silent`` ones did not vote."""
    votes = {
        name: vote(server, name, failing=name in failing)
        for name in LOCATIONS
        if name not in silent
    }
    return verdict(
        "mx1",
        slot,
        LOCATIONS,
        votes,
        quorum=quorum,
        alert_on_partial=alert_on_partial,
    )


def slot_at(minutes_ago: int) -> str:
    """A slot's time, whole minutes back from now."""
    now = utc_now().replace(second=0, microsecond=0)
    return format_ts(now - timedelta(minutes=minutes_ago))
