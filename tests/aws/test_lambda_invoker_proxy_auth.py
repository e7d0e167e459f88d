"""A proxy that asks for credentials: the direct invoker sends the user and password of
``HTTPS_PROXY`` (percent-decoded) as ``Proxy-Authorization: Basic``, as botocore does,
and only to the proxy. A loopback CONNECT proxy answering 407 without them stands in for
a corporate proxy; the Lambda endpoint is a loopback HTTPS server with its own CA.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from test_lambda_invoker_network import (  # noqa: F401  (fixtures)
    TlsEndpoint,
    _invoker,
    _pipe,
    clean_env,
    tls_endpoint,
)

USER, PASSWORD = "monitor", "p@ss:w/rd"
# userinfo percent-encoded in the URL, as a user writes it in HTTPS_PROXY
QUOTED = "monitor:p%40ss%3Aw%2Frd"


@dataclass
class AuthProxy:
    url: str
    seen: list[str | None] = field(default_factory=list)  # Proxy-Authorization per CONNECT


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


@pytest.fixture
def auth_proxy() -> Iterator[AuthProxy]:
    listener = socket.create_server(("127.0.0.1", 0))
    state = AuthProxy(url=f"127.0.0.1:{listener.getsockname()[1]}")
    wanted = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def serve_one(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        host, _, port = target.rpartition(":")
        given = _header(head, "Proxy-Authorization")
        state.seen.append(given)
        if method != "CONNECT" or host != "127.0.0.1" or given != wanted:  # loopback only
            client.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            client.close()
            return
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)
        client.close()
        upstream.close()

    def accept_loop() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(client,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    yield state
    with contextlib.suppress(OSError):
        listener.close()


def test_the_proxys_credentials_from_https_proxy_open_the_tunnel(
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    tls_endpoint: TlsEndpoint,  # noqa: F811
    auth_proxy: AuthProxy,
) -> None:
    clean_env.setenv("AWS_CA_BUNDLE", str(tls_endpoint.ca_file))
    clean_env.setenv("HTTPS_PROXY", f"http://{QUOTED}@{auth_proxy.url}")
    _invoker(tls_endpoint.url).invoke("mx1", "2026-11-25T15:00:00Z")
    assert [json.loads(b)["target_id"] for b in tls_endpoint.bodies] == ["mx1"]
    (given,) = auth_proxy.seen
    assert given is not None
    assert base64.b64decode(given.removeprefix("Basic ")).decode() == f"{USER}:{PASSWORD}"


def test_without_credentials_the_proxy_refuses_and_the_invoke_fails(
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    tls_endpoint: TlsEndpoint,  # noqa: F811
    auth_proxy: AuthProxy,
) -> None:
    clean_env.setenv("AWS_CA_BUNDLE", str(tls_endpoint.ca_file))
    clean_env.setenv("HTTPS_PROXY", f"http://{auth_proxy.url}")
    with pytest.raises(OSError, match="407"):
        _invoker(tls_endpoint.url).invoke("mx1", "2026-11-25T15:00:00Z")
    assert tls_endpoint.bodies == []
    assert auth_proxy.seen and set(auth_proxy.seen) == {None}
