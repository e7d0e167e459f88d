"""Host name → addresses for one probe: literals, ``dns_hosts``, DNS modes, caches.

Order (first that applies wins):

1. ``host`` is an IP literal → that address (``source="literal"``).
2. ``dns_hosts`` lists the name (case-insensitive, like a hosts file) → every listed
   address, in the order of the lines (``source="dns_hosts"``). A name listed there is
   never asked of DNS: if no listed address has the wanted ``ip_family`` that is a
   ``DnsLookupError``, not a silent fallback to DNS (the operator mapped the name on purpose).
3. DNS through dnspython, per ``dns_mode``:

   - ``device_cached`` (default): answers are shared by every probe of this
     ``AddressResolver`` (one per worker process: a long-running ``smtpwatch run``, a warm
     Lambda container), so targets sharing a host resolve it once per tick, but none is
     kept longer than ``DEVICE_CACHE_MAX_AGE_S`` (60 s) whatever its TTL: a moved
     address is seen within a minute although nobody ever clears the cache.
   - ``non_cached``: asked every time.
   - ``ttl_cached``: kept for the record's TTL (negative answers for the SOA minimum,
     RFC 2308), measured with the injected clock.
   - ``external``: a fresh resolver asking only the target's ``nameservers``, uncached.

   Failures (NXDOMAIN, SERVFAIL, timeouts) are never cached: the next probe asks again.

``ip_family``: ``ipv4`` asks A only, ``ipv6`` AAAA only, ``any`` asks A then AAAA and
returns **IPv4 addresses first**, then IPv6, each in answer order. IPv4 first because a
Lambda function outside a dual-stack VPC has no IPv6 route (every probe would begin
with a failed attempt); an operator who watches the IPv6 path sets ``ip_family: ipv6``.
The probe moves to the next address only when a connect fails.

Names are absolute: no search domains are appended (a monitor must probe exactly the
name it was given). The whole resolution is bounded by ``timeout``; dnspython's retry
backoff is kept inside that bound by asking one round of nameservers per call.
"""

from __future__ import annotations

import _thread
import ipaddress
import time
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Sequence

from smtpwatch.core.errors import SmtpwatchError
from smtpwatch.core.safe_text import one_line

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Final, NamedTuple, Protocol

    import dns.name
    import dns.resolver

# dnspython is imported only when a name is really asked of DNS: importing dns.resolver
# costs ~70 ms (it loads importlib.metadata, email, asyncio bits), more than a whole
# loopback `smtpwatch probe`. Literals and dns_hosts never pay for it.

__all__ = [
    "DEVICE_CACHE_MAX_AGE_S",
    "DNS_MODES",
    "IP_FAMILIES",
    "AddressResolver",
    "DnsLookupError",
    "DnsTimeoutError",
    "Resolution",
    "ResolvedAddress",
    "default_resolver",
]

DNS_MODES: Final = ("device_cached", "non_cached", "ttl_cached", "external")
IP_FAMILIES: Final = ("any", "ipv4", "ipv6")

# A device-cached answer is shared for at most this long (one tick, in practice), then
# asked again: long enough that targets sharing a host resolve it once per minute.
DEVICE_CACHE_MAX_AGE_S: Final = 60.0
# Per-attempt timeout for `external` nameservers (the overall bound is the probe's).
_EXTERNAL_ATTEMPT_TIMEOUT_S: Final = 2.0
# A device cache holds at most this many (name, type) answers; the oldest go first.
_MAX_CACHE_ENTRIES: Final = 4096
# dnspython sleeps a little before each new round of nameservers; stop this early.
_MIN_ROUND_S: Final = 0.01


# -- what the resolver needs from a target (core/target.py's Target has these) --------
# Only for the type checker: Protocol classes cost time to create at import.
if TYPE_CHECKING:

    class _NameserverLike(Protocol):
        @property
        def ip(self) -> str: ...
        @property
        def port(self) -> int: ...

    class _HostsEntryLike(Protocol):
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
        def nameservers(self) -> Sequence[_NameserverLike]: ...
        @property
        def dns_hosts(self) -> Sequence[_HostsEntryLike]: ...


