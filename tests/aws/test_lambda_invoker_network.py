"""The direct invoker reaches Lambda the way boto3 would: it trusts ``AWS_CA_BUNDLE``
and goes through ``HTTPS_PROXY`` unless ``NO_PROXY`` names the host. A loopback HTTPS
endpoint with its own CA and a loopback CONNECT proxy stand in for the real ones."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import trustme

from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@dataclass
class TlsEndpoint:
    url: str
    ca_file: Path
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("AWS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", *_PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[TlsEndpoint]:
    ca = trustme.CA()
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    state = TlsEndpoint(url="", ca_file=ca_file)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            try:
                self.request = server_ctx.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError):
                self.request.close()
                raise
            super().setup()

        def do_POST(self) -> None:
            state.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *_a: None  # type: ignore[method-assign]  # refused handshakes
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"https://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class ConnectProxy:
    url: str
    connects: list[str] = field(default_factory=list)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    listener = socket.create_server(("127.0.0.1", 0))
    state = ConnectProxy(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

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
        if method != "CONNECT" or host != "127.0.0.1":  # loopback only
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        state.connects.append(target)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)
        client.close()
        upstream.close()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(client,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    yield state
    stop.set()
    listener.close()


def _invoker(url: str) -> DirectLambdaInvoker:
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    client = session.create_client("lambda", region_name="us-east-1", endpoint_url=url)
    return DirectLambdaInvoker(client, session, "smtpwatch-probe", timeout_s=5.0)


def test_without_the_ca_bundle_a_private_ca_is_not_trusted(
    clean_env: pytest.MonkeyPatch, tls_endpoint: TlsEndpoint
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _invoker(tls_endpoint.url).invoke("mx1", "2026-11-25T15:00:00Z")
    assert tls_endpoint.bodies == []


def test_aws_ca_bundle_is_trusted_like_boto3_does(
    clean_env: pytest.MonkeyPatch, tls_endpoint: TlsEndpoint
) -> None:
    clean_env.setenv("AWS_CA_BUNDLE", str(tls_endpoint.ca_file))
    _invoker(tls_endpoint.url).invoke("mx1", "2026-11-25T15:00:00Z")
    assert [json.loads(b)["target_id"] for b in tls_endpoint.bodies] == ["mx1"]


def test_https_proxy_carries_the_invoke_through_a_connect_tunnel(
    clean_env: pytest.MonkeyPatch, tls_endpoint: TlsEndpoint, connect_proxy: ConnectProxy
) -> None:
    clean_env.setenv("AWS_CA_BUNDLE", str(tls_endpoint.ca_file))
    clean_env.setenv("HTTPS_PROXY", connect_proxy.url)
    invoker = _invoker(tls_endpoint.url)
    invoker.invoke("mx1", "2026-11-25T15:00:00Z")
    invoker.invoke("mx2", "2026-11-25T15:00:00Z")  # the tunnel is kept alive
    assert [json.loads(b)["target_id"] for b in tls_endpoint.bodies] == ["mx1", "mx2"]
    assert connect_proxy.connects == [tls_endpoint.url.removeprefix("https://")]


def test_no_proxy_naming_the_host_bypasses_the_proxy(
    clean_env: pytest.MonkeyPatch, tls_endpoint: TlsEndpoint, connect_proxy: ConnectProxy
) -> None:
    clean_env.setenv("AWS_CA_BUNDLE", str(tls_endpoint.ca_file))
    clean_env.setenv("HTTPS_PROXY", connect_proxy.url)
    clean_env.setenv("NO_PROXY", "127.0.0.1")
    _invoker(tls_endpoint.url).invoke("mx1", "2026-11-25T15:00:00Z")
    assert [json.loads(b)["target_id"] for b in tls_endpoint.bodies] == ["mx1"]
    assert connect_proxy.connects == []
