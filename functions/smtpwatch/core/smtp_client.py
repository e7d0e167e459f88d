"""``smtplib.SMTP`` bound to one ``Deadline``, with a bounded reply reader.

smtplib supplies the dialogue (EHLO, commands, AUTH mechanisms); ``SmtpClient``
replaces the transport: the probe hands it a connected socket (``attach``), every
socket call first takes its timeout from the deadline, replies are read within byte
and line limits (over one: ``ProtocolError``) and pass the probe's
``ServerTextGuard`` as they are read; ``start_tls`` upgrades the connection.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.errors import ProbeTimeoutError, ProtocolError
from smtpwatch.core.kinds import Phase
from smtpwatch.core.server_text import ServerTextGuard

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "MAX_DIALOGUE_BYTES",
    "MAX_LINE",
    "MAX_REPLY_BYTES",
    "MAX_REPLY_LINES",
    "SmtpClient",
    "as_bytes",
    "enhanced_code",
    "reply_text",
]

MAX_LINE = 8192  # smtplib._MAXLINE: the longest reply line accepted
MAX_REPLY_LINES = 1000  # no real EHLO reply comes near; "250-" forever is an attack
# A real server's longest reply (EHLO) is well under 1 KiB; a whole dialogue (greeting,
# two EHLOs, STARTTLS, AUTH, QUIT) a few KiB. Far above both, far below what costs
# time or memory to read, mask and parse.
MAX_REPLY_BYTES = 16 * 1024
MAX_DIALOGUE_BYTES = 64 * 1024  # all a server may send on one connection
_CODE = re.compile(rb"^(\d{3})([ \-]|\r?\n|$)")
_NO_SECRET = ServerTextGuard()  # control characters only


class SmtpClient(smtplib.SMTP):
    """One SMTP dialogue whose every socket call obeys ``deadline``.

    ``phase`` is the probe's current phase; a timeout is reported there. ``guard``
    cleans every reply as it is read (None: control characters only, no secret).
    """

    def __init__(
        self,
        *,
        local_hostname: str,
        deadline: Deadline,
        guard: ServerTextGuard | None = None,
    ) -> None:
        # host="" → smtplib does not connect; local_hostname → no getfqdn().
        super().__init__(host="", port=0, local_hostname=local_hostname)
        self._deadline = deadline
        self.guard = guard or ServerTextGuard()
        self._buf = bytearray()
        self._received = 0  # bytes the server sent on this connection
        self.phase = Phase.CONNECT
        self.wait_cap: float | None = None  # at most this long per socket call (QUIT)

    # ------------------------------------------------------------------ transport
    def attach(self, sock: socket.socket, host: str) -> None:
        """Use an already connected socket; ``host`` is for TLS (SNI and hostname)."""
        self.sock = sock
        self._host = host
        self.file = None
        self._buf.clear()
        self._received = 0

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        return self.sock

    def _arm(self) -> None:
        self._socket().settimeout(self._deadline.socket_timeout(self.phase, cap=self.wait_cap))

    def _timeout(self) -> ProbeTimeoutError:
        return ProbeTimeoutError(
            f"no answer within the deadline of {self._deadline.timeout_s:g} s", phase=self.phase
        )

    def send(self, s: ReadableBuffer | str) -> None:
        data = s.encode(self.command_encoding) if isinstance(s, str) else bytes(s)
        if self.phase is Phase.AUTH and self.guard.active:
            self.guard.remember_sent(data)  # the server may quote it back
        self._arm()
        try:
            self._socket().sendall(data)
        except TimeoutError:
            raise self._timeout() from None
        except OSError as err:
            self.close()
            raise smtplib.SMTPServerDisconnected(f"connection lost: {_os_text(err)}") from None

    def _readline(self, room: int) -> bytes:
        """One line; at most ``room`` bytes of it may still belong to this reply."""
        while True:
            end = self._buf.find(b"\n")
            size = end + 1 if end >= 0 else len(self._buf)
            if size > MAX_LINE:
                raise ProtocolError(f"reply line longer than {MAX_LINE} bytes", phase=self.phase)
            if size > room:
                raise ProtocolError(f"reply longer than {MAX_REPLY_BYTES} bytes", phase=self.phase)
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            self._arm()
            try:
                chunk = self._socket().recv(4096)
            except TimeoutError:
                raise self._timeout() from None
            except OSError as err:
                self.close()
                raise smtplib.SMTPServerDisconnected(f"connection lost: {_os_text(err)}") from None
            if not chunk:
                self.close()
                raise smtplib.SMTPServerDisconnected("connection closed by the server")
            self._received += len(chunk)
            if self._received > MAX_DIALOGUE_BYTES:
                raise ProtocolError(
                    f"the server sent more than {MAX_DIALOGUE_BYTES} bytes on one connection",
                    phase=self.phase,
                )
            self._buf += chunk

    def getreply(self) -> tuple[int, bytes]:
        """One (possibly multi-line) reply: ``(code, text lines joined by "\\n")``,
        the text as the guard left it (credentials masked, no control characters)."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = self._readline(MAX_REPLY_BYTES - size)
            size += len(line)
            match = _CODE.match(line)
            if match is None:
                shown = _snippet(self.guard.reply(line.rstrip(b"\r\n")))
                raise ProtocolError(f"not an SMTP reply: {shown}", phase=self.phase)
            lines.append(line[4:].strip(b" \t\r\n"))
            if len(lines) > MAX_REPLY_LINES:
                raise ProtocolError(f"reply longer than {MAX_REPLY_LINES} lines", phase=self.phase)
            if match.group(2) != b"-":
                code = int(match.group(1))
                if code == 334 and self.phase is Phase.AUTH:
                    # An AUTH challenge is what the mechanism computes its answer from
                    # (CRAM-MD5's "<id@host>"), never kept: masked, a host name that
                    # shares 8 characters with the password would spoil the answer.
                    # Every text smtplib's AUTH loop makes of it is masked after.
                    return code, _NO_SECRET.reply(b"\n".join(lines))
                return code, self.guard.reply(b"\n".join(lines))

    # ------------------------------------------------------------------ TLS
    def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> ssl.SSLSocket:
        """TLS handshake on the current socket (after a 220 to STARTTLS, or at once
        for implicit TLS). Forgets what EHLO said, as RFC 3207 requires."""
        self._buf.clear()  # bytes sent before the handshake must not count after it
        if ":" in server_hostname:
            # An IPv6 literal's zone ("fe80::1%eth0") is local routing, not part of the
            # address: with it, ssl would send the literal as SNI and check it as a name.
            server_hostname = server_hostname.split("%", 1)[0]
        tls = context.wrap_socket(
            self._socket(), server_hostname=server_hostname, do_handshake_on_connect=False
        )
        self.sock = tls
        self._arm()
        try:
            tls.do_handshake()
        except TimeoutError:
            raise self._timeout() from None
        self.file = None
        self.helo_resp = None
        self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        return tls

    # ------------------------------------------------------------------ facts
    def extensions(self) -> tuple[str, ...]:
        """EHLO keywords of the last EHLO reply, upper case, in the server's order."""
        if not self.ehlo_resp:
            return ()
        words: dict[str, None] = {}  # ordered, and a set: no quadratic "not in list"
        for line in self.ehlo_resp.decode("utf-8", "replace").split("\n")[1:]:
            # "AUTH=LOGIN" is the pre-RFC 2554 spelling of the AUTH keyword
            word = line.strip().split(" ", 1)[0].split("=", 1)[0].upper()
            if word:
                words[word] = None
        return tuple(words)


def reply_text(resp: bytes, limit: int = 300) -> str:
    """A reply's text as one printable line (lines joined by spaces), at most ``limit``."""
    text = resp.decode("utf-8", "replace")
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text ("5.7.8")."""
    match = _ENHANCED.match(text)
    return match.group(0) if match else None


def as_bytes(value: bytes | str) -> bytes:
    """smtplib's reply text (bytes, or str in some of its errors) as bytes."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "replace")


def _os_text(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _snippet(data: bytes, limit: int = 32) -> str:
    text = data[:limit].decode("latin-1")
    shown = "".join(ch if 32 <= ord(ch) < 127 else "." for ch in text)
    return repr(shown + ("..." if len(data) > limit else ""))
