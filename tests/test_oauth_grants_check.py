"""Checks of targets whose token source is a refresh token or a Google service account,
as the local scheduler runs them: the document read from the user-only secret store,
the token fetched inside the probe from a loopback HTTPS endpoint, results stored and
alerted. What the user relies on: one token for many checks of a process, and no refresh
token (the secret's or a rotated one), private key, assertion or access token in
results, state, logs or alert text, even when the provider quotes what it was sent."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smtpwatch.core.alert_text import body
from smtpwatch.core.alert_text.document import document
from smtpwatch.core.oauth_grants import ROTATED
from smtpwatch.core.oauth_token import PROCESS_CACHE
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.result import ErrorKind, Status
from smtpwatch.core.target import Target
from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver
from smtpwatch.service.check import CheckDeps, CheckOutcome, run_check
from smtpwatch.service.memory import MemoryResultStore, MemorySink, MemoryStateStore
from smtpwatch.service.probing import SecretMaskingProbe
from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint
from smtpwatch.testing.servers import Certificates

USER = "monitor@smtpwatch.test"
REFRESH = "1//0g-refresh-token-from-the-consent-never-shown"


class QuotingEndpoint(TokenEndpoint):
    """Issues tokens with a rotated refresh token each time; in ``quote`` mode refuses
    with an ``error_description`` quoting the refresh token or assertion it was sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rotated: list[str] = []

    def answer(self, handler: Any) -> None:
        form = self.requests[-1]
        if self.mode == "quote":
            sent = form.get("refresh_token") or form.get("assertion", "")
            self._send(handler, 400, {"error": "invalid_grant", "error_description": sent})
            return
        if self.mode != "ok":
            super().answer(handler)
            return
        token = f"ya29.access-{len(self.issued) + 1}-never-shown"
        self.issued.append(token)
        if self.on_issue is not None:
            self.on_issue(token)
        doc: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        if form.get("grant_type") == "refresh_token":
            self.rotated.append(f"1//0g-rotated-{len(self.rotated) + 1}-never-shown")
            doc["refresh_token"] = self.rotated[-1]
        self._send(handler, 200, doc)


