"""A tiny authoritative DNS server on loopback, for tests and the demo.

Tests must never ask the machine's resolver, so they start one of these on
127.0.0.1 or ::1 (UDP and TCP on the same high port) and point a
``dns.resolver.Resolver(configure=False)`` at it (``server.resolver()``).

The zone is a plain dict ``{"mx.example.com": ["127.0.0.1", "::1"]}``: the record type
(A or AAAA) follows from each address. A name in the zone without the asked type gets
an empty NOERROR answer with an SOA (so negative caching works); a name not in the
zone gets NXDOMAIN. ``mode`` can be switched at any time to ``"silent"`` (never
answers: the client times out), ``"nxdomain"`` or ``"servfail"``; ``silent_rdtypes``
leaves only some query types unanswered. Every query is
recorded in ``queries`` (``count()`` filters them), which is how tests prove that a
cache saved a lookup.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

__all__ = ["DnsServer", "Query"]

Mode = Literal["answer", "silent", "nxdomain", "servfail"]

_UDP_MAX = 512  # classic limit without EDNS: larger answers are truncated (TC) over UDP


@dataclass(frozen=True, slots=True)
class Query:
    name: str  # lower case, no trailing dot
    rdtype: str  # "A", "AAAA", ...
    transport: str  # "udp" | "tcp"


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


class DnsServer:
    """Authoritative answers for ``zone`` on ``host`` (``"127.0.0.1"`` or ``"::1"``).

    Use as a context manager; ``port`` is chosen by the OS unless given.
    """

    def __init__(
        self,
        zone: Mapping[str, Iterable[str]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ttl: int = 300,
        negative_ttl: int = 60,
        mode: Mode = "answer",
        silent_rdtypes: Iterable[str] = (),
    ) -> None:
        self.host = host
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.mode: Mode = mode
        # Query types left unanswered even in "answer" mode (e.g. a server dropping AAAA).
        self.silent_rdtypes: set[str] = {t.upper() for t in silent_rdtypes}
        self.queries: list[Query] = []
        self._zone: dict[str, list[str]] = {}
        self.set_zone(zone or {})
        self._lock = threading.Lock()
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._udp, self._tcp = self._bind(port)
        self.port: int = self._udp.getsockname()[1]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- zone and observations -------------------------------------------------------
    def set_zone(self, zone: Mapping[str, Iterable[str]]) -> None:
        """Replace the zone (addresses are validated here, not at query time)."""
        new: dict[str, list[str]] = {}
        for name, ips in zone.items():
            new[_norm(name)] = [str(ipaddress.ip_address(ip)) for ip in ips]
        self._zone = new

    def count(self, name: str | None = None, rdtype: str | None = None) -> int:
        """How many queries arrived (optionally for one name and/or type)."""
        with self._lock:
            return sum(
                1
                for q in self.queries
                if (name is None or q.name == _norm(name))
                and (rdtype is None or q.rdtype == rdtype)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.queries.clear()

    @property
    def nameserver(self) -> str:
        """``ip:port`` / ``[ip]:port`` as a target's ``nameservers`` entry spells it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def resolver(self, *, timeout: float = 1.0) -> dns.resolver.Resolver:
        """A resolver that asks only this server (``timeout`` is per attempt)."""
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [dns.nameserver.Do53Nameserver(self.host, self.port)]
        res.timeout = timeout
        res.lifetime = 5.0
        return res

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> DnsServer:
        self._thread = threading.Thread(target=self._serve, name="dns-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self, port: int) -> tuple[socket.socket, socket.socket]:
        # UDP and TCP must share the port (resolvers retry truncated answers over TCP
        # on the same port): pick it with UDP, then claim it for TCP; retry if taken.
        for _ in range(20):
            udp = socket.socket(self._family, socket.SOCK_DGRAM)
            udp.bind((self.host, port))
            chosen = udp.getsockname()[1]
            tcp = socket.socket(self._family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, chosen))
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            tcp.listen(16)
            return udp, tcp
        raise OSError("no free port for UDP and TCP")

    # -- serving ---------------------------------------------------------------------
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "tcp")
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    if key.data == "udp":
                        self._serve_udp()
                    else:
                        self._serve_tcp()
        finally:
            sel.close()

    def _serve_udp(self) -> None:
        try:
            wire, peer = self._udp.recvfrom(65535)
        except OSError:
            return
        reply = self._handle(wire, "udp")
        if reply is not None:
            self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        try:
            conn, _ = self._tcp.accept()
        except OSError:
            return
        # One connection at a time is plenty for tests; a short timeout keeps a stuck
        # client from stalling the server.
        with conn:
            conn.settimeout(2.0)
            try:
                while True:
                    head = _recv_exact(conn, 2)
                    if head is None:
                        return
                    wire = _recv_exact(conn, struct.unpack("!H", head)[0])
                    if wire is None:
                        return
                    reply = self._handle(wire, "tcp")
                    if reply is None:
                        continue
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    def _handle(self, wire: bytes, transport: str) -> bytes | None:
        try:
            request = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not request.question:
            return None
        question = request.question[0]
        name = _norm(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append(Query(name, rdtype, transport))
        mode = self.mode
        if mode == "silent" or rdtype in self.silent_rdtypes:
            return None
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA
        if mode == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        ips = self._zone.get(name)
        if mode == "nxdomain" or ips is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa(question.name))
            return response.to_wire()
        wanted = [ip for ip in ips if (":" in ip) == (rdtype == "AAAA")]
        if rdtype in ("A", "AAAA") and wanted:
            response.answer.append(
                dns.rrset.from_text_list(question.name, self.ttl, dns.rdataclass.IN, rdtype, wanted)
            )
        else:
            response.authority.append(self._soa(question.name))
        if transport == "udp":
            try:
                return response.to_wire(max_size=_UDP_MAX)
            except dns.exception.TooBig:
                response.answer.clear()
                response.flags |= dns.flags.TC
        return response.to_wire()

    def _soa(self, qname: dns.name.Name) -> dns.rrset.RRset:
        # The zone apex is the query name's parent: good enough for negative answers.
        apex = qname.parent() if len(qname) > 2 else qname
        return dns.rrset.from_text(
            apex,
            self.negative_ttl,
            dns.rdataclass.IN,
            "SOA",
            f"ns.{apex.to_text()} hostmaster.{apex.to_text()} 1 3600 600 86400 {self.negative_ttl}",
        )


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf
