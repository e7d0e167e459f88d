"""Asking nameservers through dnspython, within a deadline, with one-line errors.

dnspython is imported only here and only when a name is really asked of DNS."""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from collections.abc import Callable, Sequence

from smtpwatch.core.record import Record
from smtpwatch.core.resolve.answers import DnsLookupError, DnsTimeoutError
from smtpwatch.core.safe_text import one_line

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    import dns.name
    import dns.resolver

    from smtpwatch.core.resolve.answers import NameserverLike

__all__ = ["Question", "external_resolver", "query", "query_name"]

# Per-attempt timeout for `external` nameservers (the overall bound is the probe's).
_EXTERNAL_ATTEMPT_TIMEOUT_S = 2.0
# dnspython sleeps a little before each new round of nameservers; stop this early.
_MIN_ROUND_S = 0.01


class Question(Record):
    """One record type of one name, for one resolver."""

    __slots__ = ("resolver", "qname", "host", "rdtype")
    resolver: dns.resolver.Resolver
    qname: dns.name.Name
    host: str  # as the target names it, for messages
    rdtype: str  # "A" | "AAAA"

    def __init__(
        self, resolver: dns.resolver.Resolver, qname: dns.name.Name, host: str, rdtype: str
    ) -> None:
        object.__setattr__(self, "resolver", resolver)
        object.__setattr__(self, "qname", qname)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "rdtype", rdtype)


def query_name(host: str) -> dns.name.Name:
    """``host`` as an absolute DNS name (no search domains are ever appended)."""
    import dns.exception
    import dns.name

    try:
        return dns.name.from_text(host)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise DnsLookupError(f"{host}: not a valid host name ({_reason(exc)})") from exc


def external_resolver(nameservers: Sequence[NameserverLike]) -> dns.resolver.Resolver:
    """A fresh resolver asking only ``nameservers`` (``dns_mode: external``)."""
    if not nameservers:
        raise DnsLookupError("dns_mode external needs at least one nameserver")
    import dns.nameserver
    import dns.resolver

    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [dns.nameserver.Do53Nameserver(ns.ip, ns.port) for ns in nameservers]
    res.timeout = _EXTERNAL_ATTEMPT_TIMEOUT_S
    return res


def query(
    question: Question, deadline: float, clock: Callable[[], float]
) -> tuple[tuple[str, ...], int | None]:
    """The question's answer from DNS: (addresses, TTL to cache them for)."""
    import dns.exception
    import dns.resolver

    resolver, host, rdtype = question.resolver, question.host, question.rdtype
    # dnspython sleeps (up to 2 s) between rounds of nameservers before it checks
    # its lifetime, which would overrun the probe's deadline. So each call gets at
    # most one round; this loop repeats rounds until the deadline.
    per_round = max(resolver.timeout, _MIN_ROUND_S) * max(1, len(resolver.nameservers))
    while True:
        remaining = deadline - clock()
        if remaining <= _MIN_ROUND_S:
            raise DnsTimeoutError(f"{host}: DNS timed out ({rdtype} query, no answer in time)")
        try:
            answer = resolver.resolve(
                question.qname,
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
