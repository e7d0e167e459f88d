"""A scripted SMTP server on loopback that hands the client's password back to it.

A hostile or merely careless server may quote, reshape or remember what it was sent.
``EchoServer`` does all of that on purpose, as told by an ``EchoPlan``:

- it remembers every password an AUTH PLAIN or AUTH LOGIN sent it (decoded from
  base64), and the passwords a test says an earlier probe sent (``remember``: the
  monitor sends the same password every minute, so any greeting may quote it);
- at each *site* of the plan (the greeting, an EHLO line, an EHLO keyword before or
  after STARTTLS, the AUTH mechanism list, the STARTTLS reply, the AUTH reply, the
  QUIT reply, the certificate's subject) it puts every password it knows, in the
  site's *shape* (``SHAPES``: verbatim, case-changed, after 240 characters of
  filler, base64 of the password or of the AUTH PLAIN exchange (with or without an
  authorisation identity), ``\\xNN``/``%NN``/``\\uNNNN``/``&#NN;``/quoted-printable
  escaped, as a bytes repr, with whitespace inserted, split over two reply lines, all
  but its first and last character);
- with ``echo=False`` the same dialogue runs with nothing echoed (the baseline: what
  the outputs look like when the server says nothing of the password).

One server per address family serves a whole module; ``configure`` resets it per
example. Plain blocking sockets, one thread per connection, all on 127.0.0.1 or ::1.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from smtpwatch.testing.servers import Certificates

__all__ = ["FILLER", "MODES", "SHAPES", "SITES", "EchoPlan", "EchoServer", "shape"]

HOSTNAME = "mail.smtpwatch.test"
USERNAME = "monitor@smtpwatch.test"
# 240 characters: a reply cut to 300 characters after this keeps the start of what follows
FILLER = ("padding-" * 30)[:240]

MODES = ("starttls", "implicit", "fallback")
"""starttls: AUTH offered after STARTTLS only; implicit: TLS from the first byte;
fallback: AUTH offered on the plain connection, answered 504 there, so the client takes
STARTTLS on the same connection and tries again (the target allows plaintext AUTH)."""

SITES = (
    "greeting",  # 220 (or 554 when the plan stops at the greeting)
    "ehlo_line",  # a text line of the EHLO reply (or the 550 rejecting EHLO)
    "ehlo_keyword",  # an EHLO keyword of the first EHLO
    "ehlo_tls_keyword",  # an EHLO keyword of the EHLO after STARTTLS
    "auth_offer",  # inside the AUTH mechanism list
    "starttls",  # the 220 (or 454) answering STARTTLS
    "auth",  # the reply to AUTH (535, 504, 454, 235, or every 334 of an endless chain)
    "quit",  # the reply to QUIT (then 554, not 221)
    "certificate",  # the organizational unit of the server certificate's subject
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _spaced(secret: str) -> str:
    return "".join(ch + (" " if i % 2 else "\t") for i, ch in enumerate(secret)).rstrip()


SHAPES: dict[str, Callable[[str], list[str]]] = {
    "plain": lambda s: [s],
    "upper": lambda s: [s.upper()],
    "lower": lambda s: [s.lower()],
    "swapcase": lambda s: [s.swapcase()],
    "filler": lambda s: [FILLER + s],
    "base64": lambda s: [_b64(s)],
    "base64_plain": lambda s: [_b64(f"\0{USERNAME}\0{s}")],
    "base64_filler": lambda s: [_b64(FILLER + s)],
    "hex_escaped": lambda s: ["".join(f"\\x{b:02x}" for b in s.encode("utf-8"))],
    "percent": lambda s: ["".join(f"%{b:02X}" for b in s.encode("utf-8"))],
    "bytes_repr": lambda s: [repr(s.encode("utf-8"))],
    "spaced": lambda s: [_spaced(s)],
    "split": lambda s: [s[: len(s) // 2], s[len(s) // 2 :]],
    "inner": lambda s: [s[1:-1]],  # not the whole password: any 8 characters of it count
    "base64_authzid": lambda s: [_b64(f"{USERNAME}\0{USERNAME}\0{s}")],
    "json_escaped": lambda s: ["".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in s)],
    "html_entities": lambda s: ["".join(f"&#{ord(c)};" for c in s)],
    "quoted_printable": lambda s: ["".join(f"={b:02X}" for b in s.encode("utf-8"))],
}
"""Each shape turns a secret into the fragments a site shows; fragments after the
first go on lines of their own (a multi-line reply)."""


def shape(name: str, secret: str) -> list[str]:
    return SHAPES[name](secret)


@dataclass(frozen=True)
class EchoPlan:
    """One hostile server behaviour. ``echoes``: (site, shape) pairs."""

    mode: str = "starttls"
    auth_reply: int = 535  # to a password not in ``accept``; 334: an endless chain
    stop_at: str | None = None  # "greeting" | "ehlo" | "starttls": refuse there
    echoes: tuple[tuple[str, str], ...] = ()
    cert_trusted: bool = True  # False: the client must read the certificate unverified
    methods: tuple[str, ...] = ("LOGIN", "PLAIN")  # the target's auth_methods

    @property
    def encryption(self) -> str:
        return {"starttls": "explicit", "implicit": "implicit", "fallback": "none"}[self.mode]

    def sites(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for site, name in self.echoes:
            out.setdefault(site, []).append(name)
        return out


@dataclass
class _Config:
    plan: EchoPlan
    echo: bool
    accept: frozenset[str]
    context: ssl.SSLContext


@dataclass
class _Memory:
    """Everything the clients sent (decoded) and every secret the server may echo."""

    known: list[str] = field(default_factory=list)
    received: list[tuple[str, str]] = field(default_factory=list)  # (mechanism, password)
    commands: list[str] = field(default_factory=list)


class _Closed(Exception):
    pass


class EchoServer:
    """A threaded SMTP server on ``host`` (127.0.0.1 or ::1), port chosen by the OS."""

    def __init__(self, host: str, certs: Certificates) -> None:
        self.host = host
        self.certs = certs
        self._lock = threading.Lock()
        self._memory = _Memory()
        self._default_context = certs.valid().server_context()
        self._config = _Config(EchoPlan(), False, frozenset(), self._default_context)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        # called (outside the lock) with each password an AUTH sent: a test may rotate
        # the secret at that moment
        self.on_learn: Callable[[str], None] | None = None
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def where(self) -> str:
        """``HOST:PORT`` as the CLI takes it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> EchoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()

    # ------------------------------------------------------------------ per example
    def configure(
        self,
        plan: EchoPlan,
        *,
        echo: bool = True,
        remember: tuple[str, ...] = (),
        accept: tuple[str, ...] = (),
    ) -> None:
        """Forget everything, then behave as ``plan`` says. ``remember``: passwords an
        earlier probe sent (echoed from the first greeting on); ``accept``: passwords
        that log in (235), every other one gets ``plan.auth_reply``."""
        context = self._default_context
        if "certificate" in plan.sites() or not plan.cert_trusted:
            context = self._certificate_context(plan, remember, echo)
        with self._lock:
            self._memory = _Memory(known=list(remember))
            self._config = _Config(plan, echo, frozenset(accept), context)

    def received(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._memory.received)

    def commands(self) -> list[str]:
        with self._lock:
            return list(self._memory.commands)

    def _certificate_context(
        self, plan: EchoPlan, secrets: tuple[str, ...], echo: bool
    ) -> ssl.SSLContext:
        unit = "ops"
        if echo and secrets:
            shapes = plan.sites().get("certificate", [])
            unit = " ".join(f for name in shapes for s in secrets for f in shape(name, s)) or unit
        ca = self.certs._ca if plan.cert_trusted else self.certs._rogue
        leaf = ca.issue_cert(
            HOSTNAME, "localhost", "127.0.0.1", "::1", organization_unit_name=unit[:1000]
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(context)
        return context

    # ------------------------------------------------------------------ serving
    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)  # a blocked accept() does not notice close()
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            config = self._config
        conn.settimeout(10)
        # replies are small writes after TLS records: without this, Nagle's algorithm
        # meets the client's delayed ACK and every reply after a handshake waits 40 ms
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = _Session(self, conn, config)
        try:
            session.run()
        except (_Closed, OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                session.sock.close()

    def _learn(self, mechanism: str, password: str) -> None:
        with self._lock:
            self._memory.received.append((mechanism, password))
            if password not in self._memory.known:
                self._memory.known.append(password)
        hook = self.on_learn
        if hook is not None:
            hook(password)

    def _note(self, command: str) -> None:
        with self._lock:
            self._memory.commands.append(command)

    def _known(self) -> list[str]:
        with self._lock:
            return list(self._memory.known)


class _Session:
    """One connection: the dialogue as the plan scripts it."""

    def __init__(self, server: EchoServer, sock: socket.socket, config: _Config) -> None:
        self.server = server
        self.sock: socket.socket = sock
        self.config = config
        self.plan = config.plan
        self.sites = config.plan.sites() if config.echo else {}
        self.tls = False
        self.ehlo_seen = False
        self._buf = b""

    # ---- I/O
    def _readline(self) -> str:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise _Closed
            self._buf += chunk
            if len(self._buf) > 65536:
                raise _Closed
        line, _, self._buf = self._buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _reply(self, code: int, lines: list[str]) -> None:
        lines = lines or [""]
        out = "".join(
            f"{code}{'-' if i < len(lines) - 1 else ' '}{text}\r\n" for i, text in enumerate(lines)
        )
        self.sock.sendall(out.encode("utf-8"))

    def _fragments(self, site: str) -> list[list[str]]:
        """Per shape at ``site`` and per known secret: its fragments (none: no echo)."""
        out: list[list[str]] = []
        for name in self.sites.get(site, []):
            for secret in self.server._known():
                out.append(shape(name, secret))
        return out

    def _text_lines(self, site: str, base: str) -> list[str]:
        """``base`` followed by the site's echoes: first fragment on the same line."""
        lines = [base]
        for frags in self._fragments(site):
            lines[-1] = f"{lines[-1]} {frags[0]}"
            lines.extend(frags[1:])
        return lines

    def _keyword_lines(self, site: str) -> list[str]:
        return [f for frags in self._fragments(site) for f in frags]

    def _start_tls(self) -> None:
        self.sock = self.config.context.wrap_socket(self.sock, server_side=True)
        self._buf = b""
        self.tls = True

    # ---- dialogue
    def run(self) -> None:
        if self.plan.mode == "implicit":
            self._start_tls()
        if self.plan.stop_at == "greeting":
            self._reply(554, self._text_lines("greeting", f"{HOSTNAME} no service"))
            return
        self._reply(220, self._text_lines("greeting", f"{HOSTNAME} ESMTP ready"))
        while True:
            line = self._readline()
            self.server._note(line if not line.upper().startswith("AUTH") else line[:10])
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._ehlo()
            elif verb == "STARTTLS":
                if self.plan.stop_at == "starttls":
                    self._reply(454, self._text_lines("starttls", "4.7.0 TLS not available"))
                    continue
                self._reply(220, self._text_lines("starttls", "2.0.0 go ahead"))
                self._start_tls()
            elif verb == "AUTH":
                self._auth(line)
            elif verb == "QUIT":
                if self._fragments("quit"):
                    self._reply(554, self._text_lines("quit", "5.0.0 not so fast"))
                else:
                    self._reply(221, ["2.0.0 bye"])
                return
            else:
                self._reply(502, ["5.5.2 command not implemented"])

    def _offers_auth(self) -> bool:
        return self.tls or self.plan.mode == "fallback"

    def _ehlo(self) -> None:
        if self.plan.stop_at == "ehlo":
            self._reply(550, self._text_lines("ehlo_line", "5.7.1 not welcome"))
            return
        keyword_site = (
            "ehlo_tls_keyword" if self.tls and self.plan.mode != "implicit" else ("ehlo_keyword")
        )
        lines = self._text_lines("ehlo_line", f"{HOSTNAME} greets you")
        lines += self._keyword_lines(keyword_site)
        lines.append("PIPELINING")
        if not self.tls and self.plan.mode != "implicit":
            lines.append("STARTTLS")
        if self._offers_auth():
            lines.append(" ".join(self._text_lines("auth_offer", "AUTH PLAIN LOGIN")))
        lines.append("8BITMIME")
        self._reply(250, lines)

    def _auth(self, line: str) -> None:
        parts = line.split()
        mechanism = parts[1].upper() if len(parts) > 1 else ""
        if not self._offers_auth() or mechanism not in ("PLAIN", "LOGIN"):
            self._reply(504, ["5.5.4 mechanism not supported"])
            return
        initial = parts[2] if len(parts) > 2 else None
        if mechanism == "PLAIN":
            if initial is None:
                self._reply(334, [""])
                initial = self._readline().strip()
            password = _decode(initial).split("\0")[-1]
        else:
            if initial is None:
                self._reply(334, ["VXNlcm5hbWU6"])
                self._readline()
            self._reply(334, ["UGFzc3dvcmQ6"])
            password = _decode(self._readline().strip())
        self.server._learn(mechanism, password)
        if password in self.config.accept:
            self._reply(235, self._text_lines("auth", "2.7.0 ok"))
            return
        if self.plan.mode == "fallback" and not self.tls:
            self._reply(504, self._text_lines("auth", "5.5.4 no"))
            return
        code = self.plan.auth_reply
        if code == 334:
            self._endless_challenges()
            return
        # Short texts: with 240 characters of filler after them, a reply cut to 300
        # characters (with the client's own words before it) still shows the password.
        text = {535: "5.7.8 no", 504: "5.5.4 no", 454: "4.7.0 later", 235: "2.7.0 ok"}[code]
        self._reply(code, self._text_lines("auth", text))

    def _endless_challenges(self) -> None:
        """334 after 334: the client gives up and quotes the last one (as a bytes repr)."""
        challenge = " ".join(f for frags in self._fragments("auth") for f in frags) or "Z28gb24="
        challenge = _decodable(challenge)
        for _ in range(10):
            self._reply(334, [challenge])
            if self._readline().strip() == "*":
                self._reply(501, ["5.7.0 cancelled"])
                return


def _decode(text: str) -> str:
    try:
        return base64.b64decode(text, validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def _decodable(text: str) -> str:
    """``text`` padded so that smtplib's lenient base64 decoding of a 334 accepts it."""
    for pad in ("", "A", "AA", "AAA"):
        try:
            base64.decodebytes((text + pad).encode("utf-8"))
        except (binascii.Error, ValueError):
            continue
        return text + pad
    return text
