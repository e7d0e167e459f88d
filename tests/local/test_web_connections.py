"""How many connections `smtpwatch serve` holds at once: each one that is open costs a
thread until it is answered or its deadline passes, so past the limit a new connection
is answered 503 at once instead of getting a thread. Real sockets on 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.local.web import ServeConfig, make_server


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    db = tmp_path / "smtpwatch.db"
    SqliteStore(db).close()
    config = ServeConfig(db=db, request_timeout_s=60.0, max_connections=2, location="here")
    server = make_server("127.0.0.1", 0, config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_past_the_limit_a_connection_is_told_to_come_back(port: int) -> None:
    # Two connections that send nothing hold both places until they close.
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
    try:
        status, headers, body = _get(port, "/metrics")
        assert status == 503 and headers["Retry-After"] == "1"
        assert body == b"busy: too many connections at once; try again\n"
    finally:
        idle[0].close()
    deadline = time.monotonic() + 20
    while (status := _get(port, "/metrics")[0]) == 503 and time.monotonic() < deadline:
        pass  # the closed connection's place comes free once its thread has seen EOF
    assert status == 200
    idle[1].close()
