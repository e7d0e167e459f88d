"""Microsoft client credentials with a certificate against real loopback servers: an
aiosmtpd server checking XOAUTH2/OAUTHBEARER tokens and an HTTPS token endpoint that
checks the client assertion as the identity platform does (the RS256 signature against
the uploaded certificate's public key, the ``x5t`` thumbprint, aud/iss/sub/jti/nbf/exp).
What the user relies on: the login works with a certificate instead of a client secret,
a wrong key or certificate is refused naming what is wrong, and neither the key nor the
assertion nor the access token shows in a result, the state, a log line or an alert."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
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

from smtpwatch.core.alert_text import body
from smtpwatch.core.alert_text.document import document
from smtpwatch.core.errors import SecretError
from smtpwatch.core.oauth_certificate import CLIENT_ASSERTION_TYPE
from smtpwatch.core.oauth_token import PROCESS_CACHE, TokenCache, parse_oauth_document
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver
from smtpwatch.service.check import CheckDeps, CheckOutcome, run_check
from smtpwatch.service.memory import MemoryResultStore, MemorySink, MemoryStateStore
from smtpwatch.service.probing import SecretMaskingProbe
from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint, client_context
from smtpwatch.testing.servers import Certificates

USER = "monitor@contoso.test"
CLIENT_ID = "00000000-1111-2222-3333-444444444444"
SCOPE = "https://outlook.office365.com/.default"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def certificate_of(key: rsa.RSAPrivateKey) -> x509.Certificate:
    """A self-signed certificate, as uploaded to an app registration."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpwatch")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


class IdentityPlatform(TokenEndpoint):
    """A token endpoint checking the client assertion against one uploaded certificate;
    ``refusals`` says why it refused one, ``headers``/``claims`` the verified ones."""

    def __init__(self, *args: Any, uploaded: x509.Certificate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uploaded = uploaded
        self.refusals: list[str] = []
        self.headers: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []

    def answer(self, handler: Any) -> None:
        form = self.requests[-1]
        if self.mode == "quote":  # a provider quoting the assertion it was sent
            quoted = form.get("client_assertion", "")
            self._send(handler, 401, {"error": "invalid_client", "error_description": quoted})
            return
        problem = self.check(form) if self.mode == "ok" else ""
        if problem:
            self.refusals.append(problem)
            doc = {"error": "invalid_client", "error_description": problem}
            self._send(handler, 401, doc)
            return
        super().answer(handler)

    def check(self, form: dict[str, str]) -> str:
        if form.get("grant_type") != "client_credentials" or "client_secret" in form:
            return "AADSTS900144: wrong grant"
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return "AADSTS7000216: client_assertion_type missing"
        header, claims, signature = form.get("client_assertion", "..").split(".")
        der = self.uploaded.public_bytes(serialization.Encoding.DER)
        if b64url_json(header).get("x5t") != b64url(hashlib.sha1(der).digest()):
            return "AADSTS700027: the certificate with identifier used to sign is not registered"
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
            return "AADSTS700027: signature validation failed"
        payload = b64url_json(claims)
        now = datetime.now(UTC).timestamp()
        if not (payload["nbf"] <= now + 60 and now < payload["exp"] <= now + 600 + 60):
            return "AADSTS700024: client assertion is not within its valid time range"
        if (payload["aud"], payload["iss"], payload["sub"]) != (self.url, CLIENT_ID, CLIENT_ID):
            return "AADSTS700021: wrong audience, issuer or subject"
        if form.get("client_id") != CLIENT_ID or form.get("scope") != SCOPE:
            return "AADSTS700016: wrong client or scope"
        if any(c.get("jti") == payload.get("jti") for c in self.claims):
            return "AADSTS700025: the assertion was already used"
        self.headers.append(b64url_json(header))
        self.claims.append(payload)
        return ""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, certs: Certificates, key: rsa.RSAPrivateKey) -> None:
        self.certs = certs
        self.key = key
        self.cert = certificate_of(key)
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = IdentityPlatform(
            certs.valid(), uploaded=self.cert, on_issue=self.smtp.tokens.add
        )
        self.endpoint.start()
        self.clock = Clock()
        self.cache = TokenCache(clock=self.clock)

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def thumbprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()

    def doc(self, **changes: Any) -> dict[str, Any]:
        credential = {"private_key": pem_of(self.key), "certificate": self.cert_pem()}
        credential.update(changes.pop("credential", {}))
        doc: dict[str, Any] = {
            "flow": "client_credentials",
            "token_url": self.endpoint.url,
            "client_id": CLIENT_ID,
            "client_certificate": {k: v for k, v in credential.items() if v is not None},
        }
        doc.update(changes)
        return {k: v for k, v in doc.items() if v is not None}

    def source(self, doc: dict[str, Any]) -> Any:
        return parse_oauth_document(doc, "file:o365").with_options(
            cache=self.cache, context=client_context(self.certs.ca_pem)
        )

    def target(self, **fields: Any) -> Target:
        return Target(
            target_id="o365",
            host="127.0.0.1",
            port=self.smtp.port,
            login=True,
            username=USER,
            token_ref="file:o365",
            ca_bundle=self.certs.ca_pem,
            timeout_s=10,
            **fields,
        )

    def secrets(self) -> list[str]:
        found = [*self.endpoint.issued]
        found += [r["client_assertion"][:100] for r in self.endpoint.requests]
        found += [line for line in pem_of(self.key).splitlines() if "-----" not in line]
        return found

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
def world(certs: Certificates, rsa_key: rsa.RSAPrivateKey) -> Iterator[World]:
    w = World(certs, rsa_key)
    yield w
    w.stop()


