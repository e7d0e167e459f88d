"""What alerts say about locations: a verdict's subject, text, document and message
attributes name the failing locations (phase, error), then the passing and silent ones;
the location_down / location_up monitor alerts; a single-location alert as before."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.core import alert_text
from smtpwatch.core.alerting import decide, mark_sent
from smtpwatch.core.alerting.location import location_alert
from smtpwatch.core.locations import verdict
from smtpwatch.core.result import (
    ErrorInfo,
    ErrorKind,
    LocationVote,
    Phase,
    PhaseResult,
    ProbeResult,
    Status,
)
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState
from smtpwatch.core.target import Target

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
SLOT = format_ts(T0)
PRINTABLE_ONE_LINE = re.compile(r"^[\x20-\x7e]*$")
THREE = ("us-east-1", "eu-west-1", "ap-southeast-2")


def target(**kw: Any) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "smtp.example.com"}
    fields.update(kw)
    return Target(**fields)


def passing(location: str) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(T0 + timedelta(seconds=1)),
        status=Status.OK,
        host="smtp.example.com",
        port=587,
        location=location,
        total_ms=48.0,
    )


def starttls_refused(location: str, message: str = "454 TLS not available") -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(T0 + timedelta(seconds=1)),
        status=Status.CRITICAL,
        host="smtp.example.com",
        port=587,
        error=ErrorInfo(ErrorKind.STARTTLS, Phase.STARTTLS, message, smtp_code=454),
        phases=(
            PhaseResult(Phase.DNS, True, True, 3.0),
            PhaseResult(Phase.CONNECT, True, True, 12.5),
            PhaseResult(Phase.STARTTLS, True, False, 1.0),
        ),
        location=location,
        total_ms=58.5,
    )


def refused(location: str) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(T0 + timedelta(seconds=2)),
        status=Status.CRITICAL,
        host="smtp.example.com",
        port=587,
        error=ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "Connection refused"),
        location=location,
        total_ms=1.5,
    )


def slot_verdict(
    votes: dict[str, ProbeResult],
    expected: tuple[str, ...] = THREE,
    *,
    quorum: int = 0,
    alert_on_partial: bool = False,
) -> ProbeResult:
    return verdict("mx1", SLOT, expected, votes, quorum=quorum, alert_on_partial=alert_on_partial)


def alert_for(result: ProbeResult, state: TargetState | None = None, **kw: Any) -> Alert:
    d = decide(target(**kw), state or TargetState("mx1"), result, now=T0, scheduled_at=SLOT)
    assert d.alert is not None, d.reason
    return d.alert


def two_of_three_down() -> Alert:
    return alert_for(
        slot_verdict(
            {
                "us-east-1": passing("us-east-1"),
                "eu-west-1": starttls_refused("eu-west-1"),
                "ap-southeast-2": refused("ap-southeast-2"),
            }
        )
    )


# ---------------------------------------------------------------- a verdict's alerts


def test_down_subject_counts_the_failing_locations_before_the_failure() -> None:
    assert alert_text.subject(two_of_three_down()) == (
        "[DOWN] smtp.example.com:587 2/3 locations: starttls: 454 TLS not available"
    )


def test_down_text_names_failing_locations_with_phase_and_error_then_passing_then_silent() -> None:
    # GIVEN 4 locations: two fail (different phases), one passes, one is silent
    result = slot_verdict(
        {
            "us-east-1": passing("us-east-1"),
            "eu-west-1": starttls_refused("eu-west-1"),
            "ap-southeast-2": refused("ap-southeast-2"),
        },
        ("us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"),
        quorum=2,
    )
    body = alert_text.text(alert_for(result))
    lines = body.splitlines()
    # THEN one block lists them: failing first (each with its phase and message), then
    # the passing one, then the silent one (not counted)
    start = lines.index("Locations: 2/4 failing")
    assert lines[start + 1 : start + 5] == [
        "- eu-west-1: FAILED in starttls: 454 TLS not available",
        "- ap-southeast-2: FAILED in connect (connect_refused): Connection refused",
        "- us-east-1: passed",
        "- sa-east-1: silent, no report for this check (not counted)",
    ]
    # AND the facts say which location's probe they show
    assert "Checked at: 2026-11-25T12:00:01Z from eu-west-1 (total 58.5 ms)" in lines
    assert "What failed: starttls: 454 TLS not available" in lines


def test_a_location_whose_probe_crashed_is_listed_as_no_result() -> None:
    crashed = ProbeResult(
        target_id="mx1",
        started_at=SLOT,
        status=Status.UNKNOWN,
        error=ErrorInfo(ErrorKind.INTERNAL, None, "probe crashed: MemoryError"),
        location="ap-southeast-2",
    )
    result = slot_verdict(
        {
            "us-east-1": starttls_refused("us-east-1"),
            "eu-west-1": refused("eu-west-1"),
            "ap-southeast-2": crashed,
        }
    )
    body = alert_text.text(alert_for(result))
    assert (
        "- ap-southeast-2: no result, the probe itself failed (not counted):"
        " probe crashed: MemoryError"
    ) in body.splitlines()


def test_reminder_and_recovery_subjects_count_locations() -> None:
    # GIVEN a target announced down by a 2/3 verdict
    t = target(remind_every_s=3600)
    down = decide(
        t,
        TargetState("mx1"),
        slot_verdict({"us-east-1": refused("us-east-1"), "eu-west-1": refused("eu-west-1")}),
        now=T0,
        scheduled_at=SLOT,
    )
    assert down.alert is not None
    sent = mark_sent(down.state, down.alert.alert_id, sent_at=T0)
    assert sent is not None
    # WHEN it is still down an hour later, THEN the reminder counts the locations
    later = T0 + timedelta(hours=1)
    reminder = decide(
        t,
        sent,
        slot_verdict({n: refused(n) for n in THREE}),
        now=later,
        scheduled_at=format_ts(later),
    )
    assert reminder.alert is not None and reminder.alert.event is AlertEvent.REMINDER
    assert alert_text.subject(reminder.alert) == (
        "[REMINDER] smtp.example.com:587 still down 59m: 3/3 locations:"
        " connect_refused: Connection refused"
    )
    # WHEN a verdict passes with one location still failing (a partial failure)
    assert reminder.alert is not None
    sent = mark_sent(reminder.state, reminder.alert.alert_id, sent_at=later)
    assert sent is not None
    up = decide(
        t,
        sent,
        slot_verdict(
            {
                "us-east-1": passing("us-east-1"),
                "eu-west-1": refused("eu-west-1"),
                "ap-southeast-2": passing("ap-southeast-2"),
            }
        ),
        now=later + timedelta(minutes=5),
        scheduled_at=format_ts(later + timedelta(minutes=5)),
    )
    # THEN the recovery says so
    assert up.alert is not None and up.alert.event is AlertEvent.RECOVERED
    assert alert_text.subject(up.alert) == (
        "[RECOVERED] smtp.example.com:587 is up again after 1h 4m (1/3 locations still failing)"
    )
    assert "- eu-west-1: FAILED in connect (connect_refused): Connection refused" in (
        alert_text.text(up.alert).splitlines()
    )


def test_a_partial_failure_alerted_on_request_is_a_warning_naming_the_location() -> None:
    result = slot_verdict(
        {
            "us-east-1": passing("us-east-1"),
            "eu-west-1": refused("eu-west-1"),
            "ap-southeast-2": passing("ap-southeast-2"),
        },
        alert_on_partial=True,
    )
    alert = alert_for(result)
    assert alert.event is AlertEvent.WARNING
    assert alert_text.subject(alert) == (
        "[WARNING] smtp.example.com:587 partial_failure: 1/3 locations failing:"
        " eu-west-1 connect_refused"
    )
    assert "Locations: 1/3 failing" in alert_text.text(alert).splitlines()


# ---------------------------------------------------------------- document, attributes


def test_document_carries_each_locations_vote_and_keeps_its_schema_version() -> None:
    doc = alert_text.document(two_of_three_down())
    assert doc["schema_version"] == 1
    assert doc["locations"] == [
        {"location": "us-east-1", "status": "ok", "phase": None, "error": None, "message": None},
        {
            "location": "eu-west-1",
            "status": "critical",
            "phase": "starttls",
            "error": "starttls",
            "message": "454 TLS not available",
        },
        {
            "location": "ap-southeast-2",
            "status": "critical",
            "phase": "connect",
            "error": "connect_refused",
            "message": "Connection refused",
        },
    ]
    assert json.loads(json.dumps(doc)) == doc


def test_a_single_location_alert_has_an_empty_locations_list_and_no_locations_text() -> None:
    alert = alert_for(starttls_refused(""))
    assert alert_text.document(alert)["locations"] == []
    body = alert_text.text(alert)
    assert "Locations" not in body and " from " not in body
    assert (
        alert_text.subject(alert) == "[DOWN] smtp.example.com:587 starttls: 454 TLS not available"
    )


def test_a_single_location_down_alert_reads_exactly_as_before() -> None:
    # The whole text of a single-location alert, as it read before locations existed.
    alert = alert_for(starttls_refused("home"), encryption="explicit", tags={"env": "prod"})
    assert alert_text.text(alert) == (
        "[DOWN] smtp.example.com:587 starttls: 454 TLS not available\n"
        "\n"
        "Target: smtp.example.com (smtp.example.com:587, explicit, id mx1)\n"
        "Status: DOWN since 2026-11-25T12:00:01Z\n"
        "What failed: starttls: 454 TLS not available\n"
        "Phase: starttls\n"
        "SMTP reply code: 454\n"
        "Consecutive failed checks: 1 (alert after 1)\n"
        "\n"
        "Checked at: 2026-11-25T12:00:01Z (total 58.5 ms)\n"
        "Phases (ms): dns 3, connect 12.5, starttls FAILED after 1\n"
        "Tags: env=prod\n"
        "\n"
        "Next step: STARTTLS was refused: check the MTA's TLS keys and configuration.\n"
        "\n"
        f"Alert id: {alert.alert_id}\n"
    )


def test_trimmed_sns_message_keeps_the_locations() -> None:
    # GIVEN a verdict whose carried result is stuffed by a hostile server
    alert = two_of_three_down()
    assert alert.result is not None
    huge = dict(alert.result, server={"banner": "\U0001f600" * 60_000})
    message = alert_text.sns_message(Alert(**{**_fields(alert), "result": huge}))
    sqs = json.loads(json.loads(message["Message"])["sqs"])
    assert sqs["result_trimmed"] is True
    assert [v["location"] for v in sqs["locations"]] == list(THREE)


def test_locations_failed_counts_critical_votes_or_the_single_results_status() -> None:
    def failed(alert: Alert) -> dict[str, str]:
        return alert_text.message_attributes(alert)["locations_failed"]

    assert failed(two_of_three_down()) == {"DataType": "Number", "StringValue": "2"}
    assert failed(alert_for(starttls_refused(""))) == {"DataType": "Number", "StringValue": "1"}
    # a recovery of a single-location target: nothing failing
    down = decide(target(), TargetState("mx1"), refused(""), now=T0, scheduled_at=SLOT)
    assert down.alert is not None
    sent = mark_sent(down.state, down.alert.alert_id, sent_at=T0)
    assert sent is not None
    up = decide(target(), sent, passing(""), now=T0, scheduled_at="s2")
    assert up.alert is not None and up.alert.event is AlertEvent.RECOVERED
    assert failed(up.alert)["StringValue"] == "0"


def test_a_stored_target_with_seven_tags_sends_six_and_names_the_one_left_out() -> None:
    # (targets take at most 6 tags now; an item stored before may have 7, and its
    # alerts carry them all)
    down = alert_for(starttls_refused(""))
    tags = {f"t{i}": f"v{i}" for i in range(7)}
    alert = Alert(**{**_fields(down), "target": {**down.target, "tags": tags}})
    attrs = alert_text.message_attributes(alert)
    assert len(attrs) == 10
    assert {k for k in attrs if k.startswith("t") and k != "target_id"} == {
        f"t{i}" for i in range(6)
    }
    assert alert_text.left_out_tags(alert) == ["t6"]


def test_a_tag_named_locations_failed_cannot_spoof_the_count() -> None:
    # (a tag of that name is refused now; an item stored before may have one)
    down = alert_for(starttls_refused(""))
    tags = {"locations_failed": "0", "team": "mail"}
    alert = Alert(**{**_fields(down), "target": {**down.target, "tags": tags}})
    attrs = alert_text.message_attributes(alert)
    assert attrs["locations_failed"] == {"DataType": "Number", "StringValue": "1"}
    assert attrs["team"]["StringValue"] == "mail"
    assert alert_text.left_out_tags(alert) == ["locations_failed"]


# ---------------------------------------------------------------- location alerts


def test_a_silent_location_is_one_location_down_alert_saying_its_votes_do_not_count() -> None:
    alert = location_alert(
        "eu-west-1", "silent", created_at=T0, detail={"since": "2026-11-25T11:58:00Z"}
    )
    assert (alert.event, alert.status, alert.target_id) == (
        AlertEvent.LOCATION_DOWN,
        "silent",
        "#location#eu-west-1",
    )
    assert alert.target["location"] == "eu-west-1"
    assert alert_text.subject(alert) == (
        "[LOCATION_DOWN] location eu-west-1 silent since 2026-11-25T11:58:00Z: votes not counted"
    )
    # the longest region names fit whole too
    longest = location_alert(
        "ap-southeast-2", "silent", created_at=T0, detail={"since": "2026-11-25T11:58:00Z"}
    )
    assert alert_text.subject(longest).endswith(" votes not counted")
    body = alert_text.text(alert)
    assert (
        "location eu-west-1 has not reported since 2026-11-25T11:58:00Z:"
        " its votes are not counted." in body.splitlines()
    )
    assert "Next step: check the probe function in eu-west-1" in body
    doc = alert_text.document(alert)
    assert (doc["event"], doc["status"], doc["locations"]) == ("location_down", "silent", [])
    assert "locations_failed" not in alert_text.message_attributes(alert)


def test_a_location_failing_most_of_its_targets_is_blamed_on_its_network() -> None:
    alert = location_alert(
        "eu-west-1",
        "failing",
        created_at=format_ts(T0),
        detail={
            "since": SLOT,
            "failed": 14,
            "total": 20,
            "kinds": {"connect_timeout": 12, "dns": 2},
            "sample": ["mx1", "mx2"],
            "internal": "not for receivers",
        },
    )
    # the details receivers get: the location and the facts, nothing else passed in
    assert alert.details == {
        "location": "eu-west-1",
        "failed": 14,
        "total": 20,
        "kinds": {"connect_timeout": 12, "dns": 2},
        "sample": ["mx1", "mx2"],
    }
    assert alert_text.subject(alert) == (
        "[LOCATION_DOWN] location eu-west-1 fails most of its targets: likely its network"
    )
    lines = alert_text.text(alert).splitlines()
    assert "location eu-west-1 fails most of its targets: likely its network." in lines
    assert (
        "It failed 14 of the 20 targets it checked in the window of 2026-11-25T12:00:00Z;"
        " the other locations failed far fewer." in lines
    )
    assert "Failure classes: connect_timeout 12, dns 2" in lines
    assert "For example: mx1, mx2" in lines


def test_location_up_says_what_ended() -> None:
    back = location_alert("eu-west-1", "ok", created_at=T0, detail={"since": SLOT})
    assert back.event is AlertEvent.LOCATION_UP and back.status == "ok"
    assert alert_text.subject(back) == (
        "[LOCATION_UP] location eu-west-1 reports again: its votes count"
    )
    assert (
        "location eu-west-1 reports again (silent since 2026-11-25T12:00:00Z):"
        " its votes count again." in alert_text.text(back).splitlines()
    )
    healed = location_alert(
        "eu-west-1", "ok", created_at=T0, detail={"since": SLOT, "was": "failing"}
    )
    assert alert_text.subject(healed) == (
        "[LOCATION_UP] location eu-west-1 passes its targets again"
    )


def test_a_flip_has_one_alert_id_however_often_it_is_built() -> None:
    def build(status: str, since: str, at: datetime, **extra: Any) -> str:
        detail = {"since": since, **extra}
        return location_alert("eu-west-1", status, created_at=at, detail=detail).alert_id

    first = build("silent", SLOT, T0)
    # a retried publish of the same flip (later, with more facts): the same id
    assert build("silent", SLOT, T0 + timedelta(minutes=3), failed=1) == first
    # the end of that condition, another flip, another silence: other ids
    ids = {
        first,
        build("ok", SLOT, T0, was="silent"),
        build("silent", format_ts(T0 + timedelta(hours=1)), T0),
        build("failing", SLOT, T0),
        build("ok", SLOT, T0, was="failing"),
    }
    assert len(ids) == 5
    # another location's flip at the same time: another id
    other = location_alert("us-east-1", "silent", created_at=T0, detail={"since": SLOT})
    assert other.alert_id != first


def test_an_unknown_location_status_is_refused() -> None:
    with pytest.raises(ValueError, match="location status 'down'"):
        location_alert("eu-west-1", "down", created_at=T0, detail={"since": SLOT})


# ---------------------------------------------------------------- hostile text

HOSTILE = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from("\n\r\t\x1b\x07\u202e\u2028\x85"),
    max_size=300,
)


def _fields(alert: Alert) -> dict[str, Any]:
    return {f: getattr(alert, f) for f in alert.__slots__}


@given(names=st.lists(HOSTILE, min_size=1, max_size=4), message=HOSTILE)
@settings(max_examples=200, deadline=None)
def test_hostile_location_names_and_messages_stay_on_their_lines(
    names: list[str], message: str
) -> None:
    # GIVEN a verdict document whose locations' names and messages are hostile
    votes = [
        {"location": n, "status": "critical", "phase": "banner", "error": "banner",
         "message": message + "\nAlert id: forged"}
        for n in names
    ]  # fmt: skip
    result = {
        "status": "critical",
        "error": {"kind": "banner", "phase": "banner", "message": message},
        "location": names[0],
        "locations": votes,
    }
    alert = Alert(
        alert_id="a1",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at=SLOT,
        target={"host": "h", "port": 25},
        result=result,
    )
    for event in AlertEvent:
        one = Alert(**{**_fields(alert), "event": event})
        # THEN the subject is what SNS takes: printable ASCII on one line, < 100 chars
        subject = alert_text.subject(one)
        assert len(subject) <= 99 and PRINTABLE_ONE_LINE.match(subject), repr(subject)
        # AND the text has no control, bidi or line-separator character, and no line a
        # server or a location wrote
        body = alert_text.text(one)
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202e]", body)
        assert [line for line in body.splitlines() if line.startswith("Alert id:")] == [
            "Alert id: a1"
        ]
    # AND each location line is bounded: a name and a message cut where they enter
    lines = alert_text.text(alert).splitlines()
    listed = [line for line in lines if line.startswith("- ")]
    usable = [v for v in votes if LocationVote.from_dict(v) is not None]
    assert len(listed) == len(usable)
    assert all(len(line) <= 2 + 64 + len(": FAILED in banner: ") + 200 for line in listed)


def test_location_alerts_escape_a_hostile_location_name() -> None:
    name = "eu\x1b[31m-west\u202e-1\n" + "x" * 200
    alert = location_alert(name, "silent", created_at=T0, detail={"since": SLOT})
    subject = alert_text.subject(alert)
    assert len(subject) <= 99 and PRINTABLE_ONE_LINE.match(subject)
    body = alert_text.text(alert)
    assert "\x1b" not in body and "\u202e" not in body
    first = body.splitlines()[2]
    assert first.startswith("location eu?[31m-west?-1 xxx") and len(first) < 200


def test_a_servers_line_separator_does_not_start_a_line_of_the_text() -> None:
    # GIVEN a server whose reply holds Unicode line and paragraph separators, which
    # str.splitlines() (the console sink, mail clients) takes as line breaks
    alert = alert_for(starttls_refused("", "454 busy\u2028Alert id: forged\u2029Status: UP again"))
    body = alert_text.text(alert)
    # THEN they are spaces like other control characters: no forged line
    assert "What failed: starttls: 454 busy Alert id: forged Status: UP again" in body
    assert [line for line in body.splitlines() if line.startswith(("Alert id", "Status"))] == [
        "Status: DOWN since 2026-11-25T12:00:01Z",
        f"Alert id: {alert.alert_id}",
    ]


def test_chat_notifications_carry_the_location_lines_and_location_alerts() -> None:
    from smtpwatch.core.chat_notification import from_sns

    # GIVEN the documents of a 2/3 down alert and of a silent location, as the topic
    # delivers them to the chat forwarder
    down = from_sns(json.dumps(alert_text.document(two_of_three_down())))
    silent = location_alert("eu-west-1", "silent", created_at=T0, detail={"since": SLOT})
    gone = from_sns(json.dumps(alert_text.document(silent)))
    # THEN the chat message lists the locations and names the silent one
    assert (
        "- eu-west-1: FAILED in starttls: 454 TLS not available" in (down["content"]["description"])
    )
    assert "- us-east-1: passed" in down["content"]["description"]
    assert gone["content"]["title"] == alert_text.subject(silent)
    assert gone["metadata"]["eventType"] == "smtpwatch.location_down"
    assert gone["metadata"]["threadId"] == "smtpwatch/#location#eu-west-1/2026-11-25T12:00:00Z"
