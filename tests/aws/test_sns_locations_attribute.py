"""The SNS sink's message attributes for locations (moto, read back through SQS): a
Number ``locations_failed`` subscribers filter on, at most 6 tags beside it, a stored
target's 7th tag left out and logged, and the document's ``locations``."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import REGION, Alerts
from smtpwatch.adapters.sns import SnsAlertSink
from smtpwatch.core.alerting import decide, mark_sent
from smtpwatch.core.locations import verdict
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState
from smtpwatch.core.target import Target

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SLOT = format_ts(T0)
THREE = ("us-east-1", "eu-west-1", "ap-southeast-2")
TARGET = Target(target_id="mx1", host="smtp.example.com", tags={"team": "mail"})


def _result(location: str, failed: bool) -> ProbeResult:
    error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "Connection refused")
    return ProbeResult(
        target_id="mx1",
        started_at=SLOT,
        status=Status.CRITICAL if failed else Status.OK,
        host="smtp.example.com",
        port=25,
        error=error if failed else None,
        location=location,
    )


def _down(failing: tuple[str, ...]) -> Alert:
    """The down alert of a verdict of THREE where ``failing`` failed (quorum 1)."""
    votes = {name: _result(name, name in failing) for name in THREE}
    result = verdict("mx1", SLOT, THREE, votes, quorum=1, alert_on_partial=False)
    decision = decide(TARGET, TargetState("mx1"), result, now=T0, scheduled_at=SLOT)
    assert decision.alert is not None and decision.alert.event is AlertEvent.DOWN
    return decision.alert


def _single(failed: bool, state: TargetState | None = None) -> tuple[Alert | None, TargetState]:
    decision = decide(
        TARGET, state or TargetState("mx1"), _result("", failed), now=T0, scheduled_at=SLOT
    )
    return decision.alert, decision.state


def _filtered_queue(policy: dict[str, Any]) -> str:
    """A second queue subscribed to the topic with ``policy`` as its filter policy."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="pager")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.list_topics()["Topics"][0]["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy)},
    )
    return str(url)


def _drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_a_verdicts_down_alert_carries_its_failing_count_and_each_locations_vote(
    alerts: Alerts,
) -> None:
    # WHEN the down alert of a 2/3 verdict is published
    SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn).send(
        _down(("eu-west-1", "ap-southeast-2"))
    )
    (envelope,) = alerts.drain()
    # THEN subscribers can filter on the number of failing locations
    attrs = envelope["MessageAttributes"]
    assert attrs["locations_failed"] == {"Type": "Number", "Value": "2"}
    assert attrs["event"]["Value"] == "down" and attrs["team"]["Value"] == "mail"
    # AND the document names every location's vote; the subject counts them
    doc = json.loads(envelope["Message"])
    assert doc["schema_version"] == 1
    assert [(v["location"], v["status"], v["phase"]) for v in doc["locations"]] == [
        ("us-east-1", "ok", None),
        ("eu-west-1", "critical", "connect"),
        ("ap-southeast-2", "critical", "connect"),
    ]
    assert envelope["Subject"] == (
        "[DOWN] smtp.example.com:587 2/3 locations: connect_refused: Connection refused"
    )


def test_a_filter_policy_on_locations_failed_pages_only_on_two_or_more(
    alerts: Alerts,
) -> None:
    # GIVEN a pager subscribed with a numeric filter on the failing locations
    pager = _filtered_queue({"locations_failed": [{"numeric": [">=", 2]}]})
    sink = SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn)
    # WHEN a 1/3, a 2/3 and a single-location down alert go out
    one = _down(("eu-west-1",))
    two = _down(("eu-west-1", "ap-southeast-2"))
    single, _ = _single(failed=True)
    assert single is not None
    for alert in (one, two, single):
        sink.send(alert)
    # THEN the unfiltered subscriber gets all three, the pager only the 2/3 one
    everything = alerts.drain()
    counts = sorted(e["MessageAttributes"]["locations_failed"]["Value"] for e in everything)
    assert counts == ["1", "1", "2"]
    paged = _drain(pager)
    assert [json.loads(e["Message"])["alert_id"] for e in paged] == [two.alert_id]


