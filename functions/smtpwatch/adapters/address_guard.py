"""On AWS, probes never connect to loopback, link-local or unspecified addresses.

``GuardedResolver`` drops them (and AWS's IPv6 metadata range) from the very resolution
the probe connects to, and refuses such ``nameservers``; private ranges stay allowed.
``SMTPWATCH_ALLOW_LOOPBACK=1`` (never set by the template) lifts the refusal for tests.
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["GuardedResolver", "forbidden_reason"]

# Not link-local, but AWS's IPv6 metadata endpoint (Nitro): same risk, same refusal.
_EXTRA_FORBIDDEN = (ipaddress.ip_network("fd00:ec2::/32"),)


def forbidden_reason(ip: str) -> str | None:
    """Why the probe must not connect to ``ip``, or None when it may."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"{ip!r} is not an IP address"
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None:
            inner = forbidden_reason(str(mapped))
            if inner:
                return inner
    if addr.is_loopback:
        return f"{addr} is a loopback address"
    if addr.is_unspecified:  # connecting to 0.0.0.0 or :: reaches this machine
        return f"{addr} is the unspecified address (this machine)"
    if addr.is_link_local:
        return f"{addr} is a link-local address (metadata endpoints live there)"
    if any(addr in net for net in _EXTRA_FORBIDDEN):
        return f"{addr} is AWS's metadata endpoint range"
    return None


class GuardedResolver:
    """An address resolver that drops forbidden addresses from every answer and refuses
    forbidden ``nameservers`` before asking them.

    The probe connects only to the addresses of the ``Resolution`` its resolver returns,
    so filtering here guards the address actually connected — no second lookup that a
    DNS answer could change in between (DNS rebinding). When nothing is left the
    resolution fails with a message naming the refused address.
    """

    def __init__(self, inner: Any | None = None) -> None:
        self._inner = inner

    def resolve(self, target: Any, *, timeout: float) -> Any:
        from smtpwatch.core.resolve import DnsLookupError, Resolution

        # The target's own nameservers are contacted too: a table writer must not aim
        # DNS packets at the runtime API or a metadata endpoint either.
        for ns in getattr(target, "nameservers", ()) or ():
            reason = forbidden_reason(ns.ip)
            if reason:
                raise DnsLookupError(
                    f"nameserver {ns.ip}: {reason}: refused on AWS "
                    "(SMTPWATCH_ALLOW_LOOPBACK=1 lifts it for tests)"
                )
        if self._inner is None:
            from smtpwatch.core.resolve import default_resolver

            self._inner = default_resolver()
        resolution = self._inner.resolve(target, timeout=timeout)
        allowed = tuple(a for a in resolution.addresses if forbidden_reason(a.ip) is None)
        if not allowed:
            reason = forbidden_reason(resolution.addresses[0].ip)
            raise DnsLookupError(
                f"{target.host}: {reason}: refused on AWS "
                "(SMTPWATCH_ALLOW_LOOPBACK=1 lifts it for tests)"
            )
        if len(allowed) == len(resolution.addresses):
            return resolution
        return Resolution(addresses=allowed, source=resolution.source)
