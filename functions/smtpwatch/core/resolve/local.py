"""Addresses known without DNS: an IP literal, or the target's ``dns_hosts`` lines."""

from __future__ import annotations

import ipaddress

from smtpwatch.core.resolve.answers import ResolvedAddress, family_of, norm_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

    from smtpwatch.core.resolve.answers import HostsEntryLike

__all__ = ["from_hosts", "literal"]


def literal(host: str) -> ResolvedAddress | None:
    """The address ``host`` spells (bare, or an IPv6 one in brackets), else None."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" not in text and not text[-1:].isdigit():
        return None  # a host name (cheap test: raising ValueError costs more than a probe phase)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ResolvedAddress(str(ip), "ipv6" if ip.version == 6 else "ipv4")


def from_hosts(host: str, entries: Iterable[HostsEntryLike]) -> tuple[ResolvedAddress, ...] | None:
    """Every address ``entries`` list for ``host`` (in line order, without repeats),
    or None when no line names it."""
    wanted = norm_name(host)
    found: list[ResolvedAddress] = []
    for entry in entries:
        # Target stores names normalized; the slow path serves other callers.
        if wanted in entry.names or any(norm_name(n) == wanted for n in entry.names):
            addr = ResolvedAddress(entry.ip, family_of(entry.ip))
            if addr not in found:
                found.append(addr)
    return tuple(found) if found else None
