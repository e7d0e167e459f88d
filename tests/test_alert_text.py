"""What alerts say: subject, text, SMS, JSON document and the SNS message."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.core import alert_text
from smtpwatch.core.alerting import decide, degraded_alert, make_test_alert, mark_sent
from smtpwatch.core.result import (
    ErrorInfo,
    ErrorKind,
    Phase,
    PhaseResult,
    ProbeResult,
    Status,
    TlsInfo,
    WarningInfo,
    WarningKind,
)
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState
from smtpwatch.core.target import Target

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
PRINTABLE_ONE_LINE = re.compile(r"^[\x20-\x7e]*$")


def target(**kw: Any) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "smtp.example.com"}
    fields.update(kw)
    return Target(**fields)


def failing(message: str = "TLS not available", **kw: Any) -> ProbeResult:
    err = {"kind": ErrorKind.STARTTLS, "phase": Phase.STARTTLS, "smtp_code": 454}
    err.update(kw)
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(T0),
        status=Status.CRITICAL,
        host="smtp.example.com",
        port=587,
        error=ErrorInfo(message=message, **err),
        phases=(
            PhaseResult(Phase.DNS, True, True, 3.0),
            PhaseResult(Phase.CONNECT, True, True, 12.5),
            PhaseResult(Phase.BANNER, True, True, 40.0),
            PhaseResult(Phase.EHLO, True, True, 2.0),
            PhaseResult(Phase.STARTTLS, True, False, 1.0),
        ),
        total_ms=58.5,
    )


def expiring(days: int = 9) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(T0),
        status=Status.WARNING,
        warnings=(WarningInfo(WarningKind.CERT_EXPIRING, f"certificate expires in {days} days"),),
        tls=TlsInfo(version="TLSv1.3", days_left=days, not_after="2026-12-04T12:00:00Z"),
    )


def alert_for(tgt: Target, result: ProbeResult, state: TargetState | None = None) -> Alert:
    d = decide(tgt, state or TargetState(tgt.target_id), result, now=T0, scheduled_at="s1")
    assert d.alert is not None
    return d.alert


def down_alert(**kw: Any) -> Alert:
    return alert_for(target(**kw), failing())


def test_down_subject_names_host_port_phase_code_and_message() -> None:
    assert (
        alert_text.subject(down_alert(encryption="explicit"))
        == "[DOWN] smtp.example.com:587 starttls: 454 TLS not available"
    )


def test_subject_shows_a_given_name_instead_of_host_and_port() -> None:
    assert alert_text.subject(down_alert(name="Office MX")).startswith(
        "[DOWN] Office MX starttls: 454"
    )


def test_code_is_not_repeated_when_the_message_starts_with_it() -> None:
    a = alert_for(target(), failing("454 4.7.0 TLS not available"))
    assert (
        alert_text.subject(a) == "[DOWN] smtp.example.com:587 starttls: 454 4.7.0 TLS not available"
    )


def test_failure_class_is_named_when_the_phase_does_not_say_it() -> None:
    a = alert_for(
        target(encryption="implicit"),
        failing(
            "certificate expired 3 days ago",
            kind=ErrorKind.CERT_EXPIRED,
            phase=Phase.TLS,
            smtp_code=None,
        ),
    )
    assert alert_text.subject(a) == (
        "[DOWN] smtp.example.com:465 tls cert_expired: certificate expired 3 days ago"
    )


def test_ipv6_literal_host_is_bracketed() -> None:
    a = alert_for(target(host="2001:db8::25", port=25), failing())
    assert alert_text.subject(a).startswith("[DOWN] [2001:db8::25]:25 starttls")


def test_warning_subject_counts_certificate_days() -> None:
    a = alert_for(target(), expiring(9))
    assert alert_text.subject(a) == "[WARNING] smtp.example.com:587 cert_expiring: 9 days left"


def test_recovered_and_reminder_subjects() -> None:
    tgt = target(remind_every_s=600)
    down = decide(tgt, TargetState("mx1"), failing(), now=T0, scheduled_at="s1")
    assert down.alert is not None
    state = mark_sent(down.state, down.alert.alert_id, sent_at=T0)
    assert state is not None
    later = T0 + timedelta(minutes=12)
    reminder = decide(tgt, state, failing(), now=later, scheduled_at="s2")
    assert reminder.alert is not None
    assert alert_text.subject(reminder.alert) == (
        "[REMINDER] smtp.example.com:587 still down 12m: starttls: 454 TLS not available"
    )
    ok = ProbeResult(target_id="mx1", started_at=format_ts(later), status=Status.OK)
    recovered = decide(tgt, state, ok, now=later, scheduled_at="s3")
    assert recovered.alert is not None
    assert (
        alert_text.subject(recovered.alert)
        == "[RECOVERED] smtp.example.com:587 is up again after 12m"
    )


def test_degraded_and_test_subjects() -> None:
    d = degraded_alert(tick="2026-11-25T12:00:00Z", failed=37, total=50, now=T0)
    assert alert_text.subject(d) == (
        "[DEGRADED] smtpwatch: 37 of 50 probes failed at once, likely a monitor fault"
    )
    assert alert_text.subject(make_test_alert(now=T0)).startswith("[TEST] ")


@given(
    name=st.text(max_size=300),
    message=st.text(max_size=600),
    code=st.none() | st.integers(min_value=0, max_value=999),
)
@settings(max_examples=300, deadline=None)
def test_any_name_and_message_give_a_short_printable_one_line_subject(
    name: str, message: str, code: int | None
) -> None:
    # GIVEN arbitrary text from the user (name) and from a hostile server (message)
    alert = Alert(
        alert_id="x",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at="2026-11-25T12:00:00Z",
        target={"name": name, "host": "h", "port": 25},
        result={
            "error": {"kind": "banner", "phase": "banner", "smtp_code": code, "message": message}
        },
    )
    for event in AlertEvent:
        s = alert_text.subject(Alert(**{**_fields(alert), "event": event}))
        # THEN SNS accepts the subject: printable ASCII, no line break, < 100 characters
        assert len(s) <= 99
        assert PRINTABLE_ONE_LINE.match(s), repr(s)
        assert s.startswith("[")
        sms = alert_text.sms(Alert(**{**_fields(alert), "event": event}))
        assert len(sms) <= 140 and PRINTABLE_ONE_LINE.match(sms)


def _fields(alert: Alert) -> dict[str, Any]:
    return {f: getattr(alert, f) for f in alert.__slots__}  # type: ignore[attr-defined]


def test_accents_are_dropped_and_control_characters_become_spaces() -> None:
    a = alert_for(target(name="Müller MX ☃"), failing("bad\r\nthing\t here\x00"))
    assert alert_text.subject(a) == "[DOWN] Muller MX ? starttls: 454 bad thing here"


def test_text_tells_what_failed_where_since_when_and_what_to_do() -> None:
    body = alert_text.text(down_alert())
    assert "What failed: starttls: 454 TLS not available" in body
    assert "Phase: starttls" in body
    assert "SMTP reply code: 454" in body
    assert "Status: DOWN since 2026-11-25T12:00:00Z" in body
    assert "Phases (ms): dns 3, connect 12.5, banner 40, ehlo 2, starttls FAILED after 1" in body
    assert "Next step: STARTTLS was refused" in body
    assert "Alert id: " in body


def test_text_of_a_warning_shows_the_certificate() -> None:
    body = alert_text.text(alert_for(target(), expiring(9)))
    assert "Status: WARNING since" in body
    assert "certificate valid until 2026-12-04T12:00:00Z (9 days left)" in body
    assert "Warning: cert_expiring: certificate expires in 9 days" in body


def test_text_has_no_control_characters_from_a_hostile_server() -> None:
    body = alert_text.text(alert_for(target(), failing("evil\x1b[31m\x07 reply")))
    assert "\x1b" not in body and "\x07" not in body


def test_document_has_the_contract_keys() -> None:
    a = down_alert(tags={"env": "prod"})
    doc = alert_text.document(a)
    assert {"schema_version", "event", "alert_id", "target", "status", "result"} <= set(doc)
    assert doc["event"] == "down" and doc["status"] == "down"
    assert doc["target"]["tags"] == {"env": "prod"}
    assert doc["result"]["error"]["smtp_code"] == 454
    json.dumps(doc)  # serialisable as is


def test_sns_message_has_one_message_per_protocol_and_filterable_attributes() -> None:
    a = down_alert(tags={"env": "prod", "team": "mail ops"})
    msg = alert_text.sns_message(a)
    assert msg["MessageStructure"] == "json"
    assert msg["Subject"] == alert_text.subject(a)
    per_protocol = json.loads(msg["Message"])
    assert per_protocol["default"] == alert_text.text(a)
    assert per_protocol["email"] == alert_text.text(a)
    assert per_protocol["sms"] == alert_text.sms(a)
    for proto in ("sqs", "lambda", "https", "http"):
        assert json.loads(per_protocol[proto]) == alert_text.document(a)
    assert all(isinstance(v, str) for v in per_protocol.values())
    attrs = msg["MessageAttributes"]
    assert attrs["event"] == {"DataType": "String", "StringValue": "down"}
    assert attrs["status"]["StringValue"] == "down"
    assert attrs["target_id"]["StringValue"] == "mx1"
    assert attrs["env"]["StringValue"] == "prod"
    assert attrs["team"]["StringValue"] == "mail ops"


def test_tags_named_like_fixed_attributes_or_invalid_names_are_made_safe() -> None:
    a = Alert(
        alert_id="x",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at="2026-11-25T12:00:00Z",
        target={"tags": {"event": "spoof", "AWS.x": "a", "a b/c": "v", ".dot.": "d"}},
    )
    attrs = alert_text.message_attributes(a)
    assert attrs["event"]["StringValue"] == "down"
    assert set(attrs) == {"event", "status", "target_id", "tag_AWS.x", "a_b_c", "dot"}
    assert len(attrs) <= 10


def test_an_expired_certificate_is_described_with_the_probes_wording() -> None:
    # GIVEN a result for a certificate that expired 2 days and some seconds ago
    # (days_left, the floor, is -3)
    result = failing(
        "certificate expired 2 days ago (not after 2026-11-23T11:59:00Z)",
        kind=ErrorKind.CERT_EXPIRED,
        phase=Phase.TLS,
        smtp_code=None,
    ).replace(tls=TlsInfo(version="TLSv1.3", days_left=-3, not_after="2026-11-23T11:59:00Z"))
    # WHEN the alert text is written
    body = alert_text.text(alert_for(target(encryption="implicit"), result))
    # THEN the facts say "expired 2 days ago" like the message, never "-3 days left"
    assert "certificate valid until 2026-11-23T11:59:00Z (expired 2 days ago)" in body
    assert "certificate expired 2 days ago (not after" in body
    assert "-3 days" not in body


def test_an_alert_about_a_server_full_of_huge_text_still_fits_one_sns_message() -> None:
    # GIVEN a result stuffed by a hostile server and certificate (every text huge and
    # multi-byte, every list long), confirmed down by the state machine
    big = "\U0001f600" * 9000
    d = ProbeResult(target_id="t", started_at="2026-11-25T15:00:00Z", status=Status.CRITICAL)
    doc = d.to_dict()
    doc["server"] = {"banner": big, "extensions": [big + str(i) for i in range(1000)]}
    doc["tls"] = {
        "version": big,
        "cipher": big,
        "subject": big,
        "issuer": big,
        "sans": [big] * 1000,
        "not_after": big,
        "not_before": big,
        "days_left": 3,
        "verified": False,
        "verify_error": big,
    }
    doc["error"] = {"kind": "starttls", "phase": "starttls", "smtp_code": 454, "message": big}
    doc["warnings"] = [{"kind": "slow", "message": big}] * 50
    # (the most tags a target can have: 7, stored before targets took at most 6)
    target, _ = Target.from_item(
        {
            "target_id": "t",
            "host": "mx.example.com",
            "tags": {f"k{i}": "v" * 256 for i in range(7)},
        },
        strict=False,
    )
    decision = decide(
        target,
        TargetState("t"),
        ProbeResult.from_dict(doc),
        now=datetime(2026, 11, 25, 15, 0, 1, tzinfo=UTC),
        scheduled_at="2026-11-25T15:00:00Z",
    )
    assert decision.alert is not None
    # WHEN it becomes an SNS message
    message = alert_text.sns_message(decision.alert)
    # THEN Publish accepts it: at most 256 KB with the attributes, the subject still clean
    size = len(message["Message"].encode()) + sum(
        len(k) + len(v["StringValue"].encode()) for k, v in message["MessageAttributes"].items()
    )
    assert size <= 256 * 1024
    assert message["Subject"].startswith("[DOWN] mx.example.com:587 starttls")
    # AND every protocol still gets what happened: the event, the id, the failure
    per_protocol = json.loads(message["Message"])
    sqs = json.loads(per_protocol["sqs"])
    assert (sqs["event"], sqs["alert_id"]) == ("down", decision.alert.alert_id)
    assert sqs["result"]["error"]["kind"] == "starttls"
    assert "starttls" in per_protocol["email"]
