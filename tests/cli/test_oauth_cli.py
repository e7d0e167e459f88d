"""OAuth 2.0 on the command line, as a user runs it (subprocesses, loopback servers):
``smtpwatch probe --oauth-token-env VAR`` / ``--oauth-secret-file PATH`` for a one-off
check, and ``targets add … --token-ref REF`` storing a token source. Tokens and client
secrets never show in the output; an item cannot name a token endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint
from smtpwatch.testing.servers import Certificates

USER = "monitor@smtpwatch.test"
TOKEN = "eyJ0eXAiOiJKV1QiLCJub25jZSI6.ready-token-never-shown"
CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"


class Servers:
    def __init__(self, certs: Certificates, tmp: Path) -> None:
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = TokenEndpoint(certs.valid(), on_issue=self.smtp.tokens.add).start()
        self.ca = tmp / "ca.pem"
        self.ca.write_text(certs.ca_pem, encoding="ascii")
        self.tmp = tmp

    def secret_file(self, hosts: list[str], mode: int = 0o600) -> Path:
        path = self.tmp / "o365.json"
        doc = {
            "oauth": {
                "token_url": self.endpoint.url,
                "client_id": "client-1",
                "client_secret": CLIENT_SECRET,
                "scope": "https://outlook.office365.com/.default",
            },
            "hosts": hosts,
        }
        path.write_text(json.dumps(doc), encoding="utf-8")
        path.chmod(mode)
        return path

    def probe(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SMTPWATCH_")}
        # the token client trusts the default store: here, the test CA
        base |= {"SSL_CERT_FILE": str(self.ca), **(env or {})}
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
                *args,
            ],
            capture_output=True,
            text=True,
            env=base,
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


def no_secret(out: subprocess.CompletedProcess[str], *more: str) -> None:
    for secret in (TOKEN, CLIENT_SECRET, *more):
        assert secret not in out.stdout + out.stderr


def test_a_ready_token_from_the_environment_logs_in(servers: Servers) -> None:
    servers.smtp.tokens.add(TOKEN)
    out = servers.probe("--oauth-token-env", "O365_TOKEN", "--json", env={"O365_TOKEN": TOKEN})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["auth"] == {"mechanism": "XOAUTH2", "tried": ["XOAUTH2"], "over_tls": True}
    assert servers.endpoint.requests == []
    no_secret(out)


def test_a_refused_token_is_critical_with_the_servers_challenge(servers: Servers) -> None:
    out = servers.probe("--oauth-token-env", "O365_TOKEN", env={"O365_TOKEN": TOKEN})
    assert out.returncode == 2
    assert "AUTH XOAUTH2 rejected: 535 5.7.8" in out.stdout
    assert "status 401, scope https://outlook.office365.com/.default" in out.stdout
    no_secret(out)


def test_a_secret_file_fetches_the_token_and_reports_the_time_at_the_provider(
    servers: Servers,
) -> None:
    path = servers.secret_file(["127.0.0.1"])
    out = servers.probe("--oauth-secret-file", str(path), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    auth = json.loads(out.stdout)["auth"]
    assert (auth["mechanism"], isinstance(auth["token_ms"], float)) == ("XOAUTH2", True)
    assert len(servers.endpoint.requests) == 1
    no_secret(out, *servers.endpoint.issued)


def test_the_text_output_says_how_long_the_token_endpoint_took(servers: Servers) -> None:
    out = servers.probe("--oauth-secret-file", str(servers.secret_file(["127.0.0.1"])))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    at = lines.index("auth: XOAUTH2 ok over TLS (tried: XOAUTH2)")
    assert lines[at + 1].startswith("  access token: ")
    assert lines[at + 1].endswith(" ms at the token endpoint")
    no_secret(out, *servers.endpoint.issued)


def test_a_provider_error_is_oauth_token_exit_2(servers: Servers) -> None:
    servers.endpoint.mode = "invalid_client"
    out = servers.probe("--oauth-secret-file", str(servers.secret_file(["127.0.0.1"])), "--json")
    assert out.returncode == 2
    error = json.loads(out.stdout)["error"]
    assert (error["kind"], error["phase"]) == ("oauth_token", "auth")
    assert error["message"].endswith(
        "answered HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided."
    )
    no_secret(out)


@pytest.mark.parametrize(
    ("hosts", "mode", "message"),
    [
        (
            ["smtp.office365.com"],
            0o600,
            "may only be sent to smtp.office365.com, not to 127.0.0.1: refusing to log in",
        ),
        (["127.0.0.1"], 0o644, "other users may read it (chmod 600"),
    ],
)
def test_a_secret_file_for_another_host_or_readable_by_others_is_refused(
    servers: Servers, hosts: list[str], mode: int, message: str
) -> None:
    out = servers.probe("--oauth-secret-file", str(servers.secret_file(hosts, mode)))
    assert out.returncode == 3
    assert message in out.stderr + out.stdout
    assert servers.endpoint.requests == []
    assert servers.smtp.auth_attempts == []


def test_a_token_source_and_a_password_together_are_refused(servers: Servers) -> None:
    out = servers.probe(
        "--oauth-token-env", "O365_TOKEN", "--password-env", "PW", env={"O365_TOKEN": TOKEN}
    )
    assert out.returncode == 3
    assert "give a password or an OAuth token source, not both" in out.stderr + out.stdout


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def stored(cli: Cli) -> dict[str, Any]:
    with SqliteStore(cli.db) as store:
        return {str(i["target_id"]): i for i in store.iter_items()}


def test_targets_add_stores_a_token_reference_and_logs_in_with_oauth(cli: Cli) -> None:
    out = cli("add", "o365", "smtp.office365.com", "--username", USER, "--token-ref", "file:o365")
    assert out.returncode == 0, out.stderr
    item = stored(cli)["o365"]
    assert (item["login"], item["token_ref"], item["auth_methods"]) == (
        True,
        "file:o365",
        ["XOAUTH2", "OAUTHBEARER"],
    )
    assert "password_ref" not in item


def test_targets_add_refuses_a_token_and_a_password_reference(cli: Cli) -> None:
    out = cli(
        "add",
        "o365",
        "smtp.office365.com",
        "--username",
        USER,
        "--token-ref",
        "file:o365",
        "--password-ref",
        "file:pw",
    )
    assert out.returncode != 0
    assert "token_ref: cannot be used together with password_ref" in out.stderr
    assert stored(cli) == {}


def test_an_imported_item_cannot_name_a_token_endpoint(cli: Cli, tmp_path: Path) -> None:
    item = {
        "target_id": "o365",
        "host": "smtp.office365.com",
        "login": True,
        "username": USER,
        "token_ref": "file:o365",
        "token_url": "https://attacker.example/token",
    }
    path = tmp_path / "targets.json"
    path.write_text(json.dumps([item]), encoding="utf-8")
    out = cli("import", str(path))
    assert out.returncode != 0
    assert "unknown attribute 'token_url'" in out.stderr
    assert stored(cli) == {}
