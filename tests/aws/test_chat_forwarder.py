"""Alerts in Slack and Microsoft Teams through AWS Chatbot, on moto: an alert published to
the alert topic reaches the forwarder as SNS hands it to a Lambda subscriber, and the
forwarder publishes an AWS Chatbot custom notification to the chat topic (read back
through an SQS subscription). The template adds both only with EnableChatForwarder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from test_template import Stack, _upload_code, translate

from conftest import REGION, Alerts, LambdaContext
from smtpwatch.adapters.sns import SnsAlertSink
from smtpwatch.core import alert_text
from smtpwatch.core.alerting import alert_id_for
from smtpwatch.core.chat_notification import MAX_DESCRIPTION, from_sns
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.handlers import chat_forwarder

STAMP = "2026-12-07T21:00:00Z"
HOSTILE = "<!channel> 454 see [the fix](https://evil.example/x) ``` <@U123>"


def down_alert(message: str = "TLS not available", target_id: str = "mx1") -> Alert:
    return Alert(
        alert_id=alert_id_for(target_id, AlertEvent.DOWN, STAMP),
        event=AlertEvent.DOWN,
        target_id=target_id,
        status="down",
        created_at=STAMP,
        target={"target_id": target_id, "name": target_id, "host": "mx1.example.com",
                "port": 587, "tags": {"team": "mail"}},
        since=STAMP,
        result={"status": "critical", "error": {"kind": "starttls", "phase": "starttls",
                                                  "smtp_code": 454, "message": message}},
    )  # fmt: skip


def subscribed_queue(sns: Any, sqs: Any, topic_arn: str, name: str) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"])
    return url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    """The SNS envelopes in the queue (``Message`` is what was published)."""
    out = []
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out.append(json.loads(m["Body"]))
    return out


def lambda_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """The event SNS gives a Lambda subscriber for the message an SQS one received
    (both get the same protocol key of a MessageStructure=json message)."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": envelope["MessageId"],
                    "TopicArn": envelope["TopicArn"],
                    "Subject": envelope.get("Subject"),
                    "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"],
                    "MessageAttributes": envelope.get("MessageAttributes", {}),
                },
            }
        ]
    }