# -- results and errors ---------------------------------------------------------------
# NamedTuples, not dataclasses: a frozen dataclass costs ~1 ms to create at import
# (its methods are compiled then), and `smtpwatch probe` starts once per Nagios check.
# typing.NamedTuple for mypy, collections.namedtuple at run time: the same classes
# without importing typing (~3 ms at every start of `smtpwatch probe`).
if TYPE_CHECKING:

    class ResolvedAddress(NamedTuple):
        ip: str
        family: str  # "ipv4" | "ipv6"

    class Resolution(NamedTuple):
        addresses: tuple[ResolvedAddress, ...]  # never empty
        source: str  # "literal" | "dns_hosts" | "dns" | "cache"

else:
    ResolvedAddress = namedtuple("ResolvedAddress", ("ip", "family"))
    Resolution = namedtuple("Resolution", ("addresses", "source"))


class DnsLookupError(SmtpwatchError):
    """The name has no usable address. ``str()`` is one line for the result's message."""

    def __init__(self, message: str, rcode_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rcode_name = rcode_name  # "NXDOMAIN", "SERVFAIL", ... when a server said so


class DnsTimeoutError(DnsLookupError, TimeoutError):
    """No answer within the resolution's share of the deadline."""


# -- the resolver ---------------------------------------------------------------------
_RDTYPES: Final[dict[str, tuple[str, ...]]] = {
    "any": ("A", "AAAA"),
    "ipv4": ("A",),
    "ipv6": ("AAAA",),
}


def _family_of(ip: str) -> str:
    return "ipv6" if ":" in ip else "ipv4"


def _norm_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


if TYPE_CHECKING:

    class _CacheEntry(NamedTuple):
        ips: tuple[str, ...]  # may be empty: "the name has no record of this type"
        expires: float  # clock value after which the answer is asked again

else:
    _CacheEntry = namedtuple("_CacheEntry", ("ips", "expires"))


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
        max_entries: int = _MAX_CACHE_ENTRIES,
    ) -> None:
        self._resolver = resolver
        self._clock = clock
        self._max_entries = max_entries
        self._device: OrderedDict[tuple[str, str], _CacheEntry] = OrderedDict()
        self._ttl: OrderedDict[tuple[str, str], _CacheEntry] = OrderedDict()
        # _thread: threading's Lock without importing threading (~0.8 ms per start)
        self._lock = _thread.allocate_lock()
        # One lookup per (name, type) at a time, so concurrent probes of one host share it.
        self._inflight: dict[tuple[str, str], _thread.LockType] = {}

    def clear(self) -> None:
        """Forget every cached answer (e.g. at the start of a dispatcher tick)."""
        with self._lock:
            self._device.clear()
            self._ttl.clear()

    def resolve(self, target: ResolvableTarget, *, timeout: float) -> Resolution:
        deadline = self._clock() + timeout
        host = target.host.strip()
        family = target.ip_family
        if family not in _RDTYPES:
            raise DnsLookupError(f"unknown ip_family {family!r}")

        literal = _literal(host)
        if literal is not None:
            if family != "any" and literal.family != family:
                raise DnsLookupError(
                    f"{host} is an {literal.family} address but ip_family is {family}"
                )
            return Resolution((literal,), "literal")

        mapped = _from_hosts(host, target.dns_hosts)
        if mapped is not None:
            wanted = tuple(a for a in mapped if family == "any" or a.family == family)
            if not wanted:
                raise DnsLookupError(f"dns_hosts maps {host} to no {family} address")
            return Resolution(wanted, "dns_hosts")

        mode = target.dns_mode
        if mode == "external":
            ext = _external_resolver(target.nameservers)
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
        cache: OrderedDict[tuple[str, str], _CacheEntry] | None,
    ) -> tuple[list[str], bool]:
        """Addresses for every record type ``family`` needs, and whether all were cached."""
        import dns.exception
        import dns.name

        try:
            qname = dns.name.from_text(host)
        except (dns.exception.DNSException, UnicodeError) as exc:
            raise DnsLookupError(f"{host}: not a valid host name ({_reason(exc)})") from exc
        ips: list[str] = []
        all_cached = True
        rdtypes = _RDTYPES[family]
        timed_out: DnsTimeoutError | None = None
        for i, rdtype in enumerate(rdtypes):
            last = i == len(rdtypes) - 1
            if not last or ips:
                # A question that is not the last hope may not eat the whole deadline:
                # a server dropping AAAA must not cost the connect its time, nor one
                # dropping A the AAAA answer. The first (A) question's timeout moves on
                # to AAAA; when A already gave addresses, any AAAA failure keeps them.
                remaining = deadline - self._clock()
                budget_end = self._clock() + max(min(remaining, 1.0), remaining / 2)
                try:
                    got, cached = self._ask_one(resolver, qname, host, rdtype, budget_end, cache)
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
                got, cached = self._ask_one(resolver, qname, host, rdtype, deadline, cache)
            ips.extend(got)
            all_cached = all_cached and cached
        if not ips and timed_out is not None:
            raise timed_out  # not "no record": the unanswered question may have had one
        return ips, all_cached

    def _ask_one(
        self,
        resolver: dns.resolver.Resolver,
        qname: dns.name.Name,
        host: str,
        rdtype: str,
        deadline: float,
        cache: OrderedDict[tuple[str, str], _CacheEntry] | None,
    ) -> tuple[tuple[str, ...], bool]:
        if cache is None:
            ips, _ = self._query(resolver, qname, host, rdtype, deadline)
            return ips, False
        key = (_norm_name(host), rdtype)
        hit = self._cached(cache, key)
        if hit is not None:
            return hit, True
        with self._lock:
            flight = self._inflight.setdefault(key, _thread.allocate_lock())
        if not flight.acquire(timeout=max(0.0, deadline - self._clock())):
            raise DnsTimeoutError(f"{host}: DNS timed out (waiting for a lookup of the same name)")
        try:
            hit = self._cached(cache, key)  # another thread may have just filled it
            if hit is not None:
                return hit, True
            ips, ttl = self._query(resolver, qname, host, rdtype, deadline)
            if cache is self._device:
                self._store(cache, key, _CacheEntry(ips, self._clock() + DEVICE_CACHE_MAX_AGE_S))
            elif ttl is not None and ttl > 0:
                self._store(cache, key, _CacheEntry(ips, self._clock() + ttl))
            return ips, False
        finally:
            flight.release()
            # Drop the lock so the table stays small. A thread still waiting on it then
            # finds the cache filled, or (after a failure) asks again: the lock only
            # saves duplicate lookups, correctness never depends on it.
            with self._lock:
                if self._inflight.get(key) is flight:
                    del self._inflight[key]

    def _cached(
        self, cache: OrderedDict[tuple[str, str], _CacheEntry], key: tuple[str, str]
    ) -> tuple[str, ...] | None:
        with self._lock:
            entry = cache.get(key)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del cache[key]
                return None
            cache.move_to_end(key)
            return entry.ips

    def _store(
        self,
        cache: OrderedDict[tuple[str, str], _CacheEntry],
        key: tuple[str, str],
        entry: _CacheEntry,
    ) -> None:
        with self._lock:
            cache[key] = entry
            cache.move_to_end(key)
            while len(cache) > self._max_entries:
                cache.popitem(last=False)

    def _query(
        self,
        resolver: dns.resolver.Resolver,
        qname: dns.name.Name,
        host: str,
        rdtype: str,
        deadline: float,
    ) -> tuple[tuple[str, ...], int | None]:
        """One record type from DNS: (addresses, TTL to cache them for)."""
        import dns.exception
        import dns.resolver

        # dnspython sleeps (up to 2 s) between rounds of nameservers before it checks
        # its lifetime, which would overrun the probe's deadline. So each call gets at
        # most one round; this loop repeats rounds until the deadline.
        per_round = max(resolver.timeout, _MIN_ROUND_S) * max(1, len(resolver.nameservers))
        while True:
            remaining = deadline - self._clock()
            if remaining <= _MIN_ROUND_S:
                raise DnsTimeoutError(f"{host}: DNS timed out ({rdtype} query, no answer in time)")
            try:
                answer = resolver.resolve(
                    qname,
                    rdtype,
                    lifetime=min(remaining, per_round),
                    search=False,
                    raise_on_no_answer=False,
                )
            except dns.resolver.LifetimeTimeout:
                continue
            except dns.resolver.NXDOMAIN as exc:
                raise DnsLookupError(f"{host}: no such domain (NXDOMAIN)", "NXDOMAIN") from exc
            except dns.resolver.YXDOMAIN as exc:
                raise DnsLookupError(
                    f"{host}: name too long after DNAME (YXDOMAIN)", "YXDOMAIN"
                ) from exc
            except dns.resolver.NoNameservers as exc:
                raise _no_nameservers(host, rdtype, exc) from exc
            except dns.resolver.NoResolverConfiguration as exc:
                raise DnsLookupError(f"{host}: no nameservers configured") from exc
            except (dns.exception.DNSException, OSError, ValueError) as exc:
                raise DnsLookupError(f"{host}: DNS error: {_reason(exc)}") from exc
            ips = tuple(rr.to_text() for rr in answer.rrset) if answer.rrset is not None else ()
            ttl = answer.chaining_result.minimum_ttl
            return ips, ttl