class Setup:
    def __init__(self, certs: Certificates, tmp: Path) -> None:
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = QuotingEndpoint(certs.valid(), on_issue=self.smtp.tokens.add)
        self.endpoint.start()
        self.certs = certs
        self.key_pem = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode("ascii")
        )
        self.secrets_dir = tmp / "secrets"
        self.secrets_dir.mkdir(mode=0o700)
        self.resolver = LocalSecretResolver(files=FileSecretStore(self.secrets_dir), environ={})
        self.states = MemoryStateStore()
        self.results = MemoryResultStore()
        self.sink = MemorySink()
        self.probe_fn = SecretMaskingProbe(
            ProbeEnvironment(default_ehlo_name="probe.smtpwatch.test")
        )
        self.slot = 0

    def write_secret(self, name: str, oauth: dict[str, Any]) -> None:
        path = self.secrets_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"oauth": oauth, "hosts": ["127.0.0.1"]}, f)

    def refresh(self) -> dict[str, Any]:
        return {
            "flow": "refresh_token",
            "token_url": self.endpoint.url,
            "client_id": "00000000-0000-0000-0000-000000000000",
            "refresh_token": REFRESH,
            "scope": "https://outlook.office.com/SMTP.Send offline_access",
        }

    def account(self) -> dict[str, Any]:
        return {
            "flow": "google_service_account",
            "type": "service_account",
            "private_key_id": "k1",
            "private_key": self.key_pem,
            "client_email": "smtpwatch@project-1.iam.gserviceaccount.com",
            "token_uri": self.endpoint.url,
            "subject": USER,
        }

    def target(self, target_id: str, ref: str) -> Target:
        return Target(
            target_id=target_id,
            host="127.0.0.1",
            port=self.smtp.port,
            login=True,
            username=USER,
            token_ref=ref,
            ca_bundle=self.certs.ca_pem,
            timeout_s=10,
            recheck_delay_s=1,
        )

    def check(self, target: Target) -> CheckOutcome:
        self.slot += 1
        deps = CheckDeps(
            states=self.states,
            results=self.results,
            sinks=[self.sink],
            secrets=self.resolver,
            probe_fn=self.probe_fn,
            sleep=lambda _s: None,
        )
        return run_check(target, scheduled_at=f"2026-12-07T11:{self.slot:02d}:00Z", deps=deps)

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def setup(certs: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    ca = tmp_path / "ca.pem"
    ca.write_text(certs.ca_pem, encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the token client's default trust store
    PROCESS_CACHE.clear()
    ROTATED.clear()
    s = Setup(certs, tmp_path)
    yield s
    s.stop()
    PROCESS_CACHE.clear()
    ROTATED.clear()


@pytest.mark.parametrize("flow", ["refresh", "account"])
def test_many_checks_of_one_process_fetch_one_token(setup: Setup, flow: str) -> None:
    setup.write_secret("src", setup.refresh() if flow == "refresh" else setup.account())
    targets = [setup.target(f"t-{n}", "file:src") for n in range(3)]
    outcomes = [setup.check(t) for _ in range(2) for t in targets]
    assert [o.result.status for o in outcomes if o.result] == [Status.OK] * 6
    assert len(setup.endpoint.requests) == 1
    assert setup.smtp.tokens_seen == setup.endpoint.issued * 6


def test_no_refresh_token_key_assertion_or_access_token_appears_anywhere(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup.write_secret("refresh", setup.refresh())
    setup.write_secret("account", setup.account())
    refresh, account = setup.target("refresh", "file:refresh"), setup.target("g", "file:account")
    outcomes = [setup.check(refresh), setup.check(account)]
    setup.smtp.tokens.clear()  # revoked: each fetched again once, then refused again
    setup.endpoint.on_issue = None
    outcomes += [setup.check(refresh), setup.check(account)]
    PROCESS_CACHE.clear()
    setup.endpoint.mode = "quote"  # the provider quotes the refresh token / assertion
    outcomes += [setup.check(refresh), setup.check(account)]
    results = [o.result for o in outcomes]
    assert all(r is not None for r in results)
    kinds = [r.error.kind if r and r.error else None for r in results]
    assert kinds[:2] == [None, None]
    assert kinds[2:4] == [ErrorKind.AUTH_FAILED, ErrorKind.AUTH_FAILED]
    assert kinds[4:] == [ErrorKind.OAUTH_TOKEN, ErrorKind.OAUTH_TOKEN]
    assert setup.sink.alerts, "the failures were alerted"
    # each refresh sent the refresh token the previous one rotated to
    rotated = setup.endpoint.rotated
    sent = [r["refresh_token"] for r in setup.endpoint.requests if "refresh_token" in r]
    assert len(rotated) >= 2
    assert sent == [REFRESH, *rotated] + [rotated[-1]] * (len(sent) - len(rotated) - 1)

    seen = [
        json.dumps(r.to_dict()) for t in ("refresh", "g") for r in setup.results.iter_results(t)
    ]
    seen += [json.dumps(s.to_dict()) for s in setup.states.iter_states()]
    seen += [body.text(a) for a in setup.sink.alerts]
    seen += [json.dumps(document(a)) for a in setup.sink.alerts]
    seen += [r.getMessage() for r in caplog.records]
    seen += [repr(o) for o in outcomes]
    everything = "\n".join(seen)
    secrets = [REFRESH, *setup.endpoint.rotated, *setup.endpoint.issued]
    # the provider's description is cut at 300 characters: no 100 of an assertion either
    secrets += [r["assertion"][:100] for r in setup.endpoint.requests if "assertion" in r]
    secrets += [line for line in setup.key_pem.splitlines() if "-----" not in line]
    assert len(setup.endpoint.issued) >= 4
    for secret in secrets:
        assert secret not in everything
    assert "invalid_grant" in everything  # the scan did see the provider's refusals
