"""A check of a target whose login is an OAuth 2.0 token source (``token_ref``), as the
local scheduler runs it: the secret document read from the user-only store, the token
fetched inside the probe from a loopback HTTPS endpoint, the result stored and alerted.
What the user relies on: one token for many checks of a process, a token source naming
another host refused before anything is sent, an endpoint only the secret can name, and
neither the token nor the client secret in results, state, logs or alert text."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.core.alert_text import body
from smtpwatch.core.alert_text.document import document
from smtpwatch.core.errors import ConfigError
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
CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"


class Setup:
    def __init__(self, certs: Certificates, tmp: Path) -> None:
        self.certs = certs
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = TokenEndpoint(certs.valid(), on_issue=self.smtp.tokens.add).start()
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

    def write_secret(self, name: str, hosts: list[str], **oauth: Any) -> None:
        doc = {
            "oauth": {
                "flow": "client_credentials",
                "token_url": self.endpoint.url,
                "client_id": "client-1",
                "client_secret": CLIENT_SECRET,
                "scope": "https://outlook.office365.com/.default",
                **oauth,
            },
            "hosts": hosts,
        }
        path = self.secrets_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)

    def target(self, target_id: str = "o365", **fields: Any) -> Target:
        fields.setdefault("token_ref", "file:o365")
        return Target(
            target_id=target_id,
            host="127.0.0.1",
            port=self.smtp.port,
            login=True,
            username=USER,
            ca_bundle=self.certs.ca_pem,
            timeout_s=10,
            recheck_delay_s=1,
            **fields,
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
        return run_check(target, scheduled_at=f"2026-12-07T10:{self.slot:02d}:00Z", deps=deps)

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def setup(certs: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    # The token client verifies the endpoint against the default trust store: here, the
    # test CA (OpenSSL reads SSL_CERT_FILE when a default context is made).
    ca = tmp_path / "ca.pem"
    ca.write_text(certs.ca_pem, encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    PROCESS_CACHE.clear()
    s = Setup(certs, tmp_path)
    yield s
    s.stop()
    PROCESS_CACHE.clear()


def test_many_checks_of_one_process_fetch_one_token(setup: Setup) -> None:
    setup.write_secret("o365", ["127.0.0.1"])
    targets = [setup.target(f"o365-{n}") for n in range(3)]
    outcomes = [setup.check(t) for _ in range(2) for t in targets]
    assert [o.result.status for o in outcomes if o.result] == [Status.OK] * 6
    assert len(setup.endpoint.requests) == 1
    assert setup.smtp.tokens_seen == setup.endpoint.issued * 6


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        threading.Event().wait(0.01)


def test_concurrent_checks_of_a_cold_process_wait_for_one_token(setup: Setup) -> None:
    setup.write_secret("o365", ["127.0.0.1"])
    setup.endpoint.mode = "hold"
    targets = [setup.target(f"o365-{n}") for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(setup.check, t) for t in targets]
        # every probe is at its login (two EHLOs each) while the provider holds the first
        # request: the others wait for that token instead of asking for their own
        wait_until(lambda: len(setup.smtp.ehlo_names) >= 8 and len(setup.endpoint.requests) >= 1)
        setup.endpoint.release.set()
        outcomes = [f.result(timeout=30) for f in futures]
    assert [o.result.status for o in outcomes if o.result] == [Status.OK] * 4
    assert len(setup.endpoint.requests) == 1


def test_a_token_source_naming_another_host_is_refused_before_anything_is_sent(
    setup: Setup,
) -> None:
    setup.write_secret("o365", ["smtp.office365.com"])
    outcome = setup.check(setup.target())
    assert outcome.result is not None and outcome.result.error is not None
    assert outcome.result.status is Status.CRITICAL
    assert outcome.result.error.kind is ErrorKind.CONFIG
    assert outcome.result.error.message == (
        "token_ref: file:o365 may only be sent to smtp.office365.com, not to 127.0.0.1: "
        "refusing to send its token"
    )
    assert setup.endpoint.requests == []
    assert setup.smtp.auth_attempts == []


def test_a_token_source_naming_no_host_is_refused(setup: Setup) -> None:
    setup.write_secret("o365", [])
    outcome = setup.check(setup.target())
    assert outcome.result is not None and outcome.result.error is not None
    assert outcome.result.error.message == (
        "token_ref: file:o365: the token source names no host ('hosts')"
    )
    assert setup.endpoint.requests == []


def test_a_target_item_cannot_name_the_token_endpoint(setup: Setup) -> None:
    item = setup.target().to_item()
    with pytest.raises(ConfigError) as refused:
        Target.from_item({**item, "token_url": "https://attacker.example/token"}, strict=True)
    assert str(refused.value) == (
        "token_url: unknown attribute 'token_url' (did you mean token_ref?)"
    )
    # A stored item with the attribute (typed in the console) is probed; the attribute
    # is reported as unknown and plays no part: the token comes from the secret's URL.
    setup.write_secret("o365", ["127.0.0.1"])
    target, unknown = Target.from_item(
        {**item, "token_url": "https://127.0.0.1:9/token", "client_secret": "x"}, strict=False
    )
    assert unknown == ["client_secret", "token_url"]
    outcome = setup.check(target)
    assert outcome.result is not None and outcome.result.status is Status.OK
    assert len(setup.endpoint.requests) == 1


def test_the_token_and_the_client_secret_appear_nowhere(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup.write_secret("o365", ["127.0.0.1"])
    target = setup.target()
    ok = setup.check(target)
    setup.smtp.tokens.clear()  # revoked: fetched again once, then refused again
    setup.endpoint.on_issue = None
    refused = setup.check(target)
    PROCESS_CACHE.clear()
    setup.endpoint.mode = "echo_secret"  # the provider quotes the client secret back
    provider = setup.check(setup.target("o365-provider"))
    assert ok.result is not None and ok.result.status is Status.OK
    assert refused.result is not None and refused.result.error is not None
    assert refused.result.error.kind is ErrorKind.AUTH_FAILED
    assert provider.result is not None and provider.result.error is not None
    assert provider.result.error.kind is ErrorKind.OAUTH_TOKEN
    assert setup.sink.alerts, "the failures were alerted"

    seen: list[str] = [
        json.dumps(r.to_dict())
        for tid in (target.target_id, "o365-provider")
        for r in setup.results.iter_results(tid)
    ]
    seen += [json.dumps(s.to_dict()) for s in setup.states.iter_states()]
    seen += [body.text(a) for a in setup.sink.alerts]
    seen += [json.dumps(document(a)) for a in setup.sink.alerts]
    seen += [r.getMessage() for r in caplog.records]
    seen += [repr(o) for o in (ok, refused, provider)]
    everything = "\n".join(seen)
    assert setup.endpoint.issued and len(setup.endpoint.issued) >= 2
    for secret in (CLIENT_SECRET, *setup.endpoint.issued):
        assert secret not in everything
    assert "oauth_token" in everything  # the scan did see the failures
    assert "Next step: The identity provider gave no access token" in everything
