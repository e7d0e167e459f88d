"""The HTTP server of `smtpwatch serve`: the HTML pages (``/``, ``/targets/<id>``,
``/static/…``), ``/metrics`` and ``/api/…``, read-only.

A stdlib ``ThreadingHTTPServer`` answering GET and HEAD only, one request per
connection, with a bounded request head and one deadline per connection; optional
basic auth. Each request opens the SQLite store read-only for its own read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import ipaddress
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from smtpwatch.core.safe_text import one_line
from smtpwatch.local.page_data import overview_rows, target_page
from smtpwatch.local.pages.layout import HTML_HEADERS, error_page
from smtpwatch.local.pages.overview import render_overview
from smtpwatch.local.pages.query import QueryError, overview_filter, target_window
from smtpwatch.local.pages.static import static_file
from smtpwatch.local.pages.target import render_target
from smtpwatch.local.prometheus_text import CONTENT_TYPE, render_metrics
from smtpwatch.local.target_views import open_readonly, read_views
from smtpwatch.local.web_api import DEFAULT_RESULTS, target_document, targets_document

__all__ = ["DEFAULT_PORT", "MAX_CONNECTIONS", "MAX_HEAD_BYTES", "ServeConfig", "make_server"]

DEFAULT_PORT = 9925
MAX_HEAD_BYTES = 16 * 1024  # request line and headers together
MAX_CONNECTIONS = 64  # open at once, each on its own thread
_BUSY_TEXT = b"busy: too many connections at once; try again\n"
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s"
) % (len(_BUSY_TEXT), _BUSY_TEXT)
_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_LOOPBACK_NAMES_ONLY = (
    b"This server answers only requests that name a loopback host (127.0.0.1, [::1], "
    b"localhost): a request naming another host may come from a web page elsewhere whose "
    b"name was pointed at this machine (DNS rebinding). To serve the dashboard under "
    b"another name, set a password (SMTPWATCH_SERVE_PASSWORD or --password-file).\n"
)


def serving_location() -> str:
    """Where the pages say they were made: $SMTPWATCH_LOCATION, else the host name."""
    from smtpwatch.core.probe.environment import (
        LOCATION_VARIABLE,
        default_location,
        parse_location,
    )

    try:
        return parse_location(LOCATION_VARIABLE, os.environ.get(LOCATION_VARIABLE) or "")
    except ValueError:
        return default_location()


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """What every request needs: where the store is, the password, the deadline, and
    the location the pages' footer names."""

    db: Path
    password: str | None = None
    request_timeout_s: float = 10.0
    location: str = field(default_factory=serving_location)
    max_connections: int = MAX_CONNECTIONS


@dataclass(frozen=True, slots=True)
class _Reply:
    code: int
    ctype: str
    data: bytes


class _HeadTooLargeError(Exception):
    """The request line and headers passed MAX_HEAD_BYTES."""


