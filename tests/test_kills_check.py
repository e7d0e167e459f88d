"""What a slot's verdict does as it is applied (``service.check.apply_result``), and a
sampled check's edge: the monitor-degraded gate is told of the verdict once, with its
slot (the gate counts verdicts, not votes); the outcome says no re-check ran; a
passing result of an unreadable slot is kept rather than lost; a token source gone
before a re-check is a config failure. In-memory stores, a real server on loopback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from smtpwatch.core.kinds import ErrorKind, Phase, Status
from smtpwatch.core.locations import verdict
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.result import ErrorInfo, ProbeResult
from smtpwatch.core.target import Target
from smtpwatch.service.check import CheckDeps, apply_result, default_probe_fn, run_check
from smtpwatch.service.memory import (
    MemoryResultStore,
    MemorySecrets,
    MemorySink,
    MemoryStateStore,
)
from smtpwatch.testing.servers import SmtpServer

SLOT = "2026-12-08T01:00:00Z"
LOCATIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


@dataclass
class RecordingGate:
    observed: list[tuple[str, Status, str]] = field(default_factory=list)

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        self.observed.append((target.target_id, result.status, scheduled_at))

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        return False


def vote(location: str, status: Status) -> ProbeResult:
    error = None
    if status is Status.CRITICAL:
        error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused")
    return ProbeResult("mx1", SLOT, status, host="mx1.example.com", error=error, location=location)


def deps(**kw: object) -> CheckDeps:
    fields: dict[str, object] = {
        "states": MemoryStateStore(),
        "results": MemoryResultStore(),
        "sinks": [MemorySink()],
        "sleep": lambda s: None,
        "maintenance": lambda t, n: False,
    }
    fields.update(kw)
    return CheckDeps(**fields)  # type: ignore[arg-type]


def test_the_gate_is_told_of_a_verdict_once_with_its_slot_and_no_recheck_is_reported() -> None:
    gate = RecordingGate()
    d = deps(gate=gate)
    votes = {
        "us-east-1": vote("us-east-1", Status.CRITICAL),
        "eu-west-1": vote("eu-west-1", Status.CRITICAL),
        "ap-southeast-2": vote("ap-southeast-2", Status.OK),
    }
    decided = verdict("mx1", SLOT, LOCATIONS, votes, quorum=0, alert_on_partial=False)
    out = apply_result(
        Target(target_id="mx1", host="mx1.example.com"), decided, scheduled_at=SLOT, deps=d
    )
    assert gate.observed == [("mx1", Status.CRITICAL, SLOT)]
    assert out.alert is not None and out.delivered
    assert out.rechecked is False
    assert out.first_result is decided and out.result is decided


def test_a_sampled_passing_result_of_an_unreadable_slot_is_kept() -> None:
    results = MemoryResultStore()
    d = deps(
        results=results,
        passing_result_every_s=3600,
        probe_fn=lambda t, pw: ProbeResult("mx1", SLOT, Status.OK, host="mx1.example.com"),
    )
    t = Target(target_id="mx1", host="mx1.example.com")
    run_check(t, scheduled_at="2026-12-08T00:10:00Z", deps=d)  # the first: state changes
    out = run_check(t, scheduled_at="slot 7", deps=d)  # nothing changes, slot unreadable
    assert out.result_written
    assert results.writes == 2


def test_a_token_source_gone_before_the_recheck_is_a_config_failure_not_a_crash() -> None:
    # The first probe cannot connect (127.0.0.2: nothing listens there); while the
    # re-check waits, the secret store goes away: the re-check says so.
    doc = {
        "oauth": {
            "flow": "client_credentials",
            "token_url": "https://127.0.0.1:9/token",
            "client_id": "client-1",
            "client_secret": "never-shown",
        },
        "hosts": ["127.0.0.2"],
    }
    with SmtpServer("127.0.0.1").start() as srv:
        t = Target(
            target_id="o365",
            host="127.0.0.2",
            port=srv.port,
            encryption="none",
            login=True,
            username="monitor@smtpwatch.test",
            token_ref="file:o365",
            allow_plaintext_auth=True,
            recheck_delay_s=1,
            timeout_s=5,
        )
        d = deps(
            secrets=MemorySecrets({"file:o365": json.dumps(doc)}),
            probe_fn=default_probe_fn(ProbeEnvironment()),
        )
        d.sleep = lambda s: setattr(d, "secrets", None)
        out = run_check(t, scheduled_at=SLOT, deps=d)
    assert out.rechecked
    assert out.first_result is not None and out.first_result.error is not None
    assert out.first_result.error.kind is ErrorKind.CONNECT_REFUSED
    assert out.result is not None and out.result.error is not None
    assert out.result.error.kind is ErrorKind.CONFIG
    assert "no secret store configured" in out.result.error.message
