"""OAuth 2.0 login against real loopback servers: an aiosmtpd server that checks XOAUTH2
and OAUTHBEARER tokens (RFC 7628 error exchange included) and an HTTPS token endpoint
that counts its requests. What the user relies on: the login works with a fetched token,
tokens are reused until they expire, a revoked token is fetched again exactly once, a
provider failure is ``oauth_token`` naming the provider's answer within the deadline,
and neither the token nor the client secret ever shows in a result."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from smtpwatch.core.oauth_token import ClientCredentials, ReadyToken, TokenCache
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.target import Target
from smtpwatch.testing.oauth_servers import (
    ERROR_CHALLENGE,
    OAuthSmtpServer,
    TokenEndpoint,
    client_context,
)
from smtpwatch.testing.servers import Certificates

USER = "monitor@smtpwatch.test"
CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"
SCOPE = "https://outlook.office365.com/.default"


class Clock:
    """A monotonic clock the test moves (token expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, certs: Certificates) -> None:
        self.certs = certs
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = TokenEndpoint(certs.valid(), on_issue=self.smtp.tokens.add).start()
        self.clock = Clock()
        self.cache = TokenCache(clock=self.clock)

    def source(self, **changes: Any) -> ClientCredentials:
        fields: dict[str, Any] = {
            "token_url": self.endpoint.url,
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "scope": SCOPE,
            "cache": self.cache,
            "context": client_context(self.certs.ca_pem),
        }
        fields.update(changes)
        return ClientCredentials(**fields)

    def target(self, **fields: Any) -> Target:
        fields.setdefault("timeout_s", 10)
        return Target(
            target_id="o365",
            host="127.0.0.1",
            port=self.smtp.port,
            login=True,
            username=USER,
            token_ref="file:o365",
            ca_bundle=self.certs.ca_pem,
            **fields,
        )

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def world(certs: Certificates) -> Iterator[World]:
    w = World(certs)
    yield w
    w.stop()


def no_secret_in(result: ProbeResult, world: World) -> None:
    text = json.dumps(result.to_dict())
    for secret in (CLIENT_SECRET, *world.endpoint.issued):
        assert secret not in text


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_each_mechanism_logs_in_with_a_token_from_the_endpoint(
    world: World, env: ProbeEnvironment, mechanism: str
) -> None:
    result = probe(world.target(auth_methods=[mechanism]), tokens=world.source(), env=env)
    assert result.status is Status.OK, result.to_dict()
    auth = result.to_dict()["auth"]
    assert (auth["mechanism"], auth["tried"], auth["over_tls"]) == (mechanism, [mechanism], True)
    assert isinstance(auth["token_ms"], float)  # time at the provider, part of auth's ms
    auth_ms = result.phase(Phase.AUTH).ms
    assert auth_ms is not None and auth["token_ms"] <= auth_ms
    assert world.smtp.tokens_seen == world.endpoint.issued == [world.endpoint.issued[0]]
    assert world.endpoint.requests == [
        {
            "grant_type": "client_credentials",
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "scope": SCOPE,
        }
    ]
    no_secret_in(result, world)


def test_the_default_methods_of_a_token_source_are_xoauth2_then_oauthbearer(
    world: World, env: ProbeEnvironment
) -> None:
    world.smtp.oauth_mechanisms = ("OAUTHBEARER",)  # XOAUTH2 offered but refused: 504
    target = world.target()
    assert target.auth_methods == ("XOAUTH2", "OAUTHBEARER")
    result = probe(target, tokens=world.source(), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.tried) == ("OAUTHBEARER", ("XOAUTH2", "OAUTHBEARER"))
    assert len(world.endpoint.requests) == 1  # one token for both mechanisms


