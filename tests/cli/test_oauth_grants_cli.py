"""``smtpwatch probe --oauth-secret-file`` with a Google service account or a refresh
token, as a user runs it (subprocesses, loopback servers): the login works, an expired
refresh token exits 2 saying to sign in again, and neither the private key, the refresh
token nor the access token shows in the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint
from smtpwatch.testing.servers import Certificates

USER = "monitor@smtpwatch.test"
REFRESH = "1//0g-refresh-token-never-shown"


class RefusingEndpoint(TokenEndpoint):
    """Refuses every refresh token as Google does once it has expired."""

    def answer(self, handler: Any) -> None:
        if self.mode == "invalid_grant":
            error = {"error": "invalid_grant", "error_description": "Token has been expired"}
            self._send(handler, 400, error)
            return
        super().answer(handler)


class Servers:
    def __init__(self, certs: Certificates, tmp: Path) -> None:
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = RefusingEndpoint(certs.valid(), on_issue=self.smtp.tokens.add)
        self.endpoint.start()
        self.ca = tmp / "ca.pem"
        self.ca.write_text(certs.ca_pem, encoding="ascii")
        self.tmp = tmp
        self.key_pem = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode("ascii")
        )

    def secret_file(self, oauth: dict[str, Any]) -> Path:
        path = self.tmp / "google.json"
        path.write_text(json.dumps({"oauth": oauth, "hosts": ["127.0.0.1"]}), encoding="utf-8")
        path.chmod(0o600)
        return path

    def probe(self, secret: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPWATCH_")}
        env["SSL_CERT_FILE"] = str(self.ca)  # the token client trusts the test CA
        command = [sys.executable, "-m", "smtpwatch", "probe", f"127.0.0.1:{self.smtp.port}"]
        command += ["--ca-bundle", str(self.ca), "--username", USER]
        return subprocess.run(
            [*command, "--oauth-secret-file", str(secret)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def servers(certs: Certificates, tmp_path: Path) -> Iterator[Servers]:
    s = Servers(certs, tmp_path)
    yield s
    s.stop()


def test_a_service_account_secret_file_logs_in(servers: Servers) -> None:
    secret = servers.secret_file(
        {
            "flow": "google_service_account",
            "private_key": servers.key_pem,
            "client_email": "smtpwatch@project-1.iam.gserviceaccount.com",
            "token_uri": servers.endpoint.url,
            "subject": USER,
        }
    )
    out = servers.probe(secret)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("SMTP OK")
    [form] = servers.endpoint.requests
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    shown = out.stdout + out.stderr
    for secret_text in (form["assertion"], *servers.endpoint.issued):
        assert secret_text not in shown
    assert all(line not in shown for line in servers.key_pem.splitlines()[1:-1])


def test_an_expired_refresh_token_exits_2_saying_to_sign_in_again(servers: Servers) -> None:
    servers.endpoint.mode = "invalid_grant"
    secret = servers.secret_file(
        {
            "flow": "refresh_token",
            "token_url": servers.endpoint.url,
            "client_id": "1234-abc.apps.googleusercontent.com",
            "refresh_token": REFRESH,
        }
    )
    out = servers.probe(secret)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "oauth_token" in out.stdout
    assert (
        "invalid_grant: Token has been expired (the refresh token has expired or was revoked:"
        " sign in again to get a new one and store it in the token source's secret)"
    ) in out.stdout
    assert REFRESH not in out.stdout + out.stderr
    assert servers.smtp.auth_attempts == []