class _DeadlineSocket(io.RawIOBase):
    """The connection's reads with one deadline for the whole request head: each
    receive waits only for what is left of it, so a client sending a byte at a time is
    cut all the same."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _HeadReader:
    """``readline`` (all the request parser uses) over at most MAX_HEAD_BYTES in all."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw
        self._left = MAX_HEAD_BYTES

    def readline(self, limit: int = -1) -> bytes:
        line = self._raw.readline(self._left + 1)
        self._left -= len(line)
        if self._left < 0:
            raise _HeadTooLargeError
        return line

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    server_version = "smtpwatch"
    sys_version = ""
    config: ServeConfig  # set on the subclass make_server builds
    loopback_names_only = False  # True: bound to loopback with no password (make_server)

    def setup(self) -> None:
        super().setup()
        deadline = time.monotonic() + self.config.request_timeout_s
        self.rfile.close()  # the stdlib's reader: nothing read from it yet
        raw = _DeadlineSocket(self.connection, deadline)
        self.rfile = _HeadReader(io.BufferedReader(raw))  # type: ignore[assignment]

    def handle(self) -> None:
        try:
            super().handle()
        except _HeadTooLargeError:
            self.wfile.write(
                b"HTTP/1.0 431 Request Header Fields Too Large\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
        except OSError:
            pass  # the client went away or timed out mid-request: nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: a scrape every few seconds would drown the terminal

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse_method(self) -> None:
        self._send(405, _TEXT, b"only GET and HEAD\n", True, {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _answer(self, body: bool) -> None:
        # The head is in: the answer gets a fresh timeout of its own.
        self.connection.settimeout(self.config.request_timeout_s)
        if self.loopback_names_only and not names_loopback(self.headers.get("Host")):
            self._send(421, _TEXT, _LOOPBACK_NAMES_ONLY, body)
            return
        if not self._authorised():
            self._send(
                401,
                _TEXT,
                b"password required\n",
                body,
                {"WWW-Authenticate": 'Basic realm="smtpwatch", charset="UTF-8"'},
            )
            return
        url = urllib.parse.urlsplit(self.path)
        try:
            reply = self._route(url.path, url.query)
        except sqlite3.Error as exc:
            message = f"the database cannot be read: {exc}\n".encode()
            self._send(503, _TEXT, message, body)
            return
        except Exception as exc:  # a bug, or stored data no page foresaw: say so, go on
            said = one_line(f"{url.path}: {type(exc).__name__}: {exc}")
            print(f"smtpwatch serve: {said}", file=sys.stderr)
            reply = self._html(
                500,
                "Server error",
                f"This page could not be drawn from what the database holds "
                f"({type(exc).__name__}); the server's error output says more.",
            )
        if reply is None:
            self._send(404, _TEXT, b"not found\n", body)
        else:
            self._send(reply.code, reply.ctype, reply.data, body)

    def _route(self, path: str, query_text: str) -> _Reply | None:
        found = static_file(path)
        if found is not None:
            return _Reply(200, found[0], found[1])
        if path == "/" or path.startswith("/targets/"):
            return self._page(path, urllib.parse.parse_qs(query_text, keep_blank_values=True))
        if path not in ("/metrics", "/api/targets") and not path.startswith("/api/targets/"):
            return self._html(404, "Not found", "There is no such page here.")
        query = urllib.parse.parse_qs(query_text)
        conn = open_readonly(self.config.db)
        try:
            if path == "/metrics":
                return _Reply(200, CONTENT_TYPE, _utf8(render_metrics(read_views(conn))))
            if path == "/api/targets":
                return _Reply(200, _JSON, _json(targets_document(conn)))
            target_id = urllib.parse.unquote(path.removeprefix("/api/targets/"))
            document = target_document(conn, target_id, _limit(query))
            return None if document is None else _Reply(200, _JSON, _json(document))
        finally:
            conn.close()

    def _page(self, path: str, query: dict[str, list[str]]) -> _Reply:
        """The overview or a target's page; 400 for a query they cannot use (checked
        before the database is opened), 404 for an unknown target."""
        now = datetime.now(UTC)
        location = self.config.location
        target_id = urllib.parse.unquote(path.removeprefix("/targets/"))
        try:
            chosen = overview_filter(query) if path == "/" else None
            window = target_window(query) if chosen is None else ""
        except QueryError as exc:
            return self._html(400, "Bad request", str(exc), now)
        conn = open_readonly(self.config.db)
        try:
            if chosen is not None:
                rows = overview_rows(conn, now)
                return _Reply(200, _HTML, _utf8(render_overview(rows, chosen, now, location)))
            found = target_page(conn, target_id, window, now)
        finally:
            conn.close()
        if found is None:
            return self._html(404, "Not found", f"No target is called {target_id!r}.", now)
        return _Reply(200, _HTML, _utf8(render_target(found, now, location)))

    def _html(self, code: int, title: str, message: str, now: datetime | None = None) -> _Reply:
        now = now or datetime.now(UTC)
        page = error_page(code, title, message, now, self.config.location)
        return _Reply(code, _HTML, _utf8(page))

    def _authorised(self) -> bool:
        password = self.config.password
        if password is None:
            return True
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        _user, _, given = decoded.partition(b":")  # any user name: the password decides
        return hmac.compare_digest(given, password.encode("utf-8"))

    def _send(
        self, code: int, ctype: str, data: bytes, body: bool, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if ctype == _HTML:
            for name, value in HTML_HEADERS.items():
                self.send_header(name, value)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)


def names_loopback(host_header: str | None) -> bool:
    """Whether a Host header names this machine's loopback: 127.0.0.0/8, ::1,
    localhost or a name under .localhost (which browsers never look up). No header
    (HTTP/1.0) counts as loopback: every browser sends one."""
    if not host_header:
        return True
    text = host_header.strip()
    if text.startswith("["):
        name = text[1 : text.find("]")] if "]" in text else ""
    else:
        name = text.rsplit(":", 1)[0] if ":" in text else text
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _limit(query: dict[str, list[str]]) -> int:
    try:
        return int(query.get("limit", [str(DEFAULT_RESULTS)])[0])
    except ValueError:
        return DEFAULT_RESULTS


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")


def _json(document: dict[str, Any]) -> bytes:
    return _utf8(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``slots`` of them: past that a connection is
    answered 503 at once from the accepting thread (its request read first, for at most
    0.2 s, so that closing it does not reset the answer away)."""

    daemon_threads = True
    slots: threading.BoundedSemaphore  # set on the subclass make_server builds

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(0.2)
                request.recv(MAX_HEAD_BYTES)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()  # no thread was started to release it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_server(host: str, port: int, config: ServeConfig) -> ThreadingHTTPServer:
    """A bound server (port 0: any free port, see ``server_address``), not yet serving."""
    loopback_only = ipaddress.ip_address(host).is_loopback and config.password is None
    handler = type("Handler", (_Handler,), {"config": config, "loopback_names_only": loopback_only})
    server_class = type(
        "Server",
        (_Server,),
        {
            "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET,
            "slots": threading.BoundedSemaphore(config.max_connections),
        },
    )
    return server_class((host, port), handler)  # type: ignore[no-any-return]