@pytest.mark.parametrize(("mechanism", "dummy"), [("XOAUTH2", b""), ("OAUTHBEARER", b"\x01")])
def test_a_rejected_token_ends_with_the_rfc7628_error_exchange(
    world: World, env: ProbeEnvironment, mechanism: str, dummy: bytes
) -> None:
    token = "ya29.not-a-valid-token-for-this-server"
    result = probe(world.target(auth_methods=[mechanism]), tokens=ReadyToken(token), env=env)
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase, result.error.smtp_code) == (
        ErrorKind.AUTH_FAILED,
        Phase.AUTH,
        535,
    )
    assert result.error.message == (
        f"AUTH {mechanism} rejected: 535 5.7.8 Authentication credentials invalid"
        f" (the server's challenge: status {ERROR_CHALLENGE['status']},"
        f" scope {ERROR_CHALLENGE['scope']})"
    )
    # the client answered the challenge with the dummy response, and sent no more
    assert world.smtp.dummy_answers == [dummy]
    assert world.smtp.auth_attempts == [mechanism]
    assert token not in json.dumps(result.to_dict())


def test_a_cached_token_serves_the_next_probes_until_shortly_before_it_expires(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.expires_in = 3600
    first = probe(world.target(), tokens=world.source(), env=env)
    world.clock.now += 3000  # 10 minutes left: still used
    second = probe(world.target(), tokens=world.source(), env=env)
    assert (first.status, second.status) == (Status.OK, Status.OK)
    assert len(world.endpoint.requests) == 1
    assert second.auth is not None and second.auth.token_ms is None  # from the cache
    assert "token_ms" not in second.to_dict()["auth"]
    world.clock.now += 400  # 200 s left: inside the margin, fetched again
    third = probe(world.target(), tokens=world.source(), env=env)
    assert third.status is Status.OK, third.to_dict()
    assert len(world.endpoint.requests) == 2
    assert world.smtp.tokens_seen == [
        world.endpoint.issued[0],
        world.endpoint.issued[0],
        world.endpoint.issued[1],
    ]


def test_a_revoked_token_is_fetched_again_once_and_the_login_succeeds(
    world: World, env: ProbeEnvironment
) -> None:
    assert probe(world.target(), tokens=world.source(), env=env).status is Status.OK
    world.smtp.tokens.clear()  # revoked at the provider: the server refuses it now
    result = probe(world.target(), tokens=world.source(), env=env)
    assert result.status is Status.OK, result.to_dict()
    issued = world.endpoint.issued
    assert len(world.endpoint.requests) == 2
    assert world.smtp.tokens_seen == [issued[0], issued[0], issued[1]]
    assert result.auth is not None and result.auth.tried == ("XOAUTH2",)


def test_a_fresh_token_the_server_rejects_is_not_fetched_again(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.on_issue = None  # the server accepts none of the tokens
    assert probe(world.target(), tokens=world.source(), env=env).status is Status.CRITICAL
    assert len(world.endpoint.requests) == 1  # fresh from the provider: wrong, not stale
    result = probe(world.target(), tokens=world.source(), env=env)  # cached this time
    assert result.error is not None and result.error.kind is ErrorKind.AUTH_FAILED
    assert len(world.endpoint.requests) == 2  # refetched exactly once
    assert world.smtp.tokens_seen == [
        world.endpoint.issued[0],
        world.endpoint.issued[0],
        world.endpoint.issued[1],
    ]
    no_secret_in(result, world)


def oauth_failure(result: ProbeResult) -> str:
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.OAUTH_TOKEN, Phase.AUTH)
    assert result.error.smtp_code is None
    return result.error.message


def test_invalid_client_names_the_providers_code_and_description(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.mode = "invalid_client"
    result = probe(world.target(), tokens=world.source(), env=env)
    assert oauth_failure(result) == (
        "token endpoint 127.0.0.1 answered HTTP 401: invalid_client: "
        "AADSTS7000215: Invalid client secret provided."
    )
    assert world.smtp.auth_attempts == []  # no AUTH command without a token
    assert result.auth is not None and result.auth.tried == ()
    no_secret_in(result, world)


def test_a_provider_error_5xx_without_a_body_to_read(world: World, env: ProbeEnvironment) -> None:
    world.endpoint.mode = "500"
    result = probe(world.target(), tokens=world.source(), env=env)
    assert oauth_failure(result) == "token endpoint 127.0.0.1 answered HTTP 500: no error code"


def test_a_provider_that_quotes_the_client_secret_is_masked(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.mode = "echo_secret"
    result = probe(world.target(), tokens=world.source(), env=env)
    message = oauth_failure(result)
    assert message.startswith("token endpoint 127.0.0.1 answered HTTP 400: invalid_request: ")
    assert "***" in message
    no_secret_in(result, world)


def test_a_redirect_is_not_followed(world: World, env: ProbeEnvironment) -> None:
    world.endpoint.mode = "redirect"
    result = probe(world.target(), tokens=world.source(), env=env)
    assert oauth_failure(result) == (
        "token endpoint 127.0.0.1 answered HTTP 302: redirects are not followed"
    )
    assert len(world.endpoint.requests) == 1


def test_a_silent_provider_ends_at_the_probes_deadline(world: World, env: ProbeEnvironment) -> None:
    world.endpoint.mode = "hang"
    target = world.target(timeout_s=2)
    result = probe(target, tokens=world.source(), env=env)
    assert (
        oauth_failure(result) == "token endpoint 127.0.0.1: no answer within the probe's deadline"
    )
    # the deadline is the behaviour: the whole probe, provider included, stays within it
    assert result.total_ms is not None and result.total_ms < (target.timeout_s + 1) * 1000
    assert result.auth is not None and result.auth.token_ms is not None
    assert result.auth.token_ms <= result.total_ms


def test_a_token_endpoint_with_an_untrusted_certificate_is_refused(
    world: World, env: ProbeEnvironment
) -> None:
    result = probe(
        world.target(), tokens=world.source(context=ssl.create_default_context()), env=env
    )
    assert oauth_failure(result).startswith("token endpoint 127.0.0.1: TLS certificate not trusted")
    assert world.endpoint.requests == []  # nothing was posted


def test_no_token_is_fetched_when_credentials_would_go_unencrypted(
    world: World, env: ProbeEnvironment, certs: Certificates
) -> None:
    plain = OAuthSmtpServer(user=USER, cert=certs.valid(), starttls=False, auth_require_tls=False)
    plain.start()
    try:
        target = Target(
            target_id="o365",
            host="127.0.0.1",
            port=plain.port,
            encryption="auto",
            login=True,
            username=USER,
            token_ref="file:o365",
            timeout_s=10,
        )
        result = probe(target, tokens=world.source(), env=env)
    finally:
        plain.stop()
    assert result.error is not None
    assert (result.error.kind, result.error.message) == (
        ErrorKind.AUTH_UNSUPPORTED,
        "credentials withheld: no TLS",
    )
    assert world.endpoint.requests == []
    assert plain.auth_attempts == []


def test_the_starttls_fallback_logs_in_with_the_token_after_tls(
    world: World, env: ProbeEnvironment
) -> None:
    # A plain connection hides AUTH and offers STARTTLS: the login goes on over TLS.
    target = world.target(encryption="none", allow_plaintext_auth=True)
    result = probe(target, tokens=world.source(), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.over_tls) == ("XOAUTH2", True)
    assert result.phase(Phase.STARTTLS).ok and result.phase(Phase.EHLO_TLS).ok
    assert len(world.endpoint.requests) == 1


def test_a_token_fetched_during_the_probe_is_masked_from_then_on() -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload-part.signature-part"
    guard = ServerTextGuard(("Tr0ub4dor&3-secret",), username=USER)
    assert token in guard.clean(f"535 bad token {token}")  # not known yet
    guard.add_secrets((token,))
    quoted = base64.b64encode(f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    for text in (f"535 bad token {token}", f"535 you sent {quoted}", f"535 {token[10:30]}"):
        cleaned = guard.clean(text)
        assert "***" in cleaned
        assert token[10:30] not in cleaned and quoted not in cleaned
    assert "Tr0ub4dor&3-secret" not in guard.clean("535 Tr0ub4dor&3-secret")  # still masked