def no_secret_in(result: ProbeResult, world: World) -> None:
    text = json.dumps(result.to_dict())
    assert world.endpoint.requests, "the endpoint was asked"
    for secret in world.secrets():
        assert secret not in text


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_certificate_credential_logs_in_with_a_verified_assertion(
    world: World, env: ProbeEnvironment, mechanism: str
) -> None:
    result = probe(
        world.target(auth_methods=[mechanism]), tokens=world.source(world.doc()), env=env
    )
    assert result.status is Status.OK, (result.to_dict(), world.endpoint.refusals)
    assert result.auth is not None and result.auth.mechanism == mechanism
    assert isinstance(result.auth.token_ms, float)
    [form] = world.endpoint.requests
    assert set(form) == {
        "grant_type",
        "client_id",
        "scope",
        "client_assertion_type",
        "client_assertion",
    }
    der = world.cert.public_bytes(serialization.Encoding.DER)
    [header] = world.endpoint.headers
    assert header == {
        "alg": "RS256",
        "typ": "JWT",
        "x5t": b64url(hashlib.sha1(der).digest()),
        "x5t#S256": b64url(hashlib.sha256(der).digest()),
    }
    [claims] = world.endpoint.claims
    assert claims["nbf"] == claims["iat"] and 0 < claims["exp"] - claims["iat"] <= 600
    assert world.smtp.tokens_seen == world.endpoint.issued
    no_secret_in(result, world)


def test_a_key_and_the_portals_thumbprint_log_in_too(world: World, env: ProbeEnvironment) -> None:
    spaced = ":".join(world.thumbprint()[i : i + 2] for i in range(0, 40, 2))
    doc = world.doc(credential={"certificate": None, "thumbprint": spaced})
    result = probe(world.target(), tokens=world.source(doc), env=env)
    assert result.status is Status.OK, (result.to_dict(), world.endpoint.refusals)
    assert set(world.endpoint.headers[0]) == {"alg", "typ", "x5t"}
    no_secret_in(result, world)


def test_each_token_request_signs_a_new_assertion(world: World, env: ProbeEnvironment) -> None:
    source_doc = world.doc()
    first = probe(world.target(), tokens=world.source(source_doc), env=env)
    again = probe(world.target(), tokens=world.source(source_doc), env=env)
    world.clock.now += 3600  # the token expired: a new request, a new assertion (jti)
    later = probe(world.target(), tokens=world.source(source_doc), env=env)
    assert [r.status for r in (first, again, later)] == [Status.OK] * 3, world.endpoint.refusals
    assert len(world.endpoint.requests) == 2  # the second check used the cached token
    assert len({c["jti"] for c in world.endpoint.claims}) == 2


def test_a_key_that_is_not_the_uploaded_certificates_is_refused_by_the_provider(
    world: World, env: ProbeEnvironment
) -> None:
    other = new_key()
    doc = world.doc(credential={"private_key": pem_of(other)})
    result = probe(world.target(), tokens=world.source(doc), env=env)
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.OAUTH_TOKEN, Phase.AUTH)
    assert result.error.message == (
        "token endpoint 127.0.0.1 answered HTTP 401: invalid_client:"
        " AADSTS700027: signature validation failed"
    )
    assert world.smtp.auth_attempts == []
    text = json.dumps(result.to_dict())
    assert all(line not in text for line in pem_of(other).splitlines()[1:-1])


def test_a_certificate_not_uploaded_is_refused_by_its_thumbprint(
    world: World, env: ProbeEnvironment
) -> None:
    other = certificate_of(world.key)  # same key, another certificate
    pem = other.public_bytes(serialization.Encoding.PEM).decode("ascii")
    result = probe(
        world.target(),
        tokens=world.source(world.doc(credential={"certificate": pem})),
        env=env,
    )
    assert result.error is not None and result.error.kind is ErrorKind.OAUTH_TOKEN
    assert "AADSTS700027: the certificate with identifier used to sign" in result.error.message


