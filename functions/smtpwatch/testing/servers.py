"""Real servers on loopback: trustme certificates, aiosmtpd SMTP servers, hostile listeners.

Used by the test-suite and by ``smtpwatch demo``. Everything binds to a loopback
address ("127.0.0.1" or "::1") on port 0 and reports the port it got.

- ``Certificates``: a trusted test CA (``ca_pem`` is what a target's ``ca_bundle``
  holds) plus an unrelated CA for "untrusted"; leaf certificates valid, expired,
  for the wrong name, both, untrusted, or expiring in N days.
- ``SmtpServer``: an aiosmtpd ``Controller`` with STARTTLS, implicit TLS, AUTH
  (CRAM-MD5, LOGIN, PLAIN) against a credentials dict, forced replies per AUTH
  mechanism, a log of AUTH attempts, and stop/start on the same port.
- ``HostileServer``: a small socket listener (one thread per connection, bounded
  lifetime) that misbehaves on purpose: silence, bad greeting, rejected EHLO,
  STARTTLS 454, drip-feed, endless ``250-`` lines, a 100 kB line, garbage, a close
  in mid-dialogue, garbage instead of a TLS handshake.
- ``closed_port``: a port on which nothing listens (connection refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword


def _not_login_data_noise(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 sets its own deprecated Session.login_data on every successful AUTH
    # and logs a warning about it each time; that is noise in test and demo output.
    return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_not_login_data_noise)

__all__ = [
    "ALL_MECHANISMS",
    "DEFAULT_HOSTNAME",
    "WRONG_HOSTNAME",
    "BlackHole",
    "Certificates",
    "HostileServer",
    "Reply",
    "ServerCert",
    "SmtpServer",
    "closed_port",
]

DEFAULT_HOSTNAME = "mail.smtpwatch.test"  # .test is reserved (RFC 2606): never resolvable
WRONG_HOSTNAME = "wrong.smtpwatch.test"
ALL_MECHANISMS: tuple[str, ...] = ("CRAM-MD5", "LOGIN", "PLAIN")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class ServerCert:
    """A leaf certificate (with its chain) and key, as PEM text."""

    chain_pem: str
    key_pem: str
    not_after: dt.datetime
    identities: tuple[str, ...]

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain only reads files; the files live for this call only.
        with tempfile.TemporaryDirectory(prefix="smtpwatch-cert-") as tmp:
            cert_path = os.path.join(tmp, "cert.pem")
            key_path = os.path.join(tmp, "key.pem")
            with open(cert_path, "w", encoding="ascii") as f:
                f.write(self.chain_pem)
            with open(key_path, "w", encoding="ascii") as f:
                f.write(self.key_pem)
            ctx.load_cert_chain(cert_path, key_path)
        return ctx


class Certificates:
    """A trusted test CA and an untrusted one, issuing leaf certificates on demand.

    ``ca_pem`` is the trusted CA as PEM text (a target's ``ca_bundle``). The valid
    leaf names ``hostname``, ``localhost``, ``127.0.0.1`` and ``::1``, so a probe of
    either loopback literal or of ``hostname`` mapped through ``dns_hosts`` verifies.
    """

    def __init__(self, hostname: str = DEFAULT_HOSTNAME) -> None:
        self.hostname = hostname
        self._ca = trustme.CA(organization_name="smtpwatch test CA")
        self._rogue = trustme.CA(organization_name="smtpwatch untrusted CA")
        self.ca_pem: str = self._ca.cert_pem.bytes().decode("ascii")
        self.untrusted_ca_pem: str = self._rogue.cert_pem.bytes().decode("ascii")
        self._cache: dict[str, ServerCert] = {}
        self._pairs: dict[str, tuple[ServerCert, str]] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        *identities: str,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        trusted: bool = True,
    ) -> ServerCert:
        ca = self._ca if trusted else self._rogue
        now = dt.datetime.now(dt.UTC)
        nb = not_before or now - dt.timedelta(days=1)
        na = not_after or now + dt.timedelta(days=365)
        leaf = ca.issue_cert(*identities, not_before=nb, not_after=na)
        chain = "".join(b.bytes().decode("ascii") for b in leaf.cert_chain_pems)
        key = leaf.private_key_pem.bytes().decode("ascii")
        return ServerCert(chain, key, na, tuple(identities))

    def _cached(self, name: str, make: Callable[[], ServerCert]) -> ServerCert:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = make()
            return self._cache[name]

    def _good_names(self) -> tuple[str, ...]:
        return (self.hostname, "localhost", "127.0.0.1", "::1")

    def valid(self) -> ServerCert:
        return self._cached("valid", lambda: self.issue(*self._good_names()))

    def expired(self) -> ServerCert:
        now = dt.datetime.now(dt.UTC)
        return self._cached(
            "expired",
            lambda: self.issue(
                *self._good_names(),
                not_before=now - dt.timedelta(days=90),
                not_after=now - dt.timedelta(days=2),
            ),
        )

    def wrong_hostname(self) -> ServerCert:
        return self._cached("wrong", lambda: self.issue(WRONG_HOSTNAME))

    def expired_wrong_hostname(self) -> ServerCert:
        now = dt.datetime.now(dt.UTC)
        return self._cached(
            "expired_wrong",
            lambda: self.issue(
                WRONG_HOSTNAME,
                not_before=now - dt.timedelta(days=90),
                not_after=now - dt.timedelta(days=2),
            ),
        )

    def untrusted(self) -> ServerCert:
        return self._cached("untrusted", lambda: self.issue(*self._good_names(), trusted=False))

    def expiring(self, days: float) -> ServerCert:
        """Valid now, expiring ``days`` from now (for cert_warn_days tests)."""
        na = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
        return self.issue(*self._good_names(), not_after=na)

    def legacy(self) -> tuple[ServerCert, str]:
        """A leaf and its own CA (PEM) in the style of older self-managed CAs: no key
        usage, no key identifiers. OpenSSL accepts the chain; ``VERIFY_X509_STRICT``
        (Python 3.13's default) rejects it. Returns ``(leaf, ca_pem)``."""
        return self._cached_pair("legacy", _legacy_chain)

    def _cached_pair(
        self, name: str, make: Callable[[], tuple[ServerCert, str]]
    ) -> tuple[ServerCert, str]:
        with self._lock:
            if name not in self._pairs:
                self._pairs[name] = make()
            return self._pairs[name]

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (for checks outside the probe)."""
        ctx = ssl.create_default_context(cadata=self.ca_pem)
        return ctx


def _legacy_chain() -> tuple[ServerCert, str]:
    # cryptography comes with trustme (the demo/dev extras), never with the Lambda.
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpwatch legacy CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(DEFAULT_HOSTNAME),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEFAULT_HOSTNAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    server = ServerCert(
        leaf.public_bytes(pem).decode("ascii"),
        key_pem,
        now + dt.timedelta(days=90),
        (DEFAULT_HOSTNAME, "127.0.0.1", "::1"),
    )
    return server, ca_cert.public_bytes(pem).decode("ascii")


# --------------------------------------------------------------------------- aiosmtpd


class _Handler:
    """aiosmtpd handler: AUTH bookkeeping, CRAM-MD5, forced AUTH replies, EHLO filter."""

    def __init__(self, owner: SmtpServer) -> None:
        self._owner = owner

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # the new-style hook must do this itself
        self._owner.ehlo_names.append(hostname)
        if self._owner.reject_ehlo_after_tls and getattr(server, "_tls_protocol", None):
            return ["550 5.7.1 EHLO not accepted after TLS"]
        out = []
        for line in responses:
            keyword = line[4:].split(" ", 1)[0].upper()
            if keyword == "AUTH" and not self._owner.auth_enabled:
                continue
            out.append(line)
        return out

    async def handle_AUTH(self, server: SMTP, session: Any, envelope: Any, args: list[str]) -> Any:
        mechanism = args[0].upper() if args else ""
        self._owner._record_auth(mechanism)
        forced = self._owner.auth_replies.get(mechanism)
        if forced is None and getattr(server, "_tls_protocol", None) is None:
            forced = self._owner.plain_auth_replies.get(mechanism)
        return forced if forced is not None else MISSING

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{self._owner.hostname}>"
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            user_b, digest_b = bytes(answer).rsplit(b" ", 1)
            user = user_b.decode()
        except (ValueError, UnicodeDecodeError):
            await server.push("501 5.5.2 Can't parse CRAM-MD5 answer")
            return AuthResult(success=False, handled=True)
        password = self._owner.credentials.get(user)
        ok = password is not None and hmac.compare_digest(
            hmac.new(password.encode(), challenge.encode(), hashlib.md5).hexdigest().encode(),
            digest_b.lower(),
        )
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(user_b, b""))
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        return "250 2.0.0 OK (discarded)"


class _PortController(Controller):
    """A Controller that binds port 0 (or a fixed port again) and learns its port.

    aiosmtpd's own trigger connects to ``self.port``, so port 0 must be resolved to the
    real port at bind time; SO_REUSEADDR lets ``start()`` rebind after ``stop()``.
    """

    def _create_server(self) -> Any:
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without
        # it aiosmtpd's line-by-line replies meet delayed ACKs (Linux's 40 ms timer, at
        # each EHLO).
        sock = socket.socket(_family(self.hostname), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.hostname, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


class SmtpServer:
    """An aiosmtpd SMTP server on loopback, as a context manager.

    Options: ``cert`` (a ``ServerCert``; required for ``starttls``/``implicit_tls``),
    ``starttls`` (advertise and serve STARTTLS), ``implicit_tls`` (TLS on connect),
    ``credentials`` (user → password; ``None`` = no AUTH advertised), ``mechanisms``
    (the AUTH mechanisms offered), ``auth_require_tls`` (hide AUTH and answer 538 on
    a plain connection; forced off for implicit TLS, see aiosmtpd#281),
    ``auth_replies`` (mechanism → reply line forced for every AUTH with it, e.g.
    ``{"CRAM-MD5": "504 5.5.4 not here"}``), ``plain_auth_replies`` (the same, only
    on a connection without STARTTLS done), ``reject_ehlo_after_tls`` (550 to the EHLO
    that follows STARTTLS). ``auth_attempts`` lists the mechanism of
    every AUTH command received, in order; ``sni_names`` the SNI name of every TLS
    handshake (None when the client sent none); ``ehlo_names`` every EHLO argument.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cert: ServerCert | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        credentials: Mapping[str, str] | None = None,
        mechanisms: Iterable[str] = ALL_MECHANISMS,
        auth_require_tls: bool = True,
        auth_replies: Mapping[str, str] | None = None,
        plain_auth_replies: Mapping[str, str] | None = None,
        reject_ehlo_after_tls: bool = False,
        hostname: str = DEFAULT_HOSTNAME,
    ) -> None:
        if (starttls or implicit_tls) and cert is None:
            raise ValueError("starttls/implicit_tls need a cert")
        self.host = host
        self.hostname = hostname
        self.cert = cert
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.auth_enabled = credentials is not None
        self.credentials: dict[str, str] = dict(credentials or {})
        self.mechanisms = tuple(m.upper() for m in mechanisms)
        self.auth_replies: dict[str, str] = {k.upper(): v for k, v in (auth_replies or {}).items()}
        self.plain_auth_replies: dict[str, str] = {
            k.upper(): v for k, v in (plain_auth_replies or {}).items()
        }
        self.auth_attempts: list[str] = []
        self.sni_names: list[str | None] = []
        self.ehlo_names: list[str] = []
        self.reject_ehlo_after_tls = reject_ehlo_after_tls
        self._lock = threading.Lock()
        tls_ctx = cert.server_context() if cert is not None else None
        if tls_ctx is not None:
            tls_ctx.sni_callback = self._record_sni
        excluded = [m for m in ALL_MECHANISMS if m not in self.mechanisms or not self.auth_enabled]
        self._controller = _PortController(
            _Handler(self),
            hostname=host,
            port=port,
            ssl_context=tls_ctx if implicit_tls else None,
            server_hostname=hostname,
            tls_context=tls_ctx if starttls else None,
            # aiosmtpd#281: with implicit TLS it does not know the link is encrypted.
            auth_require_tls=False if implicit_tls else auth_require_tls,
            auth_exclude_mechanism=excluded,
            authenticator=self._authenticate,
            ident="smtpwatch test server",
        )
        self.running = False

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def _record_sni(
        self, sslobj: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext
    ) -> None:
        with self._lock:
            self.sni_names.append(name)

    def _record_auth(self, mechanism: str) -> None:
        with self._lock:
            self.auth_attempts.append(mechanism)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        user = bytes(auth_data.login).decode(errors="replace")
        password = bytes(auth_data.password).decode(errors="replace")
        expected = self.credentials.get(user)
        if expected is not None and hmac.compare_digest(expected, password):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        if not self.running:
            if self._controller.loop.is_closed():  # stop() closed it; start anew
                self._controller.loop = asyncio.new_event_loop()
            self._controller.start()
            self.running = True
            with self._lock:  # aiosmtpd's start-up self-test connection is no client
                self.sni_names.clear()
        return self

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- hostile


# Sockets that hold closed_port()'s ports for the life of the process.
_HELD_CLOSED: list[socket.socket] = []


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` where nothing listens (connect → refused), for the rest of
    this process: the port stays bound, never listening, so no server started later —
    by this test run or by another process on the machine — can take it and answer
    where a test expects a refusal."""
    s = socket.socket(_family(host), socket.SOCK_STREAM)
    s.bind((host, 0))
    _HELD_CLOSED.append(s)
    port: int = s.getsockname()[1]
    return port


class BlackHole:
    """A port where connects time out: a listener whose one-slot accept queue is full,
    so the kernel drops further SYNs (on loopback, no packet leaves the host)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._listener = socket.socket(_family(host), socket.SOCK_STREAM)
        self._listener.bind((host, port))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._filler = socket.socket(_family(host), socket.SOCK_STREAM)
        self._filler.settimeout(2)
        self._filler.connect((host, self.port))

    def start(self) -> BlackHole:
        return self

    def stop(self) -> None:
        self._filler.close()
        self._listener.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Conn:
    """One accepted connection of a hostile server, with the server's deadline."""

    def __init__(self, sock: socket.socket, stop: threading.Event, deadline: float) -> None:
        self.sock = sock
        self.stop = stop
        self.deadline = deadline
        self._buf = b""
        self.last_line = b""  # the command being answered (for actions that echo it)

    def alive(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def readline(self) -> bytes | None:
        """One line from the client, or None on close/stop/deadline."""
        while b"\n" not in self._buf:
            if not self.alive():
                return None
            self.sock.settimeout(0.2)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def hold(self) -> None:
        """Keep the connection open, saying nothing, until stop or deadline."""
        while self.alive():
            self.stop.wait(0.1)


# A reply is bytes to send, None to close the connection, or an action on the connection.
Reply = bytes | None | Callable[[_Conn], None]


def _drip(data: bytes, every_s: float) -> Callable[[_Conn], None]:
    def act(conn: _Conn) -> None:
        for i in range(len(data)):
            if not conn.alive() or not conn.send(data[i : i + 1]):
                return
            conn.stop.wait(every_s)
        conn.hold()

    return act


def _endless(line: bytes) -> Callable[[_Conn], None]:
    def act(conn: _Conn) -> None:
        chunk = line * 200
        while conn.alive() and conn.send(chunk):
            pass

    return act


GARBAGE = bytes(range(256)) * 4  # not SMTP, not TLS: binary noise


def _starttls_then_garbage(conn: _Conn) -> None:
    if conn.send(b"220 2.0.0 go ahead\r\n"):
        conn.send(GARBAGE)
        time.sleep(0.05)


_DEFAULT_EHLO = (
    b"250-hostile.smtpwatch.test\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
)


@dataclass
class _Script:
    greeting: Reply = b"220 hostile.smtpwatch.test ESMTP\r\n"
    replies: dict[str, Reply] = field(default_factory=dict)

    def reply_for(self, verb: str) -> Reply:
        if verb in self.replies:
            return self.replies[verb]
        return {
            "EHLO": _DEFAULT_EHLO,
            "HELO": b"250 hostile.smtpwatch.test\r\n",
            "STARTTLS": b"454 4.7.0 TLS not available due to local problem\r\n",
            "QUIT": b"221 2.0.0 bye\r\n",
            "NOOP": b"250 2.0.0 OK\r\n",
        }.get(verb, b"502 5.5.2 command not recognized\r\n")


class HostileServer:
    """A misbehaving SMTP listener on loopback; use the class methods to build one.

    Every connection runs in its own daemon thread and ends at ``lifetime_s`` after it
    was accepted, or when the server is stopped — a test can never hang on one.
    ``connections`` counts accepted connections.
    """

    def __init__(
        self, script: _Script, host: str = "127.0.0.1", *, lifetime_s: float = 30.0
    ) -> None:
        self.host = host
        self.lifetime_s = lifetime_s
        self._script = script
        self._stop = threading.Event()
        self._sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._started = False

    # ---- builders
    @classmethod
    def silent(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Accepts and never says a word (→ timeout in banner)."""
        return cls(_Script(greeting=lambda c: c.hold()), host, **kw)

    @classmethod
    def greeting(cls, line: bytes, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Greets with ``line`` (e.g. ``b"554 5.3.2 no service\\r\\n"``), then scripted."""
        return cls(_Script(greeting=line), host, **kw)

    @classmethod
    def scripted(
        cls,
        host: str = "127.0.0.1",
        *,
        greeting: Reply = b"220 hostile.smtpwatch.test ESMTP\r\n",
        replies: Mapping[str, Reply] | None = None,
        **kw: Any,
    ) -> HostileServer:
        """Greeting, then one reply per command verb (default: a plausible server
        advertising STARTTLS that answers it 454)."""
        return cls(_Script(greeting=greeting, replies=dict(replies or {})), host, **kw)

    @classmethod
    def delayed(cls, seconds: float, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """A plausible server (STARTTLS offered but answered 454) that waits ``seconds``
        before its greeting (for ``warn_ms``)."""

        def act(conn: _Conn) -> None:
            conn.stop.wait(seconds)
            if conn.send(b"220 slow.smtpwatch.test ESMTP\r\n"):
                HostileServer._dialogue(conn, _Script())

        return cls(_Script(greeting=act), host, **kw)

    @classmethod
    def echo_auth(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Offers AUTH PLAIN LOGIN on a plain connection and rejects every AUTH with a
        535 that quotes the client's command back (credentials must not leak through
        such a reply into a result)."""

        def echo(conn: _Conn) -> None:
            quoted = conn.last_line.decode("ascii", "replace")
            conn.send(f"535 5.7.8 rejected: {quoted}\r\n".encode())
            HostileServer._dialogue(conn, _Script())

        return cls.scripted(
            host,
            replies={"EHLO": b"250-echo.smtpwatch.test\r\n250 AUTH PLAIN LOGIN\r\n", "AUTH": echo},
            **kw,
        )

    @classmethod
    def ehlo_rejected(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        return cls.scripted(
            host,
            replies={
                "EHLO": b"550 5.7.1 EHLO rejected\r\n",
                "HELO": b"550 5.7.1 HELO rejected\r\n",
            },
            **kw,
        )

    @classmethod
    def starttls_454(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        return cls.scripted(host, **kw)

    @classmethod
    def drip_feed(
        cls, host: str = "127.0.0.1", *, every_s: float = 1.0, **kw: Any
    ) -> HostileServer:
        """Sends its greeting one byte per ``every_s`` seconds, forever."""
        line = b"220 " + b"s" * 200 + b" ESMTP\r\n"
        return cls(_Script(greeting=_drip(line, every_s)), host, **kw)

    @classmethod
    def endless_continuation(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Answers EHLO with ``250-`` lines that never end."""
        return cls.scripted(host, replies={"EHLO": _endless(b"250-MORE\r\n")}, **kw)

    @classmethod
    def long_line(cls, host: str = "127.0.0.1", *, size: int = 100_000, **kw: Any) -> HostileServer:
        """Greets with one line of ``size`` bytes."""
        return cls.greeting(b"220 " + b"x" * size + b"\r\n", host, **kw)

    @classmethod
    def garbage(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Sends binary noise instead of a greeting, then holds the line."""

        def act(conn: _Conn) -> None:
            conn.send(GARBAGE + b"\r\n")
            conn.hold()

        return cls(_Script(greeting=act), host, **kw)

    @classmethod
    def close_after(cls, verb: str, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Closes the connection when the client sends ``verb`` (e.g. "EHLO")."""
        return cls.scripted(host, replies={verb.upper(): None}, **kw)

    @classmethod
    def tls_garbage(cls, host: str = "127.0.0.1", **kw: Any) -> HostileServer:
        """Answers STARTTLS with 220, then garbage instead of a TLS handshake. On a
        port probed with implicit TLS the greeting itself is that garbage."""
        return cls.scripted(
            host,
            replies={
                "EHLO": b"250-hostile.smtpwatch.test\r\n250 STARTTLS\r\n",
                "STARTTLS": _starttls_then_garbage,
            },
            **kw,
        )

    # ---- running
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = _Conn(sock, self._stop, time.monotonic() + self.lifetime_s)
        try:
            if self._act(conn, self._script.greeting):
                self._dialogue(conn, self._script)
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @staticmethod
    def _dialogue(conn: _Conn, script: _Script) -> None:
        while conn.alive():
            line = conn.readline()
            if line is None:
                return
            conn.last_line = line
            verb = line.split(b" ", 1)[0].decode("ascii", "replace").upper()
            if not HostileServer._act(conn, script.reply_for(verb)) or verb == "QUIT":
                return

    @staticmethod
    def _act(conn: _Conn, reply: Reply) -> bool:
        """Perform a reply; False when the connection must end."""
        if reply is None:
            return False
        if isinstance(reply, bytes):
            return conn.send(reply)
        reply(conn)
        return False  # actions own the rest of the connection

    def start(self) -> HostileServer:
        if not self._started:
            self._started = True
            self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        if self._started:
            self._acceptor.join(timeout=2)
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- credential echo


# What a ``CredentialEchoServer`` says: a function of the credentials it knows (the
# ``known`` passwords plus every one it learned from an AUTH, on any connection).
Speech = Callable[[list[str]], bytes]


class CredentialEchoServer(HostileServer):
    """A server that learns passwords from AUTH and says them back where it pleases.

    It decodes PLAIN and LOGIN (with or without an initial response); CRAM-MD5 reveals
    no password, so a server meant to echo one there is given it in ``known`` (a real
    server has its users' passwords). Each reply is a ``Speech``, a function of the
    passwords it knows so far (``known`` first, then learned, across connections):

    - ``greeting``: the banner (a server that remembers credentials greets with them);
    - ``ehlo(passwords, tls)``: the EHLO reply, on the plain or the encrypted link;
    - ``auth(mechanism, passwords, tls)``: the reply that ends an AUTH exchange; a
      ``334`` reply keeps the exchange going (the client answers, ``auth`` is asked
      again, at most 20 times), as a server that never stops challenging would;
    - ``quit``: the reply to QUIT.

    ``cert`` turns on STARTTLS (answered 220, then a real TLS handshake with it); the
    EHLO after it is ``ehlo(passwords, True)``. ``learned`` lists what AUTH revealed.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        greeting: Speech = lambda _pws: b"220 echo.smtpwatch.test ESMTP\r\n",
        ehlo: Callable[[list[str], bool], bytes] | None = None,
        auth: Callable[[str, list[str], bool], bytes] = lambda _m, _p, _t: b"535 5.7.8 no\r\n",
        quit: Speech = lambda _pws: b"221 2.0.0 bye\r\n",
        known: Iterable[str] = (),
        mechanisms: str = "PLAIN LOGIN CRAM-MD5",
        cert: ServerCert | None = None,
        lifetime_s: float = 30.0,
    ) -> None:
        super().__init__(_Script(greeting=self._converse), host, lifetime_s=lifetime_s)
        self._greeting = greeting
        self._ehlo = ehlo or self._default_ehlo
        self._auth = auth
        self._quit = quit
        self._known = list(known)
        self.learned: list[str] = []
        self._mechanisms = mechanisms
        self._tls = None if cert is None else cert.server_context()
        self._memory_lock = threading.Lock()

    def passwords(self) -> list[str]:
        with self._memory_lock:
            return self._known + self.learned

    def _default_ehlo(self, _pws: list[str], tls: bool) -> bytes:
        lines = ["echo.smtpwatch.test"]
        if self._tls is not None and not tls:
            lines.append("STARTTLS")
        lines.append(f"AUTH {self._mechanisms}")
        return _reply(250, lines)

    def _learn(self, password: str) -> None:
        with self._memory_lock:
            self.learned.append(password)

    def _converse(self, conn: _Conn) -> None:
        plain = conn.sock
        try:
            self._dialogue_with(conn)
        finally:
            if conn.sock is not plain:  # the TLS socket took over the descriptor
                with contextlib.suppress(OSError):
                    conn.sock.close()

    def _dialogue_with(self, conn: _Conn) -> None:
        if not conn.send(self._greeting(self.passwords())):
            return
        tls = False
        while conn.alive():
            line = conn.readline()
            if line is None:
                return
            words = line.decode("ascii", "replace").split()
            verb = words[0].upper() if words else ""
            if verb in ("EHLO", "HELO"):
                reply = self._ehlo(self.passwords(), tls)
            elif verb == "STARTTLS" and self._tls is not None and not tls:
                if not conn.send(b"220 2.0.0 go ahead\r\n"):
                    return
                try:
                    conn.sock.settimeout(5)
                    conn.sock = self._tls.wrap_socket(conn.sock, server_side=True)
                except (OSError, ssl.SSLError):
                    return
                conn._buf = b""
                tls = True
                continue
            elif verb == "AUTH" and len(words) >= 2:
                mechanism = words[1].upper()
                if not self._exchange(conn, mechanism, words[2] if len(words) > 2 else None):
                    return
                for _ in range(20):
                    reply = self._auth(mechanism, self.passwords(), tls)
                    if not reply.startswith(b"334"):
                        break
                    if not conn.send(reply) or conn.readline() is None:
                        return
            elif verb == "QUIT":
                conn.send(self._quit(self.passwords()))
                return
            else:
                reply = b"250 2.0.0 OK\r\n" if verb in ("NOOP", "RSET") else b"502 5.5.2 no\r\n"
            if not conn.send(reply):
                return

    def _exchange(self, conn: _Conn, mechanism: str, initial: str | None) -> bool:
        """Run the AUTH exchange up to the final reply, learning what it reveals."""
        import base64
        import binascii

        def ask(prompt: bytes) -> str | None:
            if not conn.send(b"334 " + prompt + b"\r\n"):
                return None
            answer = conn.readline()
            return None if answer is None else answer.decode("ascii", "replace").strip()

        def decoded(text: str) -> str:
            try:
                return base64.b64decode(text + "=" * (-len(text) % 4)).decode("utf-8", "replace")
            except (ValueError, binascii.Error):
                return ""

        if mechanism == "PLAIN":
            blob = initial if initial not in (None, "=") else ask(b"")
            if blob is None:
                return False
            self._learn(decoded(blob).split("\0")[-1])
        elif mechanism == "LOGIN":
            if initial is None and ask(base64.b64encode(b"Username:")) is None:
                return False
            password = ask(base64.b64encode(b"Password:"))
            if password is None:
                return False
            self._learn(decoded(password))
        elif mechanism == "CRAM-MD5":
            challenge = f"<{secrets.token_hex(8)}@echo.smtpwatch.test>".encode()
            if ask(base64.b64encode(challenge)) is None:
                return False
        return True


def _reply(code: int, lines: list[str]) -> bytes:
    """A (multi-line) SMTP reply: ``250-a``, ``250-b``, ``250 c``."""
    out = [f"{code}-{line}\r\n" for line in lines[:-1]] + [f"{code} {lines[-1]}\r\n"]
    return "".join(out).encode("utf-8", "surrogateescape")


def smtp_reply(code: int, *lines: str) -> bytes:
    """``smtp_reply(250, "a", "b")`` → ``b"250-a\\r\\n250 b\\r\\n"`` (for ``Speech``)."""
    return _reply(code, list(lines) or [""])
