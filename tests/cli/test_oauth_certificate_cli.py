"""``smtpwatch probe --oauth-secret-file`` with a Microsoft client certificate, as a user
runs it (a subprocess, loopback servers): the token endpoint verifies the client
assertion with the certificate's public key; the login works, and neither the private
key, the assertion nor the access token shows in the output. A key that is not the
certificate's is refused by the provider: exit 2, oauth_token."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint
from smtpwatch.testing.servers import Certificates

USER = "monitor@contoso.test"


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # BEGIN RSA PRIVATE KEY
        serialization.NoEncryption(),
    ).decode("ascii")


class CheckingEndpoint(TokenEndpoint):
    """Issues a token only for an assertion the uploaded certificate's key signed."""

    def __init__(self, *args: Any, uploaded: x509.Certificate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uploaded = uploaded

    def answer(self, handler: Any) -> None:
        header, claims, signature = self.requests[-1].get("client_assertion", "..").split(".")
        public_key = self.uploaded.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        try:
            public_key.verify(
                base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                f"{header}.{claims}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            problem = "AADSTS700027: signature validation failed"
            self._send(handler, 401, {"error": "invalid_client", "error_description": problem})
            return
        super().answer(handler)


class Servers:
    def __init__(self, certs: Certificates, tmp: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpwatch")])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = CheckingEndpoint(
            certs.valid(), uploaded=self.cert, on_issue=self.smtp.tokens.add
        ).start()
        self.ca = tmp / "ca.pem"
        self.ca.write_text(certs.ca_pem, encoding="ascii")
        self.tmp = tmp

    def secret_file(self, key: rsa.RSAPrivateKey) -> Path:
        path = self.tmp / "o365.json"
        certificate = self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        doc = {
            "oauth": {
                "token_url": self.endpoint.url,
                "client_id": "client-1",
                "client_certificate": {"private_key": pem_of(key), "certificate": certificate},
            },
            "hosts": ["127.0.0.1"],
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        return path

    def probe(self, path: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPWATCH_")}
        env["SSL_CERT_FILE"] = str(self.ca)  # the token client's default trust store
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "smtpwatch",
                "probe",
                f"127.0.0.1:{self.smtp.port}",
                "--ca-bundle",
                str(self.ca),
                "--username",
                USER,
                "--oauth-secret-file",
                str(path),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    def secrets(self, key: rsa.RSAPrivateKey) -> list[str]:
        found = [*self.endpoint.issued]
        found += [r["client_assertion"][:100] for r in self.endpoint.requests]
        return found + [line for line in pem_of(key).splitlines() if "-----" not in line]

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def servers(certs: Certificates, tmp_path: Path) -> Iterator[Servers]:
    s = Servers(certs, tmp_path)
    yield s
    s.stop()


def test_a_certificate_secret_file_logs_in_without_showing_the_key(servers: Servers) -> None:
    out = servers.probe(servers.secret_file(servers.key))
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["auth"]["mechanism"] == "XOAUTH2"
    [form] = servers.endpoint.requests
    assert "client_secret" not in form and form["grant_type"] == "client_credentials"
    for secret in servers.secrets(servers.key):
        assert secret not in out.stdout + out.stderr


def test_a_key_that_is_not_the_certificates_exits_2_with_the_providers_answer(
    servers: Servers,
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out = servers.probe(servers.secret_file(other))
    assert out.returncode == 2, out.stdout + out.stderr
    error = json.loads(out.stdout)["error"]
    assert (error["kind"], error["phase"]) == ("oauth_token", "auth")
    assert error["message"] == (
        "token endpoint 127.0.0.1 answered HTTP 401: invalid_client:"
        " AADSTS700027: signature validation failed"
    )
    assert servers.smtp.auth_attempts == []
    for secret in servers.secrets(other):
        assert secret not in out.stdout + out.stderr
