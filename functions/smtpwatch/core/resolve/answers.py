"""What resolution gives back: the addresses and where they came from, or the error."""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from smtpwatch.core.errors import SmtpwatchError
from smtpwatch.core.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

__all__ = [
    "DnsLookupError",
    "DnsTimeoutError",
    "Resolution",
    "ResolvedAddress",
    "family_of",
    "norm_name",
]


class ResolvedAddress(Record):
    __slots__ = ("ip", "family")
    ip: str
    family: str  # "ipv4" | "ipv6"

    def __init__(self, ip: str, family: str) -> None:
        object.__setattr__(self, "ip", ip)
        object.__setattr__(self, "family", family)


class Resolution(Record):
    __slots__ = ("addresses", "source")
    addresses: tuple[ResolvedAddress, ...]  # never empty
    source: str  # "literal" | "dns_hosts" | "dns" | "cache"

    def __init__(self, addresses: tuple[ResolvedAddress, ...], source: str) -> None:
        object.__setattr__(self, "addresses", addresses)
        object.__setattr__(self, "source", source)


class DnsLookupError(SmtpwatchError):
    """The name has no usable address. ``str()`` is one line for the result's message."""

    def __init__(self, message: str, rcode_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rcode_name = rcode_name  # "NXDOMAIN", "SERVFAIL", ... when a server said so


class DnsTimeoutError(DnsLookupError, TimeoutError):
    """No answer within the resolution's share of the deadline."""


def family_of(ip: str) -> str:
    return "ipv6" if ":" in ip else "ipv4"


def norm_name(name: str) -> str:
    """A host name as compared and cached: no surrounding space, no final dot, lower case."""
    return name.strip().rstrip(".").lower()


# What the resolver needs from a target (core/target.py's Target has these). Only for
# the type checker: Protocol classes cost time to create at import.
if TYPE_CHECKING:

    class NameserverLike(Protocol):
        @property
        def ip(self) -> str: ...
        @property
        def port(self) -> int: ...

    class HostsEntryLike(Protocol):
        @property
        def ip(self) -> str: ...
        @property
        def names(self) -> Sequence[str]: ...

    class ResolvableTarget(Protocol):
        @property
        def host(self) -> str: ...
        @property
        def dns_mode(self) -> str: ...
        @property
        def ip_family(self) -> str: ...
        @property
        def nameservers(self) -> Sequence[NameserverLike]: ...
        @property
        def dns_hosts(self) -> Sequence[HostsEntryLike]: ...
