"""Probing for one check (service.probing) as the operator sees its results: the
stand-in result for a target that cannot be probed names the field and keeps the
target's identity and the probe's location, a password is fetched only for a login
and fetched again only after a rejected login, and a crash is an ``unknown`` result
whose log line is the masked traceback. The probe bound to an environment is run
against a real loopback server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from smtpwatch.core.errors import SecretError
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.service.memory import MemorySecrets
from smtpwatch.service.probing import (
    SecretMaskingProbe,
    config_result,
    location_of,
    probe_once,
    probe_with_secret,
)
from smtpwatch.testing.servers import SmtpServer

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
STARTED = "2026-11-25T12:00:00Z"
HOST = "mx1.example.com"


def clock() -> datetime:
    return T0


def login_target(**fields: Any) -> Target:
    base: dict[str, Any] = {
        "target_id": "mx1",
        "host": HOST,
        "login": True,
        "username": "monitor",
        "password_ref": "env:PW",
        "encryption": "implicit",
    }
    return Target(**{**base, **fields})


class Probe:
    """A scripted probe function that says where it probes from; each call returns the
    next of ``outcomes`` (an exception is raised), and records the password."""

    def __init__(self, *outcomes: str | Exception, location: str = "lab-7") -> None:
        self.outcomes = list(outcomes) or ["ok"]
        self.location = location
        self.passwords: list[str | None] = []

    def __call__(self, target: Target, password: str | None) -> ProbeResult:
        self.passwords.append(password)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        error = None
        if outcome == "auth_failed":
            error = ErrorInfo(ErrorKind.AUTH_FAILED, Phase.AUTH, "535 5.7.8 rejected")
        return ProbeResult(
            target_id=target.target_id,
            started_at=STARTED,
            status=Status.OK if error is None else Status.CRITICAL,
            host=target.host,
            port=target.effective_port,
            error=error,
        )


def _stand_in(
    result: ProbeResult, status: Status, kind: ErrorKind, message: str, **where: Any
) -> None:
    expected = {
        "target_id": "mx1",
        "host": HOST,
        "port": 465,
        "encryption": "implicit",
        "location": "lab-7",
    } | where
    assert (result.status, result.started_at) == (status, STARTED)
    assert result.error == ErrorInfo(kind, None, message)
    got = {k: getattr(result, k) for k in expected}
    assert got == expected


# ------------------------------------------------------------------ the stand-in results


def test_a_config_result_keeps_the_message_and_the_targets_identity() -> None:
    result = config_result(
        "mx1",
        HOST,
        "password_ref: not found",
        now=T0,
        port=465,
        encryption="implicit",
        location="lab-7",
    )
    _stand_in(result, Status.CRITICAL, ErrorKind.CONFIG, "password_ref: not found")
    assert not any(p.reached for p in result.phases)  # no phase was run


def test_a_config_result_without_port_or_location_leaves_them_empty() -> None:
    # a broken item has no port, encryption or location to report
    result = config_result("mx1", HOST, "target: must be a map", now=T0)
    assert (result.port, result.encryption, result.location) == (None, "", "")
    assert result.to_dict()["error"]["message"] == "target: must be a map"


def test_the_location_is_the_probes_own_or_empty() -> None:
    assert location_of(Probe(location="eu-west-1")) == "eu-west-1"

    def bare(target: Target, password: str | None) -> ProbeResult:
        raise AssertionError("not called")

    assert location_of(bare) == ""


# ------------------------------------------------------------------ the password


def test_without_login_no_password_is_fetched_even_with_a_reference() -> None:
    secrets = MemorySecrets({"env:PW": "pw"})
    probe = Probe()
    target = login_target(login=False)
    password, old, result = probe_with_secret(target, secrets, probe, clock)
    assert (password, old, probe.passwords, secrets.lookups) == (None, (), [None], [])
    assert result.status is Status.OK


def test_without_a_secret_store_a_login_is_a_config_result_naming_the_reference() -> None:
    probe = Probe()
    password, old, result = probe_with_secret(login_target(), None, probe, clock)
    assert (password, old, probe.passwords) == (None, (), [])
    _stand_in(result, Status.CRITICAL, ErrorKind.CONFIG, "password_ref: no secret store configured")


def test_a_secret_that_cannot_be_resolved_is_a_config_result_with_its_reason() -> None:
    secrets = MemorySecrets({"env:PW": "pw"}, hosts={"env:PW": "other.example.com"})
    probe = Probe()
    _, _, result = probe_with_secret(login_target(), secrets, probe, clock)
    assert probe.passwords == []
    _stand_in(
        result, Status.CRITICAL, ErrorKind.CONFIG, f"password_ref: env:PW may not be sent to {HOST}"
    )


def test_a_secret_bound_to_the_targets_host_is_fetched_once_for_a_good_login() -> None:
    secrets = MemorySecrets({"env:PW": "pw-1"}, hosts={"env:PW": HOST})
    probe = Probe("ok")
    password, old, result = probe_with_secret(login_target(), secrets, probe, clock)
    assert (password, old, probe.passwords) == ("pw-1", (), ["pw-1"])
    # a login that worked fetches nothing more, even with a newer password stored
    secrets.rotate("env:PW", "pw-2")
    assert probe_with_secret(login_target(), secrets, probe, clock)[0] == "pw-1"
    assert secrets.lookups == [("env:PW", False), ("env:PW", False)]
    assert result.status is Status.OK


def test_a_rejected_login_refetches_a_host_bound_secret_and_probes_with_the_new_one() -> None:
    secrets = MemorySecrets({"env:PW": "pw-1"}, hosts={"env:PW": HOST})
    probe = Probe("ok", "auth_failed", "ok")
    probe_with_secret(login_target(), secrets, probe, clock)  # cached: pw-1
    secrets.rotate("env:PW", "pw-2")
    password, old, result = probe_with_secret(login_target(), secrets, probe, clock)
    assert (password, old, result.status) == ("pw-2", ("pw-1",), Status.OK)
    assert probe.passwords == ["pw-1", "pw-1", "pw-2"]


def test_a_crash_of_the_reprobe_after_a_rotation_is_unknown_and_masks_both_passwords() -> None:
    secrets = MemorySecrets({"env:PW": "Old-Secret-4711"})
    boom = RuntimeError("login Old-Secret-4711 then New-Secret-0815 failed")
    probe = Probe("auth_failed", boom)
    secrets.resolve("env:PW", host=HOST)
    secrets.rotate("env:PW", "New-Secret-0815")
    password, old, result = probe_with_secret(login_target(), secrets, probe, clock)
    assert (password, old) == ("New-Secret-0815", ("Old-Secret-4711",))
    assert result.error is not None
    assert "Secret" not in result.error.message
    _stand_in(result, Status.UNKNOWN, ErrorKind.INTERNAL, result.error.message)
    assert result.error.message.startswith("probe crashed: RuntimeError: login ")


# ------------------------------------------------------------------ a crash


def test_a_crash_is_unknown_where_and_when_it_ran_and_its_log_line_is_the_masked_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = Probe(ValueError("no luck for monitor with Pa55-word-Secret"))
    target = login_target(encryption="none", allow_plaintext_auth=True, port=2525)
    with caplog.at_level(logging.ERROR, logger="smtpwatch.check"):
        result = probe_once(target, "Pa55-word-Secret", probe, clock)
    _stand_in(
        result,
        Status.UNKNOWN,
        ErrorKind.INTERNAL,
        "probe crashed: ValueError: no luck for monitor with ***",
        port=2525,
        encryption="none",
    )
    (record,) = [r for r in caplog.records if r.name == "smtpwatch.check"]
    assert getattr(record, "target_id", None) == "mx1"
    lines = record.getMessage().split("\n")
    # the traceback as Python prints it, line by line, the password masked
    assert lines[:2] == ["probe crashed", "Traceback (most recent call last):"]
    assert lines[2].startswith('  File "')
    assert "ValueError: no luck for monitor with ***" in lines
    assert "Pa55-word-Secret" not in record.getMessage()


def test_a_crash_masks_the_base64_login_forms_that_carry_the_username() -> None:
    import base64

    # a password too short to be found in base64 on its own: the AUTH PLAIN form, with
    # the username before it, is what gives it away
    password = "pw1"
    plain = base64.b64encode(f"\0monitor\0{password}".encode()).decode()
    probe = Probe(RuntimeError(f"server said 535 {plain}"))
    result = probe_once(login_target(), password, probe, clock)
    assert result.error is not None
    assert plain.rstrip("=") not in result.error.message
    assert result.error.message.startswith("probe crashed: RuntimeError: server said 535 ")


# ------------------------------------------------------------------ the bound probe


def test_the_bound_probe_runs_with_its_environment_against_a_real_server() -> None:
    env = ProbeEnvironment(default_ehlo_name="probe.smtpwatch.test", location="lab-7")
    probe = SecretMaskingProbe(env)
    assert probe.location == "lab-7"
    with SmtpServer("127.0.0.1") as server:
        target = Target(
            target_id="mx1", host="127.0.0.1", port=server.port, encryption="none", timeout_s=10
        )
        result = probe(target, None)
        assert server.ehlo_names == ["probe.smtpwatch.test"]
    assert (result.status, result.location) == (Status.OK, "lab-7")


def test_a_secret_error_is_not_a_crash_of_the_check() -> None:
    class Broken:
        def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
            raise SecretError("the store is unreachable")

    probe = Probe()
    _, _, result = probe_with_secret(login_target(), Broken(), probe, clock)
    assert result.error is not None
    assert result.error.message == "password_ref: the store is unreachable"


# ------------------------------------------------------------------ a token source

CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"
TOKEN_DOC = (
    '{"oauth": {"token_url": "https://login.example.com/token", "client_id": "client-1", '
    f'"client_secret": "{CLIENT_SECRET}"}}, "hosts": ["{HOST}"]}}'
)


def token_target() -> Target:
    return login_target(password_ref=None, token_ref="env:OAUTH")


class TokenProbe(SecretMaskingProbe):
    """The bound probe with its call scripted: records the token source it is given,
    or raises."""

    def __init__(self, crash: Exception | None = None) -> None:
        super().__init__(ProbeEnvironment(location="lab-7"))
        self.crash = crash
        self.calls: list[tuple[str | None, Any]] = []

    def __call__(self, target: Target, password: str | None, **kwargs: Any) -> ProbeResult:
        self.calls.append((password, kwargs.get("tokens")))
        if self.crash is not None:
            raise self.crash
        return Probe()(target, password)


def test_a_token_login_without_a_secret_store_names_the_token_reference() -> None:
    probe = TokenProbe()
    password, old, result = probe_with_secret(token_target(), None, probe, clock)
    assert (password, old, probe.calls) == (None, (), [])
    _stand_in(result, Status.CRITICAL, ErrorKind.CONFIG, "token_ref: no secret store configured")


def test_a_probe_that_cannot_take_a_token_source_is_a_config_result() -> None:
    secrets = MemorySecrets({"env:OAUTH": TOKEN_DOC})
    probe = Probe()
    _, _, result = probe_with_secret(token_target(), secrets, probe, clock)
    assert probe.passwords == [] and secrets.lookups == []
    _stand_in(
        result,
        Status.CRITICAL,
        ErrorKind.CONFIG,
        "token_ref: this probe cannot log in with a token",
    )


def test_a_token_source_bound_to_other_hosts_is_refused_before_the_probe() -> None:
    secrets = MemorySecrets({"env:OAUTH": TOKEN_DOC}, hosts={"env:OAUTH": "other.example.com"})
    probe = TokenProbe()
    _, _, result = probe_with_secret(token_target(), secrets, probe, clock)
    assert probe.calls == []
    _stand_in(
        result,
        Status.CRITICAL,
        ErrorKind.CONFIG,
        f"token_ref: env:OAUTH may not be sent to {HOST}",
    )


def test_the_token_source_read_for_the_targets_host_goes_to_the_probe_without_a_password() -> None:
    secrets = MemorySecrets({"env:OAUTH": TOKEN_DOC}, hosts={"env:OAUTH": HOST})
    probe = TokenProbe()
    password, old, result = probe_with_secret(token_target(), secrets, probe, clock)
    assert (password, old, result.status) == (None, (), Status.OK)
    ((sent_password, source),) = probe.calls
    assert sent_password is None
    assert source is not None and source.secrets() == (CLIENT_SECRET,)
    assert secrets.lookups == [("env:OAUTH", False)]


def test_a_crash_of_a_token_login_is_unknown_and_masks_the_client_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = MemorySecrets({"env:OAUTH": TOKEN_DOC})
    probe = TokenProbe(crash=RuntimeError(f"token request with {CLIENT_SECRET} failed"))
    with caplog.at_level(logging.ERROR, logger="smtpwatch.check"):
        _, _, result = probe_with_secret(token_target(), secrets, probe, clock)
    message = "probe crashed: RuntimeError: token request with *** failed"
    _stand_in(result, Status.UNKNOWN, ErrorKind.INTERNAL, message)
    (record,) = [r for r in caplog.records if r.name == "smtpwatch.check"]
    assert record.getMessage() == f"probe crashed: {message}"
    assert getattr(record, "target_id", None) == "mx1"


def test_a_token_secret_that_is_no_token_source_is_a_config_result_naming_the_reference() -> None:
    secrets = MemorySecrets({"env:OAUTH": "just-a-password"})
    probe = TokenProbe()
    _, _, result = probe_with_secret(token_target(), secrets, probe, clock)
    assert probe.calls == []
    _stand_in(
        result,
        Status.CRITICAL,
        ErrorKind.CONFIG,
        'token_ref: env:OAUTH: expected a JSON document {"oauth": {...}, "hosts": [...]}',
    )
