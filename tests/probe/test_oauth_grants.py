"""The refresh-token and Google service-account token sources against real loopback
servers: an aiosmtpd server checking XOAUTH2/OAUTHBEARER tokens and an HTTPS token
endpoint that checks each grant as the provider would (the refresh token it issued last;
the assertion's RS256 signature against the public key, its claims and grant type).
What the user relies on: the login works, a rotated refresh token is used for the next
refresh, an expired/revoked refresh token or an unusable key is ``oauth_token`` saying
what to do, and no refresh token, key, assertion or access token shows in a result."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from smtpwatch.core.errors import SecretError
from smtpwatch.core.oauth_grants import JWT_BEARER, RENEW, ROTATED
from smtpwatch.core.oauth_token import TokenCache, parse_oauth_document
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint, client_context
from smtpwatch.testing.servers import Certificates, ServerCert

USER = "monitor@smtpwatch.test"
REFRESH = "1//0g-refresh-token-from-the-consent-never-shown"
CLIENT_SECRET = "GOCSPX-client-secret-never-shown"
ACCOUNT = "smtpwatch@project-1.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"


def b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class GrantEndpoint(TokenEndpoint):
    """A token endpoint that checks each grant as the provider does; ``refusals``
    records why it refused one, ``claims`` the verified assertions' claims."""

    def __init__(self, cert: ServerCert, **kwargs: Any) -> None:
        super().__init__(cert, **kwargs)
        self.valid_refresh = REFRESH
        self.rotate = False
        self.public_key: rsa.RSAPublicKey | None = None
        self.refusals: list[str] = []
        self.headers: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []
        self.rotated: list[str] = []

    def answer(self, handler: Any) -> None:
        if self.mode != "ok":
            super().answer(handler)
            return
        problem = self.check(self.requests[-1])
        if problem:
            self.refusals.append(problem)
            self._send(handler, 400, {"error": "invalid_grant", "error_description": problem})
            return
        token = f"ya29.access-{len(self.issued) + 1}-never-shown"
        self.issued.append(token)
        if self.on_issue is not None:
            self.on_issue(token)
        doc: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        if self.rotate:
            self.valid_refresh = f"1//0g-rotated-{len(self.rotated) + 1}-never-shown"
            self.rotated.append(self.valid_refresh)
            doc["refresh_token"] = self.valid_refresh
        self._send(handler, 200, doc)

    def check(self, form: dict[str, str]) -> str:
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") != self.valid_refresh:
                return "Token has been expired or revoked."
            return ""
        if form.get("grant_type") != JWT_BEARER or self.public_key is None:
            return "unsupported grant"
        header, claims, signature = form.get("assertion", "..").split(".")
        try:
            self.public_key.verify(
                base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                f"{header}.{claims}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return "Invalid JWT Signature."
        self.headers.append(b64url_json(header))
        self.claims.append(b64url_json(claims))
        return ""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


class World:
    def __init__(self, certs: Certificates, key: rsa.RSAPrivateKey) -> None:
        self.certs = certs
        self.key = key
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = GrantEndpoint(certs.valid(), on_issue=self.smtp.tokens.add)
        self.endpoint.start()
        self.endpoint.public_key = key.public_key()
        self.clock = Clock()
        self.cache = TokenCache(clock=self.clock)

    def refresh_doc(self, **changes: Any) -> dict[str, Any]:
        doc = {
            "flow": "refresh_token",
            "provider": "google",
            "token_url": self.endpoint.url,
            "client_id": "1234-abc.apps.googleusercontent.com",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
        }
        doc.update(changes)
        return {k: v for k, v in doc.items() if v is not None}

    def account_doc(self, **changes: Any) -> dict[str, Any]:
        doc = {  # the fields of the key JSON Google hands out, plus flow and subject
            "flow": "google_service_account",
            "type": "service_account",
            "project_id": "project-1",
            "private_key_id": KEY_ID,
            "private_key": pem_of(self.key),
            "client_email": ACCOUNT,
            "client_id": "109876543210987654321",
            "token_uri": self.endpoint.url,
            "subject": USER,
        }
        doc.update(changes)
        return doc

    def source(self, doc: dict[str, Any]) -> Any:
        """The source a check builds from the secret (a new one per check)."""
        return parse_oauth_document(doc, "file:google").with_options(
            cache=self.cache, context=client_context(self.certs.ca_pem)
        )

    def target(self, **fields: Any) -> Target:
        return Target(
            target_id="google",
            host="127.0.0.1",
            port=self.smtp.port,
            login=True,
            username=USER,
            token_ref="file:google",
            ca_bundle=self.certs.ca_pem,
            timeout_s=10,
            **fields,
        )

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def world(certs: Certificates, rsa_key: rsa.RSAPrivateKey) -> Iterator[World]:
    ROTATED.clear()
    w = World(certs, rsa_key)
    yield w
    w.stop()
    ROTATED.clear()


def no_secret_in(result: ProbeResult, world: World) -> None:
    text = json.dumps(result.to_dict())
    assert world.endpoint.requests, "the endpoint was asked"
    secrets = [REFRESH, CLIENT_SECRET, *world.endpoint.issued, *world.endpoint.rotated]
    secrets += [r["assertion"] for r in world.endpoint.requests if "assertion" in r]
    secrets += [line for line in pem_of(world.key).splitlines() if "-----" not in line]
    for secret in secrets:
        assert secret not in text


def test_a_refresh_token_logs_in(world: World, env: ProbeEnvironment) -> None:
    result = probe(world.target(), tokens=world.source(world.refresh_doc()), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None and result.auth.mechanism == "XOAUTH2"
    assert isinstance(result.auth.token_ms, float)
    assert world.endpoint.requests == [
        {
            "grant_type": "refresh_token",
            "client_id": "1234-abc.apps.googleusercontent.com",
            "refresh_token": REFRESH,
            "client_secret": CLIENT_SECRET,
            "scope": "https://mail.google.com/",
        }
    ]
    assert world.smtp.tokens_seen == world.endpoint.issued
    no_secret_in(result, world)


def test_a_public_client_sends_no_client_secret(world: World, env: ProbeEnvironment) -> None:
    doc = world.refresh_doc(client_secret=None, provider=None, scope="https://mail.google.com/")
    result = probe(world.target(auth_methods=["OAUTHBEARER"]), tokens=world.source(doc), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert "client_secret" not in world.endpoint.requests[0]


def test_a_rotated_refresh_token_is_used_for_the_next_refresh_in_the_process(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.rotate = True  # every answer carries a new refresh token; the old dies
    first = probe(world.target(), tokens=world.source(world.refresh_doc()), env=env)
    world.clock.now += 3600  # the access token expired: refreshed again
    second = probe(world.target(), tokens=world.source(world.refresh_doc()), env=env)
    world.clock.now += 3600
    third = probe(world.target(), tokens=world.source(world.refresh_doc()), env=env)
    assert [r.status for r in (first, second, third)] == [Status.OK] * 3, third.to_dict()
    sent = [r["refresh_token"] for r in world.endpoint.requests]
    assert sent == [REFRESH, *world.endpoint.rotated[:2]]
    assert world.endpoint.refusals == []
    for result in (first, second, third):
        no_secret_in(result, world)


def test_an_expired_refresh_token_is_oauth_token_saying_what_to_do(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.valid_refresh = "1//0g-another-token"  # the secret's one was revoked
    result = probe(world.target(), tokens=world.source(world.refresh_doc()), env=env)
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.OAUTH_TOKEN, Phase.AUTH)
    assert result.error.message == (
        "token endpoint 127.0.0.1 answered HTTP 400: invalid_grant: Token has been expired"
        f" or revoked. ({RENEW})"
    )
    assert world.smtp.auth_attempts == []  # the mail server was not asked
    no_secret_in(result, world)


def test_the_refresh_document_names_the_field_that_is_missing(world: World) -> None:
    with pytest.raises(SecretError) as missing:
        parse_oauth_document(world.refresh_doc(refresh_token=None), "file:google")
    assert str(missing.value) == "file:google: oauth flow refresh_token needs refresh_token"
    with pytest.raises(SecretError) as nowhere:
        parse_oauth_document(world.refresh_doc(token_url=None, provider=None), "file:google")
    assert str(nowhere.value) == "file:google: oauth needs provider, tenant or token_url"
    microsoft = parse_oauth_document(
        world.refresh_doc(token_url=None, provider=None, tenant="contoso.onmicrosoft.com"), "x"
    )
    assert microsoft.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert microsoft.scope == "https://outlook.office.com/SMTP.Send offline_access"
    assert REFRESH not in repr(microsoft) and CLIENT_SECRET not in repr(microsoft)


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_service_account_logs_in_with_a_verified_assertion(
    world: World, env: ProbeEnvironment, mechanism: str
) -> None:
    source = world.source(world.account_doc())
    result = probe(world.target(auth_methods=[mechanism]), tokens=source, env=env)
    assert result.status is Status.OK, (result.to_dict(), world.endpoint.refusals)
    assert world.endpoint.refusals == []
    [form] = world.endpoint.requests
    assert set(form) == {"grant_type", "assertion"}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert world.endpoint.headers == [{"alg": "RS256", "typ": "JWT", "kid": KEY_ID}]
    [claims] = world.endpoint.claims
    assert {k: claims[k] for k in ("iss", "sub", "aud", "scope")} == {
        "iss": ACCOUNT,
        "sub": USER,
        "aud": world.endpoint.url,
        "scope": "https://mail.google.com/",
    }
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert world.smtp.tokens_seen == world.endpoint.issued
    no_secret_in(result, world)


def test_an_assertion_signed_by_another_key_is_refused_by_the_provider(
    world: World, env: ProbeEnvironment
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    source = world.source(world.account_doc(private_key=pem_of(other)))
    result = probe(world.target(), tokens=source, env=env)
    assert result.error is not None and result.error.kind is ErrorKind.OAUTH_TOKEN
    assert result.error.message == (
        "token endpoint 127.0.0.1 answered HTTP 400: invalid_grant: Invalid JWT Signature."
    )
    no_secret_in(result, world)


def test_a_key_that_cannot_be_read_is_oauth_token_naming_the_field(
    world: World, env: ProbeEnvironment
) -> None:
    pem = pem_of(world.key)
    broken = pem.replace(pem.splitlines()[3], "A" * 64)  # PEM-shaped, not a key
    result = probe(
        world.target(), tokens=world.source(world.account_doc(private_key=broken)), env=env
    )
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.OAUTH_TOKEN, Phase.AUTH)
    assert result.error.message == (
        "file:google: oauth private_key cannot be read as an unencrypted PEM RSA key"
        " (copy private_key from the service account's key JSON)"
    )
    assert world.endpoint.requests == [] and world.smtp.auth_attempts == []
    text = json.dumps(result.to_dict())
    assert all(line not in text for line in broken.splitlines()[1:-2])


def test_a_service_account_document_names_what_is_wrong_without_its_value(world: World) -> None:
    with pytest.raises(SecretError) as not_pem:
        parse_oauth_document(world.account_doc(private_key="not a key at all"), "file:g")
    assert str(not_pem.value) == "file:g: oauth private_key is not PEM: copy it from the key JSON"
    with pytest.raises(SecretError) as no_subject:
        parse_oauth_document({**world.account_doc(), "subject": None}, "file:g")
    assert str(no_subject.value) == "file:g: oauth flow google_service_account needs subject"
    with pytest.raises(SecretError) as plain:
        parse_oauth_document(world.account_doc(token_uri="http://127.0.0.1/token"), "file:g")
    assert str(plain.value) == "file:g: oauth token_uri must be https://HOST/PATH"
    account = parse_oauth_document(world.account_doc(), "file:g")
    assert "PRIVATE" not in repr(account) and ACCOUNT in repr(account)


def test_a_service_account_token_serves_many_probes(world: World, env: ProbeEnvironment) -> None:
    results = [
        probe(world.target(), tokens=world.source(world.account_doc()), env=env) for _ in range(3)
    ]
    assert [r.status for r in results] == [Status.OK] * 3
    assert len(world.endpoint.requests) == 1
    assert world.smtp.tokens_seen == world.endpoint.issued * 3


def test_only_signing_an_assertion_loads_cryptography(world: World) -> None:
    # parsing either document (what every check of a cached token does) leaves the
    # compiled package unloaded: only signing an assertion imports it
    script = (
        "import json, sys\n"
        "from smtpwatch.core.oauth_token import parse_oauth_document\n"
        "docs = json.loads(sys.stdin.read())\n"
        "sources = [parse_oauth_document(d, 'x') for d in docs]\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'cryptography', 'cffi'}))\n"
    )
    docs = json.dumps([world.refresh_doc(), world.account_doc()])
    out = subprocess.run(
        [sys.executable, "-c", script], input=docs, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_refresh_token_close_to_the_expiry_the_secret_names_is_logged(
    world: World, env: ProbeEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="smtpwatch.oauth")
    soon = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    later = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    ok = probe(world.target(), tokens=world.source(world.refresh_doc()), env=env)
    world.clock.now += 3600
    doc = world.refresh_doc(refresh_token_expires_at=later)
    assert probe(world.target(), tokens=world.source(doc), env=env).status is Status.OK
    assert [r.getMessage() for r in caplog.records] == []  # none named, or far off
    world.clock.now += 3600
    doc = world.refresh_doc(refresh_token_expires_at=soon)
    assert probe(world.target(), tokens=world.source(doc), env=env).status is Status.OK
    assert [r.getMessage() for r in caplog.records] == [
        f"file:google: the refresh token expires {soon} 00:00 UTC: get a new one and store"
        " it in the token source's secret before then"
    ]
    assert ok.status is Status.OK and len(world.endpoint.requests) == 3


def test_an_expired_refresh_token_names_the_expiry_the_secret_gives(
    world: World, env: ProbeEnvironment
) -> None:
    world.endpoint.valid_refresh = "1//0g-another-token"
    doc = world.refresh_doc(refresh_token_expires_at="2026-03-01T12:00:00Z")
    result = probe(world.target(), tokens=world.source(doc), env=env)
    assert result.error is not None and result.error.kind is ErrorKind.OAUTH_TOKEN
    assert result.error.message.endswith(
        "store it in the token source's secret; the secret says it expires 2026-03-01 12:00 UTC)"
    )
    with pytest.raises(SecretError) as wrong:
        parse_oauth_document(world.refresh_doc(refresh_token_expires_at="soon"), "file:g")
    assert str(wrong.value) == (
        "file:g: oauth refresh_token_expires_at must be a date YYYY-MM-DD or an ISO 8601 time"
    )