@pytest.fixture
def chat(alerts: Alerts, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The chat topic with an SQS subscription; the forwarder pointed at it."""
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="smtpwatch-chat")["TopicArn"]
    url = subscribed_queue(sns, alerts.sqs, topic, "chat-capture")
    monkeypatch.setenv("CHAT_TOPIC_ARN", topic)
    chat_forwarder._runtime.cache_clear()
    yield alerts.sqs, url
    chat_forwarder._runtime.cache_clear()


def forward(alerts: Alerts, chat: tuple[Any, str], alert: Alert) -> dict[str, Any]:
    """Publish ``alert`` as the probe does, forward what the topic delivered, return the
    one notification on the chat topic."""
    SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn).send(alert)
    (envelope,) = alerts.drain()
    out = chat_forwarder.handler(lambda_event(envelope), LambdaContext())
    assert out == {"forwarded": 1}
    sqs, url = chat
    (note,) = received(sqs, url)
    doc: dict[str, Any] = json.loads(note["Message"])
    return doc


def test_a_down_alert_becomes_a_chatbot_custom_notification(
    alerts: Alerts, chat: tuple[Any, str]
) -> None:
    alert = down_alert()
    doc = forward(alerts, chat, alert)
    # THEN it has the custom-notification schema Chatbot renders in Slack and Teams
    assert doc["version"] == "1.0" and doc["source"] == "custom"
    assert doc["id"] == alert.alert_id
    content = doc["content"]
    assert content["textType"] == "client-markdown"
    # the title is the alert's subject, the description its readable text, preformatted
    assert content["title"] == "[DOWN] mx1 starttls: 454 TLS not available"
    assert content["title"] == alert_text.subject(alert)
    description = content["description"]
    assert description.startswith("```\n") and description.endswith("\n```")
    body = alert_text.text(alert).removeprefix(content["title"]).strip("\n")
    assert description == f"```\n{body}\n```"
    assert "Next step: STARTTLS was refused" in description
    assert content["keywords"] == ["down", "down", "mx1"]
    # one thread per target and episode; the facts a chat action can use
    meta = doc["metadata"]
    assert meta["threadId"] == f"smtpwatch/mx1/{STAMP}"
    assert meta["eventType"] == "smtpwatch.down"
    assert meta["summary"] == content["title"]
    assert meta["additionalContext"] == {
        "alert_id": alert.alert_id, "target_id": "mx1", "event": "down", "status": "down",
        "created_at": STAMP,
    }  # fmt: skip


def test_the_recovery_goes_to_the_same_thread(alerts: Alerts, chat: tuple[Any, str]) -> None:
    down = down_alert()
    recovered = Alert(
        alert_id=alert_id_for("mx1", AlertEvent.RECOVERED, STAMP),
        event=AlertEvent.RECOVERED,
        target_id="mx1",
        status="ok",
        created_at="2026-12-07T21:05:00Z",
        target=down.target,
        since=STAMP,
        result={"status": "ok"},
    )
    first, second = forward(alerts, chat, down), forward(alerts, chat, recovered)
    assert second["content"]["title"].startswith("[RECOVERED] mx1")
    assert second["metadata"]["threadId"] == first["metadata"]["threadId"]


def test_server_text_cannot_mention_link_or_break_out_of_the_block(
    alerts: Alerts, chat: tuple[Any, str]
) -> None:
    # GIVEN a server whose reply carries Slack mentions, a markdown link and a code fence
    doc = forward(alerts, chat, down_alert(HOSTILE))
    text = json.dumps(doc["content"], ensure_ascii=False)
    # THEN none of them survives as markup, in the title or the description
    for markup in ("<!channel>", "<@U123>", "](https://", "```"):
        assert markup not in doc["content"]["title"], markup
    assert "<" not in text and "](" not in text
    assert doc["content"]["description"].count("```") == 2  # the block's own fences
    assert "\u2039!channel\u203a" in doc["content"]["title"]  # still readable, as quotes


def test_a_self_monitoring_alarm_is_forwarded_readably(
    alerts: Alerts, chat: tuple[Any, str]
) -> None:
    alarm = {
        "AlarmName": "smtpwatch-dispatcher-not-running",
        "AlarmDescription": "smtpwatch dispatcher has not run; no target is being probed.",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 3 datapoints [0.0, 0.0, 0.0] < 1.0",
        "StateChangeTime": "2026-12-07T21:03:00.000+0000",
        "Region": "US East (N. Virginia)",
    }
    sns = boto3.client("sns", region_name=REGION)
    sns.publish(TopicArn=alerts.topic_arn, Subject="ALARM: smtpwatch", Message=json.dumps(alarm))
    (envelope,) = alerts.drain()
    chat_forwarder.handler(lambda_event(envelope), LambdaContext())
    (note,) = received(*chat)
    doc = json.loads(note["Message"])
    assert doc["content"]["title"] == "ALARM: smtpwatch-dispatcher-not-running"
    assert "no target is being probed" in doc["content"]["description"]
    assert "Threshold Crossed" in doc["content"]["description"]
    assert doc["metadata"]["threadId"] == "alarm/smtpwatch-dispatcher-not-running"
    assert doc["metadata"]["eventType"] == "cloudwatch.alarm.alarm"


def test_any_other_message_keeps_its_subject_and_a_bounded_text() -> None:
    doc = from_sns("x" * 10_000, "hello from elsewhere")
    assert doc["content"]["title"] == "hello from elsewhere"
    assert len(doc["content"]["description"]) <= MAX_DESCRIPTION
    assert doc["content"]["description"].endswith("…\n```")
    assert from_sns("not json")["content"]["title"] == "smtpwatch"


def test_a_failed_publish_fails_the_invocation_so_lambda_retries(
    alerts: Alerts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a chat topic that does not exist (deleted, or a wrong ARN)
    monkeypatch.setenv("CHAT_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:gone")
    chat_forwarder._runtime.cache_clear()
    SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn).send(down_alert())
    (envelope,) = alerts.drain()
    # THEN the handler raises (SNS's async invoke is retried), it does not drop it silently
    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        chat_forwarder.handler(lambda_event(envelope), LambdaContext())
    chat_forwarder._runtime.cache_clear()


# ---- the template ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translate()


def test_the_forwarder_is_off_by_default_and_needs_only_the_chat_topic(
    cfn: dict[str, Any],
) -> None:
    assert cfn["Parameters"]["EnableChatForwarder"]["Default"] == "false"
    resources = cfn["Resources"]
    chat = {k for k, v in resources.items() if v.get("Condition") == "ChatForwarderEnabled"}
    assert {
        "ChatTopic", "ChatForwarderFunction", "ChatForwarderRole", "ChatForwarderLogGroup",
    } <= chat  # fmt: skip
    # least privilege: its logs, and sns:Publish on the chat topic only
    (policy,) = resources["ChatForwarderRole"]["Properties"]["Policies"]
    allowed = {
        json.dumps(s["Resource"], sort_keys=True): s["Action"]
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    }
    assert allowed == {
        json.dumps({"Fn::GetAtt": ["ChatForwarderLogGroup", "Arn"]}, sort_keys=True): [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ],
        json.dumps({"Ref": "ChatTopic"}): "sns:Publish",
    }
    props = resources["ChatForwarderFunction"]["Properties"]
    assert props["Handler"] == "smtpwatch.handlers.chat_forwarder.handler"
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "ChatForwarderLogGroup"}
    # the chat topic is encrypted like the alert topic
    assert (
        resources["ChatTopic"]["Properties"]["KmsMasterKeyId"]
        == (resources["AlertTopic"]["Properties"]["KmsMasterKeyId"])
    )


@pytest.fixture(scope="module")
def aws_stacks() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(name, value)
        from moto import mock_aws

        with mock_aws(config={"lambda": {"use_docker": False}}):
            _upload_code()
            yield


def test_deployed_with_the_forwarder_the_alert_topic_feeds_it(aws_stacks: None) -> None:
    # GIVEN the stack deployed with EnableChatForwarder=true
    stack = Stack("with-chat", {"EnableChatForwarder": "true"})
    chat_topic = stack.outputs["ChatTopicArn"]
    alert_topic = stack.outputs["AlertTopicArn"]
    lam = boto3.client("lambda", region_name=REGION)
    fn = lam.get_function(FunctionName=stack.physical("ChatForwarderFunction"))["Configuration"]
    # THEN the forwarder publishes to the chat topic, a topic of its own
    assert fn["Environment"]["Variables"]["CHAT_TOPIC_ARN"] == chat_topic
    assert fn["Handler"] == "smtpwatch.handlers.chat_forwarder.handler"
    sns = boto3.client("sns", region_name=REGION)
    assert chat_topic != alert_topic
    assert chat_topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_the_forwarder_is_subscribed_to_the_alert_topic_and_only_it_may_invoke(
    cfn: dict[str, Any],
) -> None:
    # (moto's CloudFormation does not create AWS::SNS::Subscription: read the translation)
    resources = cfn["Resources"]
    subs = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"
            and r["Properties"]["Protocol"] == "lambda"]  # fmt: skip
    assert [s["Properties"] for s in subs] == [
        {
            "Endpoint": {"Fn::GetAtt": ["ChatForwarderFunction", "Arn"]},
            "Protocol": "lambda",
            "TopicArn": {"Ref": "AlertTopic"},
        }
    ]
    assert subs[0]["Condition"] == "ChatForwarderEnabled"
    forwarder = {"Ref": "ChatForwarderFunction"}
    (permission,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                     and r["Properties"]["FunctionName"] == forwarder]  # fmt: skip
    assert permission["Properties"]["Principal"] == "sns.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == {"Ref": "AlertTopic"}


def test_deployed_without_it_there_is_no_chat_topic(aws_stacks: None) -> None:
    stack = Stack("without-chat")
    assert "ChatTopicArn" not in stack.outputs
    assert "ChatForwarderFunction" not in stack.resources
    assert "ChatTopic" not in stack.resources
