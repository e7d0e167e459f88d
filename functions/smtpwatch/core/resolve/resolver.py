"""``AddressResolver``: a target's host to its addresses, in the documented order, with
the device and TTL caches; ``default_resolver`` is the one a process shares."""

from __future__ import annotations

import _thread
import time
from collections.abc import Callable

from smtpwatch.core.resolve.answers import (
    DnsLookupError,
    DnsTimeoutError,
    Resolution,
    ResolvedAddress,
    family_of,
    norm_name,
)
from smtpwatch.core.resolve.cache import MAX_CACHE_ENTRIES, AnswerCache, Flights
from smtpwatch.core.resolve.local import from_hosts, literal
from smtpwatch.core.resolve.query import Question, external_resolver, query, query_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Final

    import dns.name
    import dns.resolver

    from smtpwatch.core.resolve.answers import ResolvableTarget

__all__ = [
    "DEVICE_CACHE_MAX_AGE_S",
    "DNS_MODES",
    "IP_FAMILIES",
    "AddressResolver",
    "default_resolver",
]

DNS_MODES: Final = ("device_cached", "non_cached", "ttl_cached", "external")
IP_FAMILIES: Final = ("any", "ipv4", "ipv6")

# A device-cached answer is shared for at most this long (one tick, in practice), then
# asked again: long enough that targets sharing a host resolve it once per minute.
DEVICE_CACHE_MAX_AGE_S: Final = 60.0

_RDTYPES: Final[dict[str, tuple[str, ...]]] = {
    "any": ("A", "AAAA"),
    "ipv4": ("A",),
    "ipv6": ("AAAA",),
}


class AddressResolver:
    """Resolves a target's host; holds the device and TTL caches (thread-safe).

    ``resolver`` answers every mode but ``external`` (tests inject one that asks a
    loopback server; by default the machine's configuration is read on first use).
    """

    def __init__(
        self,
        resolver: dns.resolver.Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_entries: int = MAX_CACHE_ENTRIES,
    ) -> None:
        self._resolver = resolver
        self._clock = clock
        self._device = AnswerCache(clock, max_entries)
        self._ttl = AnswerCache(clock, max_entries)
        self._flights = Flights()

    def clear(self) -> None:
        """Forget every cached answer (e.g. at the start of a dispatcher tick)."""
        self._device.clear()
        self._ttl.clear()

    def resolve(self, target: ResolvableTarget, *, timeout: float) -> Resolution:
        deadline = self._clock() + timeout
        host = target.host.strip()
        family = target.ip_family
        if family not in _RDTYPES:
            raise DnsLookupError(f"unknown ip_family {family!r}")

        address = literal(host)
        if address is not None:
            if family != "any" and address.family != family:
                raise DnsLookupError(
                    f"{host} is an {address.family} address but ip_family is {family}"
                )
            return Resolution((address,), "literal")

        mapped = from_hosts(host, target.dns_hosts)
        if mapped is not None:
            wanted = tuple(a for a in mapped if family == "any" or a.family == family)
            if not wanted:
                raise DnsLookupError(f"dns_hosts maps {host} to no {family} address")
            return Resolution(wanted, "dns_hosts")

        mode = target.dns_mode
        if mode == "external":
            ext = external_resolver(target.nameservers)
            ips, _ = self._ask_all(ext, host, family, deadline, cache=None)
            return _resolution(host, family, ips, "dns")
        if mode not in DNS_MODES:
            raise DnsLookupError(f"unknown dns_mode {mode!r}")
        cache = {"device_cached": self._device, "ttl_cached": self._ttl}.get(mode)
        ips, all_cached = self._ask_all(self._base(), host, family, deadline, cache=cache)
        return _resolution(host, family, ips, "cache" if all_cached else "dns")

    # -- internals -------------------------------------------------------------------
    def _base(self) -> dns.resolver.Resolver:
        if self._resolver is None:
            import dns.resolver

            # Reading /etc/resolv.conf is deferred to the first DNS question, so literals,
            # dns_hosts and external targets never need a system configuration.
            self._resolver = dns.resolver.Resolver()
        return self._resolver

    def _ask_all(
        self,
        resolver: dns.resolver.Resolver,
        host: str,
        family: str,
        deadline: float,
        *,
        cache: AnswerCache | None,
    ) -> tuple[list[str], bool]:
        """Addresses for every record type ``family`` needs, and whether all were cached."""
        qname = query_name(host)
        ips: list[str] = []
        all_cached = True
        rdtypes = _RDTYPES[family]
        timed_out: DnsTimeoutError | None = None
        for i, rdtype in enumerate(rdtypes):
            question = Question(resolver, qname, host, rdtype)
            last = i == len(rdtypes) - 1
            if not last or ips:
                # A question that is not the last hope may not eat the whole deadline:
                # a server dropping AAAA must not cost the connect its time, nor one
                # dropping A the AAAA answer. The first (A) question's timeout moves on
                # to AAAA; when A already gave addresses, any AAAA failure keeps them.
                remaining = deadline - self._clock()
                budget_end = self._clock() + max(min(remaining, 1.0), remaining / 2)
                try:
                    got, cached = self._ask_one(question, budget_end, cache)
                except DnsTimeoutError as exc:
                    all_cached = False
                    timed_out = timed_out or exc
                    continue
                except DnsLookupError:
                    if not ips:
                        raise
                    all_cached = False
                    continue
            else:
                got, cached = self._ask_one(question, deadline, cache)
            ips.extend(got)
            all_cached = all_cached and cached
        if not ips and timed_out is not None:
            raise timed_out  # not "no record": the unanswered question may have had one
        return ips, all_cached

    def _ask_one(
        self, question: Question, deadline: float, cache: AnswerCache | None
    ) -> tuple[tuple[str, ...], bool]:
        """The question's addresses, and whether they came from ``cache``."""
        if cache is None:
            ips, _ = query(question, deadline, self._clock)
            return ips, False
        key = (norm_name(question.host), question.rdtype)
        hit = cache.get(key)
        if hit is not None:
            return hit, True
        flight = self._flights.join(key, max(0.0, deadline - self._clock()))
        if flight is None:
            raise DnsTimeoutError(
                f"{question.host}: DNS timed out (waiting for a lookup of the same name)"
            )
        try:
            hit = cache.get(key)  # another thread may have just filled it
            if hit is not None:
                return hit, True
            ips, ttl = query(question, deadline, self._clock)
            if cache is self._device:
                cache.put(key, ips, DEVICE_CACHE_MAX_AGE_S)
            elif ttl is not None and ttl > 0:
                cache.put(key, ips, ttl)
            return ips, False
        finally:
            self._flights.leave(key, flight)


def _resolution(host: str, family: str, ips: list[str], source: str) -> Resolution:
    if not ips:
        kinds = {"any": "A or AAAA", "ipv4": "A", "ipv6": "AAAA"}[family]
        raise DnsLookupError(f"{host}: no {kinds} record")
    seen: dict[str, None] = dict.fromkeys(ips)  # keeps order, drops duplicates
    return Resolution(tuple(ResolvedAddress(ip, family_of(ip)) for ip in seen), source)


_default: AddressResolver | None = None
_default_lock = _thread.allocate_lock()


def default_resolver() -> AddressResolver:
    """The process-wide resolver (device cache shared by every probe in this process)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AddressResolver()
        return _default