def _literal(host: str) -> ResolvedAddress | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" not in text and not text[-1:].isdigit():
        return None  # a host name (cheap test: raising ValueError costs more than a probe phase)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ResolvedAddress(str(ip), "ipv6" if ip.version == 6 else "ipv4")


def _from_hosts(
    host: str, entries: Iterable[_HostsEntryLike]
) -> tuple[ResolvedAddress, ...] | None:
    wanted = _norm_name(host)
    found: list[ResolvedAddress] = []
    for entry in entries:
        # Target stores names normalized; the slow path serves other callers.
        if wanted in entry.names or any(_norm_name(n) == wanted for n in entry.names):
            addr = ResolvedAddress(entry.ip, _family_of(entry.ip))
            if addr not in found:
                found.append(addr)
    return tuple(found) if found else None


def _external_resolver(nameservers: Sequence[_NameserverLike]) -> dns.resolver.Resolver:
    if not nameservers:
        raise DnsLookupError("dns_mode external needs at least one nameserver")
    import dns.nameserver
    import dns.resolver

    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [dns.nameserver.Do53Nameserver(ns.ip, ns.port) for ns in nameservers]
    res.timeout = _EXTERNAL_ATTEMPT_TIMEOUT_S
    return res


def _resolution(host: str, family: str, ips: list[str], source: str) -> Resolution:
    if not ips:
        kinds = {"any": "A or AAAA", "ipv4": "A", "ipv6": "AAAA"}[family]
        raise DnsLookupError(f"{host}: no {kinds} record")
    seen: dict[str, None] = dict.fromkeys(ips)  # keeps order, drops duplicates
    return Resolution(tuple(ResolvedAddress(ip, _family_of(ip)) for ip in seen), source)


def _no_nameservers(host: str, rdtype: str, exc: dns.resolver.NoNameservers) -> DnsLookupError:
    errors = exc.kwargs.get("errors") or []
    rcodes = [e[3] for e in errors if isinstance(e[3], str)]
    if rcodes:
        return DnsLookupError(
            f"{host}: nameserver answered {rcodes[-1]} ({rdtype} query)", rcodes[-1]
        )
    if errors:
        server, _tcp, port, err, _resp = errors[-1]
        addr = str(server).split(":", 1)[-1].rsplit("@", 1)[0]
        return DnsLookupError(
            f"{host}: no nameserver answered ({addr} port {port}: {_reason(err)})"
        )
    return DnsLookupError(f"{host}: no nameserver answered ({rdtype} query)")


def _reason(exc: object) -> str:
    return one_line(str(exc)) or type(exc).__name__


_default: AddressResolver | None = None
_default_lock = _thread.allocate_lock()


def default_resolver() -> AddressResolver:
    """The process-wide resolver (device cache shared by every probe in this process)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AddressResolver()
        return _default