def test_a_key_that_cannot_be_read_is_oauth_token_naming_the_field(
    world: World, env: ProbeEnvironment
) -> None:
    pem = pem_of(world.key)
    broken = pem.replace(pem.splitlines()[3], "A" * 64)
    doc = world.doc(credential={"private_key": broken})
    result = probe(world.target(), tokens=world.source(doc), env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.OAUTH_TOKEN, Phase.AUTH)
    assert result.error.message == (
        "file:o365: oauth client_certificate.private_key cannot be read as an unencrypted PEM"
        " RSA key (the key of the certificate uploaded to the app registration, PEM)"
    )
    assert world.endpoint.requests == [] and world.smtp.auth_attempts == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"client_secret": "Cl1ent~Secret"},
            "oauth has both client_secret and client_certificate: keep one",
        ),
        (
            {"credential": {"private_key": "not a key"}},
            "oauth client_certificate.private_key must be the certificate's key, PEM",
        ),
        (
            {"credential": {"certificate": "-----BEGIN CERTIFICATE-----\n!!\n"}},
            "oauth client_certificate.certificate must be a PEM certificate",
        ),
        (
            {"credential": {"certificate": None}},
            "oauth client_certificate needs certificate or thumbprint",
        ),
        (
            {"credential": {"thumbprint": "12" * 19}},
            "oauth client_certificate.thumbprint must be the SHA-1 thumbprint, hex",
        ),
        (
            {"credential": {"thumbprint": "ab" * 20}},
            "oauth client_certificate.thumbprint is not the certificate's",
        ),
        ({"client_certificate": "PEM"}, "oauth client_certificate must be an object"),
        ({"client_id": None}, "oauth needs client_id"),
        ({"token_url": "http://127.0.0.1/token"}, "oauth token_url must be https://HOST/PATH"),
    ],
)
def test_a_certificate_document_names_what_is_wrong_without_its_value(
    world: World, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(SecretError) as wrong:
        parse_oauth_document(world.doc(**change), "file:o365")
    assert str(wrong.value).startswith(f"file:o365: {message}")
    assert "Cl1ent~Secret" not in str(wrong.value) and "PRIVATE" not in str(wrong.value)


def test_a_tenant_names_microsofts_endpoint_and_the_default_scope(world: World) -> None:
    source = parse_oauth_document(
        world.doc(token_url=None, tenant="contoso.onmicrosoft.com"), "file:o365"
    )
    assert source.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert source.scope == SCOPE
    assert "PRIVATE" not in repr(source) and CLIENT_ID in repr(source)


class Checks:
    """The local scheduler's checks: the secret in the user-only store, results stored
    and alerted."""

    def __init__(self, world: World, tmp: Path) -> None:
        self.world = world
        store = tmp / "secrets"
        store.mkdir(mode=0o700)
        fd = os.open(store / "o365", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"oauth": world.doc(), "hosts": ["127.0.0.1"]}, f)
        self.deps = CheckDeps(
            states=MemoryStateStore(),
            results=MemoryResultStore(),
            sinks=[MemorySink()],
            secrets=LocalSecretResolver(files=FileSecretStore(store), environ={}),
            probe_fn=SecretMaskingProbe(ProbeEnvironment(default_ehlo_name="probe.test")),
            sleep=lambda _s: None,
        )
        self.slot = 0

    def run(self) -> CheckOutcome:
        self.slot += 1
        target = self.world.target(recheck_delay_s=1)
        return run_check(target, scheduled_at=f"2026-12-07T11:{self.slot:02d}:00Z", deps=self.deps)


def test_no_key_assertion_or_token_in_results_state_logs_or_alerts(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ca = tmp_path / "ca.pem"
    ca.write_text(world.certs.ca_pem, encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the token client's default trust store
    PROCESS_CACHE.clear()
    checks = Checks(world, tmp_path)
    try:
        outcomes = [checks.run(), checks.run()]
        world.smtp.tokens.clear()  # revoked: fetched again once, then refused again
        world.endpoint.on_issue = None
        outcomes.append(checks.run())
        PROCESS_CACHE.clear()
        world.endpoint.mode = "quote"  # the provider quotes the assertion it was sent
        outcomes.append(checks.run())
    finally:
        PROCESS_CACHE.clear()
    kinds = [o.result.error.kind if o.result and o.result.error else None for o in outcomes]
    assert kinds == [None, None, ErrorKind.AUTH_FAILED, ErrorKind.OAUTH_TOKEN]
    sink = checks.deps.sinks[0]
    assert isinstance(sink, MemorySink) and sink.alerts, "the failures were alerted"
    results = checks.deps.results
    assert isinstance(results, MemoryResultStore)
    states = checks.deps.states
    assert isinstance(states, MemoryStateStore)
    seen = [json.dumps(r.to_dict()) for r in results.iter_results("o365")]
    seen += [json.dumps(s.to_dict()) for s in states.iter_states()]
    seen += [body.text(a) for a in sink.alerts] + [json.dumps(document(a)) for a in sink.alerts]
    seen += [r.getMessage() for r in caplog.records] + [repr(o) for o in outcomes]
    everything = "\n".join(seen)
    assert len(world.endpoint.issued) >= 2
    for secret in world.secrets():
        assert secret not in everything
    assert "invalid_client" in everything  # the scan did see the provider's refusal


def test_reading_a_certificate_document_loads_no_cryptography(world: World) -> None:
    # the thumbprint comes from the certificate's DER with hashlib: a check that uses a
    # cached token never loads the compiled package
    script = (
        "import json, sys\n"
        "from smtpwatch.core.oauth_token import parse_oauth_document\n"
        "source = parse_oauth_document(json.loads(sys.stdin.read()), 'x')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'cryptography', 'cffi'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(world.doc()),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
