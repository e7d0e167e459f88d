"""POST an alert's JSON document to a webhook: one attempt, one deadline, no redirects.

Delivered means a 2xx answer to the request as sent; a redirect is a failure naming
where it points. One deadline covers the whole attempt, name lookup to the last byte.
``DeliveryError.permanent``: a 4xx other than 408 and 429, given up after a few tries.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from smtpwatch.core.state import Alert
from smtpwatch.core.webhook_signing import signed_headers
from smtpwatch.local.delivery_errors import DeliveryError

__all__ = ["MAX_RESPONSE_BYTES", "DeliveryError", "WebhookSender", "display_url"]

MAX_RESPONSE_BYTES = 64 * 1024  # read of a reply body; the status is what counts
_SNIPPET = 120  # characters of a failure reply shown in the error (receivers explain there)


def display_url(url: str) -> str:
    """The URL without userinfo or query (webhook URLs often carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def alert_body(alert: Alert) -> bytes:
    """The alert document, plus ``late``: it is delivered after a newer alert of the
    same target was raised (its condition may already be over)."""
    from smtpwatch.core import alert_text

    doc = alert_text.document(alert)
    doc["late"] = bool(alert.details.get("late"))
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


class WebhookSender:
    """Sends alerts to one URL. ``key``: the Standard Webhooks signing key (or None)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "://" not in url:
            raise ValueError(f"webhook {display_url(url)!r}: expected an http:// or https:// URL")
        if timeout_s <= 0:
            raise ValueError("webhook timeout: must be more than 0 seconds")
        self.url = url
        self.timeout_s = float(timeout_s)
        self._key = key
        self._clock = clock
        self._tls = parts.scheme.lower() == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._host_header = parts.netloc.rpartition("@")[2]

    def __repr__(self) -> str:
        return f"WebhookSender({self.display_url!r})"

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def send(self, alert: Alert) -> None:
        """One attempt; returns on a 2xx, raises ``DeliveryError`` otherwise."""
        from smtpwatch import __version__

        body = alert_body(alert)
        headers = {
            "Host": self._host_header,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"smtpwatch/{__version__}",
            "X-Smtpwatch-Event": alert.event.value,
            "X-Smtpwatch-Alert-Id": alert.alert_id,
            **signed_headers(self._key, alert.alert_id, int(self._clock()), body),
        }
        deadline = time.monotonic() + self.timeout_s
        status, reason, location, retry_after, snippet = self._exchange(body, headers, deadline)
        if 200 <= status < 300:
            return
        raise _failure(status, reason, location, retry_after, snippet)

    # -- one exchange under one deadline ------------------------------------------------

    def _exchange(
        self, body: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[int, str, str | None, float | None, str]:
        watchdog = _Watchdog(deadline)
        try:
            sock = self._connect(deadline, watchdog)
            conn = http.client.HTTPConnection(self._host, self._port)
            conn.sock = sock  # ours, already connected under the deadline
            try:
                sock.settimeout(_left(deadline))
                conn.putrequest("POST", self._target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                sock.settimeout(_left(deadline))
                response = conn.getresponse()
                sock.settimeout(_left(deadline))
                data = response.read(MAX_RESPONSE_BYTES)
                return (
                    response.status,
                    _printable(response.reason or "", 60),
                    _printable(response.getheader("Location") or "", 300) or None,
                    _retry_after(response.getheader("Retry-After")),
                    _printable(data.decode("utf-8", "replace"), _SNIPPET),
                )
            finally:
                conn.close()
        except DeliveryError:
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
            if watchdog.fired or time.monotonic() >= deadline:
                raise DeliveryError(f"timed out after {self.timeout_s:g} s (deadline)") from None
            raise DeliveryError(_describe(exc)) from None
        finally:
            watchdog.cancel()

    def _connect(self, deadline: float, watchdog: _Watchdog) -> socket.socket:
        addresses = _resolve(self._host, self._port, deadline)
        last: OSError | None = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            watchdog.watch(sock)
            try:
                sock.settimeout(_left(deadline))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                last = exc
                if time.monotonic() >= deadline:
                    break
                continue
            if not self._tls:
                return sock
            context = ssl.create_default_context()
            tls = context.wrap_socket(
                sock, server_hostname=self._host, do_handshake_on_connect=False
            )
            watchdog.watch(tls)
            tls.settimeout(_left(deadline))
            tls.do_handshake()
            return tls
        raise last or OSError("no address")


class _Watchdog:
    """Shuts the watched socket down at the deadline: a read in progress returns at
    once, however slowly the peer sends (a per-read timeout alone cannot do that)."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: it acts on the descriptor and
    # leaves the TLS object to the reading thread, which then sees the close.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


def _resolve(host: str, port: int, deadline: float) -> list[_AddrInfo]:
    """getaddrinfo within the deadline (it has no timeout of its own: it runs on a
    helper thread that is left behind if the resolver hangs)."""
    found: list[list[_AddrInfo]] = []
    failed: list[OSError] = []

    def run() -> None:
        try:
            found.append(list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
        except OSError as exc:
            failed.append(exc)
        except UnicodeError:  # IDNA refuses an empty label or one over 63 characters
            failed.append(OSError("not a valid host name"))

    helper = threading.Thread(target=run, daemon=True)
    helper.start()
    helper.join(_left(deadline))
    if found:
        return found[0]
    if failed:
        raise DeliveryError(f"name lookup failed: {failed[0].strerror or failed[0]}")
    raise DeliveryError("timed out looking up the name (deadline)")


def _left(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())


def _failure(
    status: int, reason: str, location: str | None, retry_after: float | None, snippet: str
) -> DeliveryError:
    if 300 <= status < 400:
        where = display_url(location) if location and "://" in location else location
        text = f"HTTP {status} {reason}: redirect to {where or '(no Location)'}"
        text += " — give the final URL; redirects are not followed"
        return DeliveryError(text, status=status, location=location)
    permanent = 400 <= status < 500 and status not in (408, 429)
    text = f"HTTP {status} {reason}".rstrip()
    if snippet:
        text += f": {snippet}"
    return DeliveryError(text, status=status, permanent=permanent, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for webhooks: ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _printable(text: str, limit: int) -> str:
    """Receiver text on one line, without control characters, cut to ``limit``."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message}"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return _printable(str(text), 200)
