"""Webhook receivers on loopback for delivery tests and the delivery benchmark.

- ``WebhookReceiver``: a real HTTP server that records every request (method, path,
  headers, body) and answers what ``reply`` says: a status, a redirect, a status per
  target, an answer that changes over time (flaky, fixed later).
Each may speak HTTPS (``tls=`` a server context, e.g. from ``testing.servers.Certificates``).

- ``DripReceiver``: reads the request, then answers one byte every ``every_s``
  seconds, forever (an endless header line): every single read is quick, the reply
  never ends.
- ``HangingReceiver``: accepts and reads the request, then says nothing.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["DripReceiver", "HangingReceiver", "Received", "Reply", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def doc(self) -> dict[str, Any]:
        value = json.loads(self.body or b"null")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


ReplyFn = Callable[[Received], Reply]


class WebhookReceiver:
    """Records requests; answers ``reply(request)`` (default: 200)."""

    def __init__(
        self,
        reply: ReplyFn | Reply | int = 200,
        host: str = "127.0.0.1",
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.set_reply(reply)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with owner._lock:
                    owner.received.append(request)
                    reply = owner._reply(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.body:
                    self.wfile.write(reply.body)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self._server = Server((host, 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def set_reply(self, reply: ReplyFn | Reply | int) -> None:
        """What to answer from now on: a status, a fixed ``Reply``, or one per request."""
        fixed = Reply(reply) if isinstance(reply, int) else reply
        if isinstance(fixed, Reply):
            self._reply: ReplyFn = lambda _request: fixed
        else:
            self._reply = fixed

    def url(self, path: str = "/hook") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    def posts(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    def docs(self) -> list[dict[str, Any]]:
        return [r.doc for r in self.posts()]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _RawReceiver:
    """A socket listener that reads each request's head and body, then ``answer``s."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.stopped = threading.Event()
        self.requests = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def url(self, path: str = "/hook") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        if self._tls is not None:
            try:
                sock.settimeout(5)
                sock = self._tls.wrap_socket(sock, server_side=True)
            except OSError:
                sock.close()
                return
        with sock:
            if self._read_request(sock):
                with self._lock:
                    self.requests += 1
                self.answer(sock)

    def _read_request(self, sock: socket.socket) -> bool:
        sock.settimeout(0.2)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._recv(sock)
            if chunk is None:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        while len(body) < length:
            chunk = self._recv(sock)
            if chunk is None:
                return False
            body += chunk
        return True

    def _recv(self, sock: socket.socket) -> bytes | None:
        while not self.stopped.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            return chunk or None
        return None

    def answer(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def start(self) -> _RawReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._listener.close()

    def __enter__(self) -> _RawReceiver:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class DripReceiver(_RawReceiver):
    """Answers one byte every ``every_s`` seconds, an endless status line and header."""

    def __init__(
        self, every_s: float = 1.0, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(host, tls=tls)
        self.every_s = every_s

    def answer(self, sock: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Drip: "
        i = 0
        while not self.stopped.is_set():
            byte = head[i : i + 1] if i < len(head) else b"a"
            try:
                sock.sendall(byte)
            except OSError:
                return
            i += 1
            self.stopped.wait(self.every_s)


class HangingReceiver(_RawReceiver):
    """Reads the request, then holds the connection open without a word."""

    def answer(self, sock: socket.socket) -> None:
        while not self.stopped.is_set():
            try:
                sock.settimeout(0.2)
                if sock.recv(1) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return