def test_a_single_location_target_counts_one_when_down_and_zero_when_recovered(
    alerts: Alerts,
) -> None:
    sink = SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn)
    down, state = _single(failed=True)
    assert down is not None
    sink.send(down)
    sent = mark_sent(state, down.alert_id, sent_at=T0)
    assert sent is not None
    up, _ = _single(failed=False, state=sent)
    assert up is not None and up.event is AlertEvent.RECOVERED
    sink.send(up)
    envelopes = alerts.drain()
    assert [
        (json.loads(e["Message"])["event"], e["MessageAttributes"]["locations_failed"]["Value"])
        for e in envelopes
    ] == [("down", "1"), ("recovered", "0")]
    assert all(json.loads(e["Message"])["locations"] == [] for e in envelopes)


def test_a_stored_target_with_seven_tags_loses_its_last_tag_from_the_attributes_and_logs_it(
    alerts: Alerts, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the down alert of a target stored with 7 tags (allowed before locations)
    down, _ = _single(failed=True)
    assert down is not None
    tags = {f"k{i}": f"v{i}" for i in range(7)}
    alert = replace(down, target={**down.target, "tags": tags})
    # WHEN it is published
    with caplog.at_level(logging.WARNING, logger="smtpwatch.sns"):
        SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn).send(alert)
    # THEN it is delivered with 10 attributes: the 4 fixed ones and the first 6 tags
    (envelope,) = alerts.drain()
    attrs = envelope["MessageAttributes"]
    assert set(attrs) == {"event", "status", "target_id", "locations_failed"} | {
        f"k{i}" for i in range(6)
    }
    # AND the tag left out is logged, by name, with the alert
    logged = [r for r in caplog.records if r.name == "smtpwatch.sns"]
    assert len(logged) == 1
    assert "'k6'" in logged[0].getMessage()
    assert logged[0].__dict__["target_id"] == "mx1"
    # AND the document still has every tag (only the attributes are limited)
    assert json.loads(envelope["Message"])["target"]["tags"] == tags


# docs/alerts.md's pager policy: 2+ failing locations, and every recovery (a recovery
# counts 0 failing locations, or 1 when a told outage turned into a partial warning).
PAGER_POLICY = {
    "$or": [
        {"locations_failed": [{"numeric": [">=", 2]}]},
        {"event": ["recovered", "degraded"]},
    ]
}


def _decide(
    failing: tuple[str, ...], state: TargetState, *, quorum: int = 2
) -> tuple[Alert | None, TargetState]:
    votes = {name: _result(name, name in failing) for name in THREE}
    result = verdict("mx1", SLOT, THREE, votes, quorum=quorum, alert_on_partial=True)
    decision = decide(TARGET, state, result, now=T0, scheduled_at=SLOT)
    return decision.alert, decision.state


def test_the_documented_pager_policy_gets_a_2_of_3_down_and_its_recovery_not_a_1_of_3_warning(
    alerts: Alerts,
) -> None:
    # GIVEN a pager subscribed with the filter policy docs/alerts.md gives
    page = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    assert json.dumps(PAGER_POLICY) in page
    pager = _filtered_queue(PAGER_POLICY)
    sink = SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn)
    # WHEN a target goes down from 2 of 3 locations (quorum 2), then recovers
    down, state = _decide(("eu-west-1", "ap-southeast-2"), TargetState("mx1"))
    assert down is not None and down.event is AlertEvent.DOWN
    sink.send(down)
    sent = mark_sent(state, down.alert_id, sent_at=T0)
    assert sent is not None
    up, _ = _decide((), sent)
    assert up is not None and up.event is AlertEvent.RECOVERED
    sink.send(up)
    # AND another target's check fails from 1 location of 3 only (a partial warning)
    partial, _ = _decide(("eu-west-1",), TargetState("mx1"))
    assert partial is not None and partial.event is AlertEvent.WARNING
    sink.send(partial)
    # THEN every subscriber without a filter gets all three
    everything = alerts.drain()
    assert [
        (e["MessageAttributes"]["event"]["Value"], e["MessageAttributes"]["locations_failed"])
        for e in everything
    ] == [
        ("down", {"Type": "Number", "Value": "2"}),
        ("recovered", {"Type": "Number", "Value": "0"}),
        ("warning", {"Type": "Number", "Value": "1"}),
    ]
    # AND the pager the down alert and its recovery, not the partial warning
    paged = [json.loads(e["Message"]) for e in _drain(pager)]
    assert [(m["alert_id"], m["event"]) for m in paged] == [
        (down.alert_id, "down"),
        (up.alert_id, "recovered"),
    ]
