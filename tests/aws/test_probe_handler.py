"""The probe Lambda against moto and real aiosmtpd servers on loopback.

Loopback targets need ``SMTPWATCH_ALLOW_LOOPBACK=1`` (the address guard), set here as a
developer would; one test checks the refusal without it. Alerts are read back from an
SQS queue subscribed to the alert topic.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from conftest import REGION, SECRETS_PREFIX, Alerts, LambdaContext
from smtpwatch.adapters.aws_secrets import encode_secret
from smtpwatch.adapters.dynamodb import (
    DynamoBookkeeping,
    DynamoResultStore,
    DynamoStateStore,
    to_item,
)
from smtpwatch.adapters.lambda_invoker import probe_payload
from smtpwatch.adapters.result_codec import decode_item
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import TargetStatus
from smtpwatch.handlers import probe as probe_module
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

PASSWORD = "Tr0ub4dor&3-never-log-me"
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _at(minutes: int) -> str:
    return format_ts(T0 + timedelta(minutes=minutes))


@dataclass
class Probe:
    tables: dict[str, str]
    alerts: Alerts
    ctx: LambdaContext
    ddb: Any

    def put_target(self, **fields: Any) -> None:
        self.ddb.put_item(TableName=self.tables["TargetsTable"], Item=to_item(fields))

    def run(self, target_id: str, scheduled_at: str) -> dict[str, Any]:
        event = {"target_id": target_id, "scheduled_at": scheduled_at}
        out: dict[str, Any] = probe_module.handler(event, self.ctx)
        return out

    def wire(self, target_id: str) -> dict[str, Any]:
        """The target item as a low-level read (the dispatcher's Scan) returns it."""
        item: dict[str, Any] = self.ddb.get_item(
            TableName=self.tables["TargetsTable"], Key={"target_id": {"S": target_id}}
        )["Item"]
        return item

    def run_delivered(
        self, target_id: str, scheduled_at: str, target: dict[str, Any]
    ) -> dict[str, Any]:
        """A check whose event carries ``target``, sent as the dispatcher sends it."""
        event = json.loads(probe_payload(target_id, scheduled_at, target))
        assert event["target"] == target
        return self.run_event(event)

    def run_event(self, event: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = probe_module.handler(event, self.ctx)
        return out

    def count_calls(self) -> tuple[list[str], list[dict[str, Any]]]:
        """DynamoDB operations of the probe's client from now on, and their parameters."""
        calls: list[str] = []
        params: list[dict[str, Any]] = []
        keep = params.append
        ddb = probe_module._runtime().ddb
        ddb.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
        )
        ddb.meta.events.register(
            "provide-client-params.dynamodb.*", lambda params, **_: keep(params)
        )
        return calls, params

    def state(self, target_id: str) -> Any:
        return DynamoStateStore(self.ddb, self.tables["StateTable"]).get_state(target_id)

    def results(self, target_id: str) -> list[Any]:
        return list(
            DynamoResultStore(self.ddb, self.tables["ResultsTable"]).iter_results(target_id)
        )

    def events(self) -> list[str]:
        return [d["event"] for d in self.alerts.documents(self.alerts.drain())]


@pytest.fixture
def lambda_probe(
    stack_env: dict[str, str],
    tables: dict[str, str],
    alerts: Alerts,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Probe]:
    monkeypatch.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")
    probe_module._runtime.cache_clear()
    yield Probe(tables, alerts, LambdaContext(), boto3.client("dynamodb", region_name=REGION))
    probe_module._runtime.cache_clear()


def _server_fields(server: SmtpServer, certs: Certificates, **extra: Any) -> dict[str, Any]:
    return {
        "host": DEFAULT_HOSTNAME,
        "port": server.port,
        "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
        "ca_bundle": certs.ca_pem,
        "timeout_s": 5,
        "recheck_delay_s": 0,
        "interval_s": 60,
        **extra,
    }


@pytest.fixture
def starttls_server(certs: Certificates, smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server(
        "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": PASSWORD}
    )


def test_down_alerts_once_then_stays_quiet_then_recovers_once(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    # GIVEN a healthy target
    assert lambda_probe.run("mx1", _at(0))["status"] == "ok"
    assert lambda_probe.events() == []
    # WHEN it goes down, THEN exactly one down alert
    starttls_server.stop()
    out = lambda_probe.run("mx1", _at(1))
    assert (out["status"], out["error"], out["alert"]) == ("critical", "connect_refused", "down")
    assert lambda_probe.events() == ["down"]
    # AND while it stays down: nothing more
    lambda_probe.run("mx1", _at(2))
    assert lambda_probe.events() == []
    # WHEN it comes back, THEN exactly one recovery
    starttls_server.start()
    assert lambda_probe.run("mx1", _at(3))["alert"] == "recovered"
    assert lambda_probe.events() == ["recovered"]
    assert lambda_probe.state("mx1").status is TargetStatus.UP


def test_the_alert_document_on_sqs_names_the_failed_phase(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(
        target_id="mx1", tags={"team": "mail"}, **_server_fields(starttls_server, certs)
    )
    starttls_server.stop()
    lambda_probe.run("mx1", _at(0))
    envelopes = lambda_probe.alerts.drain()
    assert len(envelopes) == 1
    doc = json.loads(envelopes[0]["Message"])
    assert doc["event"] == "down" and doc["target"]["target_id"] == "mx1"
    assert doc["result"]["error"]["kind"] == "connect_refused"
    assert doc["result"]["error"]["phase"] == "connect"
    assert envelopes[0]["Subject"].startswith("[DOWN]")
    attrs = envelopes[0]["MessageAttributes"]
    assert attrs["event"]["Value"] == "down" and attrs["target_id"]["Value"] == "mx1"


def test_a_reminder_goes_out_when_due_while_still_down(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(
        target_id="mx1", remind_every_s=3600, **_server_fields(starttls_server, certs)
    )
    starttls_server.stop()
    # the checks run on a fixed clock at each slot's time (T0 + minutes)
    clock = [T0]
    probe_module._runtime().now = lambda: clock[0]
    lambda_probe.run("mx1", _at(0))
    assert lambda_probe.events() == ["down"]
    assert lambda_probe.state("mx1").last_alert_at == _at(0)
    clock[0] = T0 + timedelta(minutes=59)
    lambda_probe.run("mx1", _at(59))
    assert lambda_probe.events() == []  # not due yet
    # GIVEN the down alert went out remind_every_s ago and the target is still down
    assert lambda_probe.state("mx1").status is TargetStatus.DOWN
    clock[0] = T0 + timedelta(minutes=60)
    lambda_probe.run("mx1", _at(60))
    assert lambda_probe.events() == ["reminder"]


def test_a_redelivered_event_changes_nothing(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    starttls_server.stop()
    lambda_probe.run("mx1", _at(0))
    assert lambda_probe.events() == ["down"]
    before = lambda_probe.state("mx1")
    out = lambda_probe.run("mx1", _at(0))  # the same event again
    assert out["skipped"] == "redelivered"
    assert lambda_probe.events() == []
    assert len(lambda_probe.results("mx1")) == 1
    assert lambda_probe.state("mx1") == before


def test_a_redelivered_failing_check_counts_once_toward_the_degraded_tick(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    starttls_server.stop()
    lambda_probe.run("mx1", _at(0))  # down: announced
    # GIVEN a steady outage, whose checks write no state (only their results)
    lambda_probe.run("mx1", _at(1))
    # WHEN the same event is delivered again (Lambda's async queue may repeat one)
    again = lambda_probe.run("mx1", _at(1))
    assert again["skipped"] == "redelivered"
    # THEN the tick's failure counter, which decides "monitor degraded", counted it once
    books = DynamoBookkeeping(lambda_probe.ddb, lambda_probe.tables["StateTable"])
    assert books.get_tick_counts(_at(1)).failures == 1
    states = DynamoStateStore(lambda_probe.ddb, lambda_probe.tables["StateTable"])
    # ...and the bookkeeping behind that is no target for status or the dispatcher
    assert [s.target_id for s in states.iter_states()] == ["mx1"]


def test_a_healthy_unchanged_check_writes_nothing_but_the_hourly_sample(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    # Template default PassingResultSeconds=3600; T0 = 15:00:00 opens an hour.
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    first = lambda_probe.run("mx1", _at(0))  # pending -> up: a change, and the sample
    assert (first["status"], first["writes"]) == ("ok", 2)
    # WHEN the target keeps passing inside the hour THEN no item is written at all
    for minute in (1, 2, 59):
        steady = lambda_probe.run("mx1", _at(minute))
        assert (steady["status"], steady["skipped"], steady["writes"]) == ("ok", None, 0)
    assert len(lambda_probe.results("mx1")) == 1
    # WHEN the slot opening the next hour passes THEN its result is the one item
    sample = lambda_probe.run("mx1", _at(60))
    assert (sample["status"], sample["writes"]) == ("ok", 1)
    assert len(lambda_probe.results("mx1")) == 2
    # A redelivery of the sample writes nothing and publishes nothing
    again = lambda_probe.run("mx1", _at(60))
    assert (again["skipped"], again["writes"]) == ("redelivered", 0)
    # ...nor does a redelivery of an unstored slot (it is just probed once more)
    assert lambda_probe.run("mx1", _at(1))["writes"] == 0
    assert len(lambda_probe.results("mx1")) == 2
    assert lambda_probe.events() == []
    assert lambda_probe.state("mx1").status.value == "up"


def test_failures_and_passing_changes_are_stored_on_every_slot(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    fields = _server_fields(starttls_server, certs, failures_before_alert=2)
    lambda_probe.put_target(target_id="mx1", **fields)
    lambda_probe.run("mx1", _at(0))
    starttls_server.stop()
    # GIVEN an outage: one failure below the threshold, then down, then a steady outage
    outs = [lambda_probe.run("mx1", _at(m)) for m in (1, 2, 3, 4)]
    assert [o["status"] for o in outs] == ["critical"] * 4
    assert [o["alert"] for o in outs] == [None, "down", None, None]
    # THEN every failing check is in the history, steady ones included
    assert [r.ok for r in lambda_probe.results("mx1")] == [True] + [False] * 4
    # WHEN it recovers on a slot that is not the hour's sample THEN the recovery is stored
    starttls_server.start()
    back = lambda_probe.run("mx1", _at(5))
    assert (back["status"], back["alert"]) == ("ok", "recovered")
    assert [r.status.value for r in lambda_probe.results("mx1")][-1] == "ok"
    assert len(lambda_probe.results("mx1")) == 6
    # ...and the next passing check, which changes nothing, is not
    assert lambda_probe.run("mx1", _at(6))["writes"] == 0
    assert len(lambda_probe.results("mx1")) == 6


def test_passing_result_seconds_zero_stores_every_check(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSING_RESULT_SECONDS", "0")
    probe_module._runtime.cache_clear()
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    lambda_probe.run("mx1", _at(0))
    steady = lambda_probe.run("mx1", _at(1))
    assert (steady["status"], steady["writes"]) == ("ok", 1)
    again = lambda_probe.run("mx1", _at(1))
    assert (again["skipped"], again["writes"]) == ("redelivered", 0)
    assert len(lambda_probe.results("mx1")) == 2


def test_an_alert_that_sns_refused_goes_out_on_the_next_run(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    starttls_server.stop()
    sns = boto3.client("sns", region_name=REGION)
    # GIVEN the topic is gone when the down alert is published
    sns.delete_topic(TopicArn=lambda_probe.alerts.topic_arn)
    out = lambda_probe.run("mx1", _at(0))
    assert out["alert"] == "down" and out["delivered"] is False
    assert lambda_probe.state("mx1").pending_alert is not None
    # WHEN SNS works again, THEN the next run publishes the pending alert (once)
    arn = sns.create_topic(Name="smtpwatch-alerts")["TopicArn"]
    assert arn == lambda_probe.alerts.topic_arn
    queue_arn = lambda_probe.alerts.sqs.get_queue_attributes(
        QueueUrl=lambda_probe.alerts.queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    lambda_probe.run("mx1", _at(1))
    assert lambda_probe.events() == ["down"]
    assert lambda_probe.state("mx1").pending_alert is None


def test_a_malformed_item_gives_a_config_result_and_others_are_unaffected(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="good", **_server_fields(starttls_server, certs))
    lambda_probe.put_target(target_id="bad", host="mx.example.com", timeout_s="soon")
    lambda_probe.put_target(target_id="short", host="mx.example.com", interval_s=10)
    bad = lambda_probe.run("bad", _at(0))
    short = lambda_probe.run("short", _at(0))
    good = lambda_probe.run("good", _at(0))
    assert (bad["status"], bad["error"]) == ("critical", "config")
    assert (short["status"], short["error"]) == ("critical", "config")
    assert good["status"] == "ok"
    stored = lambda_probe.results("bad")[0]
    assert stored.error.kind.value == "config" and "timeout_s" in stored.error.message
    assert "interval_s" in lambda_probe.results("short")[0].error.message
    # the operator hears of it like of any failure
    assert sorted(lambda_probe.events()) == ["down", "down"]


def test_a_missing_target_is_recorded_as_config_without_a_crash(lambda_probe: Probe) -> None:
    out = lambda_probe.run("no-such-target", _at(0))
    assert (out["status"], out["error"]) == ("critical", "config")
    assert "not found" in lambda_probe.results("no-such-target")[0].error.message


def test_a_bad_event_is_logged_and_ignored(
    lambda_probe: Probe, event_file: Callable[[str], dict[str, Any]]
) -> None:
    out = probe_module.handler(event_file("probe_malformed_event.json"), lambda_probe.ctx)
    assert out["status"] == "bad_event"


def test_the_event_file_drives_a_check(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    event_file: Callable[[str], dict[str, Any]],
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    out = probe_module.handler(event_file("probe.json"), lambda_probe.ctx)
    assert out["status"] == "ok" and out["scheduled_at"] == "2026-11-25T15:00:00Z"


def test_a_users_put_item_over_a_target_keeps_its_state(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    starttls_server.stop()
    lambda_probe.run("mx1", _at(0))
    assert lambda_probe.events() == ["down"]
    # WHEN the user replaces the whole item (console edit, aws dynamodb put-item)
    lambda_probe.put_target(
        target_id="mx1", name="Main MX", **_server_fields(starttls_server, certs)
    )
    # THEN the state survives: still down, already announced, no second down alert
    assert lambda_probe.state("mx1").status is TargetStatus.DOWN
    lambda_probe.run("mx1", _at(1))
    assert lambda_probe.events() == []


def test_loopback_is_refused_without_the_developer_switch(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SMTPWATCH_ALLOW_LOOPBACK")
    probe_module._runtime.cache_clear()
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    lambda_probe.put_target(
        target_id="lit", host="127.0.0.1", port=starttls_server.port, tls_verify=False
    )
    for tid in ("mx1", "lit"):
        lambda_probe.run(tid, _at(0))
        result = lambda_probe.results(tid)[0]
        assert result.error is not None and "loopback" in result.error.message
        assert not result.phase("connect").reached


def test_the_password_reaches_the_server_but_never_logs_results_state_or_alerts(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    log_lines: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    # ca_bundle: TLS proves the test CA, not the public PKI — the secret must consent
    ssm.put_parameter(
        Name=f"{SECRETS_PREFIX}mx1",
        Value=encode_secret(PASSWORD, [DEFAULT_HOSTNAME], allow_unverified=True),
        Type="SecureString",
    )
    ssm.put_parameter(
        Name=f"{SECRETS_PREFIX}wrong",
        Value=encode_secret(PASSWORD + "x", [DEFAULT_HOSTNAME], allow_unverified=True),
        Type="SecureString",
    )
    login = {"login": True, "username": "monitor"}
    lambda_probe.put_target(
        target_id="mx1",
        password_ref=f"ssm:{SECRETS_PREFIX}mx1",
        **login,
        **_server_fields(starttls_server, certs),
    )
    lambda_probe.put_target(
        target_id="wrong",
        password_ref=f"ssm:{SECRETS_PREFIX}wrong",
        **login,
        **_server_fields(starttls_server, certs),
    )
    ok = lambda_probe.run("mx1", _at(0))
    bad = lambda_probe.run("wrong", _at(0))
    assert ok["status"] == "ok" and starttls_server.auth_attempts  # it was sent to the server
    assert (bad["error"], bad["alert"]) == ("auth_failed", "down")
    everything = [
        log_lines.getvalue(),
        capsys.readouterr().out,
        # result items hold the full result compressed: check what a reader gets back
        json.dumps(
            [
                decode_item(item).to_dict()  # type: ignore[union-attr]
                for item in lambda_probe.ddb.scan(TableName=lambda_probe.tables["ResultsTable"])[
                    "Items"
                ]
            ]
        ),
        json.dumps(lambda_probe.ddb.scan(TableName=lambda_probe.tables["StateTable"])["Items"]),
        json.dumps(lambda_probe.alerts.drain()),
    ]
    for text in everything:
        assert PASSWORD not in text


def test_a_secret_without_consent_is_not_sent_to_a_target_with_its_own_ca(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(
        Name=f"{SECRETS_PREFIX}mx1",
        Value=encode_secret(PASSWORD, [DEFAULT_HOSTNAME]),
        Type="SecureString",
    )
    lambda_probe.put_target(
        target_id="mx1",
        login=True,
        username="monitor",
        password_ref=f"ssm:{SECRETS_PREFIX}mx1",
        **_server_fields(starttls_server, certs),
    )
    out = lambda_probe.run("mx1", _at(0))
    assert out["error"] == "config"
    assert starttls_server.auth_attempts == []
    assert "allow_unverified" in lambda_probe.results("mx1")[0].error.message


def test_metrics_are_emf_with_low_cardinality_dimensions(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    capsys.readouterr()
    lambda_probe.run("mx1", _at(0))
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    probe_doc = next(d for d in docs if "ProbeSuccess" in d)
    directive = probe_doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Smtpwatch"
    assert directive["Dimensions"] == [["service"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"ProbeSuccess", "TotalMs", "ConnectMs", "TlsMs", "CertDaysLeft"} <= names
    assert probe_doc["ProbeSuccess"] in (1, 1.0, [1.0])
    assert probe_doc["target_id"] == "mx1"  # metadata, not a dimension


def test_when_most_probes_of_a_tick_fail_one_degraded_alert_replaces_the_flood(
    lambda_probe: Probe, certs: Certificates
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from smtpwatch.service.gate import tick_bucket
    from smtpwatch.testing.servers import closed_port

    # GIVEN six targets the dispatcher invoked for one tick, all unreachable (the
    # monitor's own network is the likely culprit)
    ids = [f"t{i}" for i in range(6)]
    port = closed_port()
    for tid in ids:
        lambda_probe.put_target(
            target_id=tid,
            host="127.0.0.1",
            port=port,
            tls_verify=False,
            timeout_s=5,
            recheck_delay_s=1,  # the re-check lets the tick's other failures arrive
            interval_s=60,
        )
    scheduled_at = _at(0)
    DynamoBookkeeping(lambda_probe.ddb, lambda_probe.tables["StateTable"]).record_dispatched(
        tick_bucket(scheduled_at), len(ids)
    )
    rt = probe_module._runtime()
    # WHEN their checks run at once
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        outs = list(pool.map(lambda t: probe_module.check(rt, t, scheduled_at), ids))
    # THEN one degraded alert, no down alert; the targets are down, not yet announced
    assert all(o["error"] == "connect_refused" for o in outs)
    assert lambda_probe.events() == ["degraded"]
    assert all(lambda_probe.state(t).status is TargetStatus.DOWN for t in ids)
    # AND the next tick still holds them (the episode ends only when a tick is over
    # without being degraded), the one after sends each down alert that is still true
    for tid in ids:
        lambda_probe.run(tid, _at(1))
    assert lambda_probe.events() == []
    for tid in ids:
        lambda_probe.run(tid, _at(2))
    assert lambda_probe.events() == ["down"] * len(ids)


def test_a_monitor_outage_over_several_ticks_sends_one_degraded_alert_not_one_per_tick(
    lambda_probe: Probe,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from smtpwatch.service.gate import tick_bucket
    from smtpwatch.testing.servers import closed_port

    ids = [f"t{i}" for i in range(6)]
    port = closed_port()
    for tid in ids:
        lambda_probe.put_target(
            target_id=tid,
            host="127.0.0.1",
            port=port,
            tls_verify=False,
            timeout_s=5,
            recheck_delay_s=1,
            interval_s=60,
        )
    books = DynamoBookkeeping(lambda_probe.ddb, lambda_probe.tables["StateTable"])
    rt = probe_module._runtime()

    def tick(minute: int, dispatched: int) -> None:
        scheduled_at = _at(minute)
        books.record_dispatched(tick_bucket(scheduled_at), dispatched)
        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            list(pool.map(lambda t: probe_module.check(rt, t, scheduled_at), ids))

    # GIVEN the monitor's own network fails for three ticks: every probe fails
    for minute in range(3):
        tick(minute, dispatched=len(ids))
    # THEN one degraded alert for the whole episode, and no down alert leaks
    assert lambda_probe.events() == ["degraded"]
    # WHEN the network is back: 20 probes per tick, only these six targets (really
    # down) fail — the first such tick ends the episode, its verdict known when over
    tick(3, dispatched=20)
    assert lambda_probe.events() == []
    # THEN the next tick sends the held down alerts that are still true, one each
    tick(4, dispatched=20)
    assert lambda_probe.events() == ["down"] * len(ids)


def test_each_degraded_episode_sends_its_own_alert_and_healthy_probes_write_nothing_for_it(
    lambda_probe: Probe,
) -> None:
    from smtpwatch.adapters.tick_gate import TickGate
    from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
    from smtpwatch.core.target import Target
    from smtpwatch.service.gate import tick_bucket
    from smtpwatch.service.memory import MemorySink

    books = DynamoBookkeeping(lambda_probe.ddb, lambda_probe.tables["StateTable"])
    sink = MemorySink()
    gate = TickGate(books, [sink])
    targets = [Target(target_id=f"t{i}", host="mx.example.com") for i in range(10)]

    def tick(minute: int, failing: int) -> list[bool]:
        scheduled_at = _at(minute)
        books.record_dispatched(tick_bucket(scheduled_at), len(targets))
        for i, t in enumerate(targets):
            ok = i >= failing
            result = ProbeResult(
                target_id=t.target_id,
                started_at=scheduled_at,
                status=Status.OK if ok else Status.CRITICAL,
                error=None if ok else ErrorInfo(ErrorKind.CONNECT_TIMEOUT, None, "timed out"),
            )
            gate.observe(t, result, scheduled_at=scheduled_at)
        return [gate.hold_down(t, scheduled_at=scheduled_at) for t in targets[:failing]]

    def writes() -> int:
        return len(lambda_probe.ddb.scan(TableName=lambda_probe.tables["StateTable"])["Items"])

    # An episode of two ticks, a clean tick, one that ends it, then a second episode.
    assert all(tick(0, failing=8)) and all(tick(1, failing=9))
    assert tick(2, failing=1) == [True]  # the tick after a degraded one still holds
    assert tick(3, failing=1) == [False]
    assert all(tick(4, failing=7))
    assert sink.events == ["degraded", "degraded"]
    assert [a.since for a in sink.alerts] == [_at(0), _at(4)]
    # Cost: a tick where every probe passes adds no item and no write beyond the
    # dispatcher's one counter per tick.
    before = writes()
    assert tick(5, failing=0) == []
    assert writes() == before + 1


def test_the_degraded_minimum_is_the_same_in_code_template_and_docs() -> None:
    import re
    from pathlib import Path

    from smtpwatch.core.alerting import DEGRADED_MIN_COUNT
    from smtpwatch.handlers.settings import load_dispatcher_settings, load_probe_settings

    root = Path(__file__).resolve().parents[2]
    # The Lambda's default is the core's: at least this many probes of the tick FAILED.
    assert load_probe_settings({}).degraded_min_probes == DEGRADED_MIN_COUNT
    assert load_dispatcher_settings({}).degraded_min_probes == DEGRADED_MIN_COUNT
    template = (root / "template.yaml").read_text(encoding="utf-8")
    block = template[template.index("  DegradedShare:") :]
    description = " ".join(block[: block.index("\n  AlertEmail:")].split())
    docs_row = next(
        line
        for line in (root / "docs" / "aws.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `DegradedShare`")
    )
    for text in (description, docs_row):
        assert f"at least {DEGRADED_MIN_COUNT} of them failed" in text
        assert "per episode" in text
        assert not re.search(r"at least \d+ ran", text)


def test_a_passing_unchanged_check_logs_only_its_metrics_and_a_failure_logs_a_line(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    log_lines: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    lambda_probe.run("mx1", _at(0))  # pending -> up: a state change, logged
    assert '"check done"' in log_lines.getvalue()
    # GIVEN a target that is up, WHEN a check passes and changes nothing
    log_lines.truncate(0)
    log_lines.seek(0)
    capsys.readouterr()
    assert lambda_probe.run("mx1", _at(1))["writes"] == 0
    # THEN no log line (cost: CloudWatch Logs bills every byte), only the EMF document
    assert log_lines.getvalue() == ""
    emf = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(emf) == 1 and '"ProbeSuccess"' in emf[0]
    # ...as compact as EMF allows: no units, one value as a plain number (was ~860 B
    # with units and one-element lists, ~930 B before rounding, plus a ~600 B INFO line)
    doc = json.loads(emf[0])
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert all(set(m) == {"Name"} for m in directive["Metrics"])
    assert doc["ProbeSuccess"] == 1 and isinstance(doc["TotalMs"], (int, float))
    assert '"ProbeSuccess":1,' in emf[0]
    assert len(emf[0].encode()) < 640
    # WHEN it fails, THEN the check is logged with its error
    starttls_server.stop()
    lambda_probe.run("mx1", _at(2))
    done = [json.loads(x) for x in log_lines.getvalue().splitlines() if '"check done"' in x]
    assert [(d["status"], d["error"], d["alert"]) for d in done] == [
        ("critical", "connect_refused", "down")
    ]


def test_a_plaintext_check_emits_only_the_phases_it_reached_and_no_cert_days(
    lambda_probe: Probe,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = smtp_server("127.0.0.1")
    lambda_probe.put_target(target_id="plain", encryption="none", **_server_fields(server, certs))
    capsys.readouterr()
    assert lambda_probe.run("plain", _at(0))["status"] == "ok"
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    doc = next(d for d in docs if "ProbeSuccess" in d)
    names = {m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ProbeSuccess", "TotalMs", "ConnectMs", "BannerMs", "EhloMs"} <= names
    assert not names & {"TlsMs", "StarttlsMs", "EhloTlsMs", "AuthMs", "CertDaysLeft"}
    assert doc["target_id"] == "plain"


def test_a_healthy_check_costs_one_read_call_and_a_write_only_on_the_sample_slot(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    lambda_probe.run("mx1", _at(0))
    calls: list[str] = []
    params: list[dict[str, Any]] = []
    keep = params.append
    rt = probe_module._runtime()
    rt.ddb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    rt.ddb.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: keep(params)
    )

    # WHEN a target that is up passes again THEN the target item and its state come
    # in one call, and nothing is written
    out = lambda_probe.run("mx1", _at(1))
    assert (out["status"], out["writes"]) == ("ok", 0)
    assert calls == ["BatchGetItem"]
    # ...both eventually consistent: 0.5 + 0.5 read units (conditional writes, not
    # the read, are what keep racing or redelivered checks apart)
    (request,) = params
    assert [r.get("ConsistentRead", False) for r in request["RequestItems"].values()] == [
        False,
        False,
    ]
    # ...except on the slot that opens the hour: its result goes in one more call
    calls.clear()
    out = lambda_probe.run("mx1", _at(60))
    assert (out["status"], out["writes"]) == ("ok", 1)
    assert calls == ["BatchGetItem", "PutItem"]


class _ThrottledOnce:
    """The DynamoDB client, except that the first BatchGetItem leaves every key
    unprocessed (what DynamoDB does under throttling)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.throttled = 0

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        if not self.throttled:
            self.throttled += 1
            return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}
        out: dict[str, Any] = self._client.batch_get_item(**kwargs)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_keys_left_unprocessed_by_a_throttled_batch_read_are_read_again(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    starttls_server.stop()
    lambda_probe.run("mx1", _at(0))
    assert lambda_probe.events() == ["down"]
    rt = probe_module._runtime()
    throttled = _ThrottledOnce(rt.ddb)
    rt.ddb = throttled
    # WHEN the read is throttled once, THEN the check still sees the target and its
    # state: still down, no second alert
    out = lambda_probe.run("mx1", _at(1))
    assert throttled.throttled == 1
    assert (out["status"], out["state"], out["alert"]) == ("critical", "down", None)
    assert lambda_probe.events() == []


def test_a_server_flooding_its_ehlo_reply_still_gets_its_down_alert_delivered(
    lambda_probe: Probe,
) -> None:
    from smtpwatch.testing.servers import HostileServer

    # GIVEN a server whose EHLO advertises 900 distinct 4 KB keywords (3.6 MB) and then
    # STARTTLS: no DynamoDB item (400 KB) or SNS message (256 KB) holds that, and the
    # probe refuses the reply as oversize while reading it (a protocol failure in ehlo)
    ehlo = b"250-flood.smtpwatch.test\r\n"
    ehlo += b"".join(b"250-X%04d" % i + b"A" * 4000 + b"\r\n" for i in range(900))
    ehlo += b"250 STARTTLS\r\n"
    server = HostileServer.scripted(replies={"EHLO": ehlo})
    with server:
        lambda_probe.put_target(
            target_id="flood",
            host="127.0.0.1",
            port=server.port,
            encryption="explicit",
            timeout_s=20,
            recheck_delay_s=0,
            interval_s=60,
        )
        # WHEN it is checked
        out = lambda_probe.run("flood", _at(0))
    # THEN it is down, its down alert is delivered and recorded as sent
    assert (out["status"], out["alert"], out["delivered"]) == ("critical", "down", True)
    docs = lambda_probe.alerts.documents(lambda_probe.alerts.drain())
    assert [d["event"] for d in docs] == ["down"]
    assert (docs[0]["result"]["error"]["kind"], docs[0]["result"]["error"]["phase"]) == (
        "protocol",
        "ehlo",
    )
    state = lambda_probe.state("flood")
    assert state.status is TargetStatus.DOWN and state.pending_alert is None


def test_an_item_whose_target_id_is_invalid_still_alerts_its_config_problem(
    lambda_probe: Probe,
) -> None:
    # GIVEN a console user typed a space into the target id (and no host at all)
    lambda_probe.put_target(target_id="mx 1", port=25)
    # WHEN the dispatcher's event for it arrives
    out = lambda_probe.run("mx 1", _at(0))
    # THEN the check is a config failure the operator hears of, under the item's own id
    assert (out["status"], out["error"], out["alert"]) == ("critical", "config", "down")
    (doc,) = lambda_probe.alerts.documents(lambda_probe.alerts.drain())
    assert doc["event"] == "down" and doc["target"]["target_id"] == "mx 1"
    assert "target_id" in doc["result"]["error"]["message"]
    assert lambda_probe.state("mx 1").status is TargetStatus.DOWN


# ---------------------------------------------------------------- the target in the event


def test_a_check_whose_event_carries_the_target_reads_only_the_state_and_ends_the_same(
    lambda_probe: Probe, starttls_server: SmtpServer, certs: Certificates
) -> None:
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    first = lambda_probe.run("mx1", _at(0))  # the table path: pending -> up, the sample
    wire = lambda_probe.wire("mx1")
    calls, params = lambda_probe.count_calls()
    # WHEN a target that is up passes again, its item in the event
    delivered = lambda_probe.run_delivered("mx1", _at(1), wire)
    # THEN one call: a GetItem of its state, eventually consistent (0.5 read units)
    assert calls == ["GetItem"]
    (request,) = params
    assert request["TableName"] == lambda_probe.tables["StateTable"]
    assert request["Key"] == {"target_id": {"S": "mx1"}}
    assert request.get("ConsistentRead", False) is False
    # AND the check ends as one without the item in its event does
    calls.clear()
    read = lambda_probe.run("mx1", _at(2))
    assert calls == ["BatchGetItem"]
    assert delivered | {"scheduled_at": None} == read | {"scheduled_at": None}
    assert (delivered["status"], delivered["state"], delivered["writes"]) == ("ok", "up", 0)
    # AND on the slot that opens the hour its result is stored as the table path stores it
    calls.clear()
    sample = lambda_probe.run_delivered("mx1", _at(60), wire)
    assert (sample["status"], sample["writes"]) == ("ok", 1)
    assert calls == ["GetItem", "PutItem"]
    by_table, by_event = lambda_probe.results("mx1")
    assert first["writes"] == 2
    assert (by_event.host, by_event.port, by_event.status, by_event.error) == (
        by_table.host,
        by_table.port,
        by_table.status,
        by_table.error,
    )
    # AND a failure goes through the state machine: one down alert
    starttls_server.stop()
    down = lambda_probe.run_delivered("mx1", _at(61), wire)
    assert (down["status"], down["error"], down["alert"]) == ("critical", "connect_refused", "down")
    assert lambda_probe.events() == ["down"]


@pytest.mark.parametrize(
    "make_target",
    [
        pytest.param(lambda wire, other: other, id="another-targets-item"),
        pytest.param(lambda wire, other: wire | {"target_id": {"S": "mx2"}}, id="other-id"),
        pytest.param(
            lambda wire, other: {k: v for k, v in wire.items() if k != "target_id"}, id="no-id"
        ),
        pytest.param(lambda wire, other: "mx1", id="a-string"),
        pytest.param(lambda wire, other: [wire], id="a-list"),
        pytest.param(
            lambda wire, other: {"target_id": {"S": "mx1"}, "host": "127.0.0.1"}, id="not-typed"
        ),
        pytest.param(lambda wire, other: wire | {"port": {"N": "soon"}}, id="bad-number"),
        pytest.param(lambda wire, other: wire | {"port": {"N": 25}}, id="number-not-text"),
        pytest.param(lambda wire, other: wire | {"logo": {"B": "iVBORw0K"}}, id="binary"),
        pytest.param(lambda wire, other: wire | {"port": {"S": "25", "N": "25"}}, id="two-types"),
    ],
)
def test_a_target_in_the_event_that_is_not_this_targets_item_is_ignored_for_the_table(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    log_lines: io.StringIO,
    make_target: Callable[[dict[str, Any], dict[str, Any]], Any],
) -> None:
    from smtpwatch.testing.servers import closed_port

    # GIVEN mx1 is healthy in the table, and the event carries something else: an
    # item for an unreachable server, or not an item in DynamoDB's typed form at all
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    closed = {"target_id": "mx2", "host": "127.0.0.1", "port": closed_port(), "interval_s": 60}
    other = to_item(closed | {"tls_verify": False})
    target = make_target(lambda_probe.wire("mx1") | {"port": {"N": str(closed["port"])}}, other)
    calls, _ = lambda_probe.count_calls()
    # WHEN the check runs
    event = {"target_id": "mx1", "scheduled_at": _at(0), "target": target}
    out = lambda_probe.run_event(event)
    # THEN the table's item is what was probed (it passes), read as without "target"
    assert (out["status"], out["error"]) == ("ok", None)
    assert calls[0] == "BatchGetItem"
    # AND the reason is logged
    logged = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    (warning,) = [r for r in logged if r["message"].startswith("the event's target item")]
    assert warning["level"] == "WARNING" and warning["reason"]


def test_a_malformed_item_in_the_event_gives_the_config_result_the_table_item_would(
    lambda_probe: Probe,
) -> None:
    bad = {"host": "mx.example.com", "timeout_s": "soon"}
    short = {"host": "mx.example.com", "interval_s": 10}
    # GIVEN the same malformed items in the table under one id, in the event under another
    lambda_probe.put_target(target_id="bad-table", **bad)
    lambda_probe.put_target(target_id="short-table", **short)
    calls, _ = lambda_probe.count_calls()
    outs = {
        "bad-event": lambda_probe.run_delivered(
            "bad-event", _at(0), to_item({"target_id": "bad-event", **bad})
        ),
        "short-event": lambda_probe.run_delivered(
            "short-event", _at(0), to_item({"target_id": "short-event", **short})
        ),
    }
    # THEN the event's item was judged, not looked up (the table has no such id)
    assert calls[:1] == ["GetItem"] and "BatchGetItem" not in calls
    outs |= {tid: lambda_probe.run(tid, _at(0)) for tid in ("bad-table", "short-table")}
    for out in outs.values():
        assert (out["status"], out["error"], out["alert"]) == ("critical", "config", "down")
    messages = {tid: lambda_probe.results(tid)[0].error.message for tid in outs}
    assert messages["bad-event"] == messages["bad-table"] and "timeout_s" in messages["bad-event"]
    assert messages["short-event"] == messages["short-table"]
    assert "interval_s" in messages["short-event"]
    # AND the operator hears of each like of any failure
    assert lambda_probe.events() == ["down"] * 4


def test_a_target_in_the_event_gets_no_more_than_a_table_item_loopback_and_secrets(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The docstring's security claim: invoke permission gives no more than write
    # access to the targets table. A secret stays bound to its host...
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(
        Name=f"{SECRETS_PREFIX}mx1",
        Value=encode_secret(PASSWORD, [DEFAULT_HOSTNAME], allow_unverified=True),
        Type="SecureString",
    )
    stolen = {
        "target_id": "evil",
        "host": "127.0.0.1",
        "port": starttls_server.port,
        "tls_verify": False,
        "login": True,
        "username": "monitor",
        "password_ref": f"ssm:{SECRETS_PREFIX}mx1",
        "recheck_delay_s": 0,
    }
    out = lambda_probe.run_delivered("evil", _at(0), to_item(stolen))
    assert out["error"] == "config"
    assert starttls_server.auth_attempts == []
    assert "may not be sent to 127.0.0.1" in lambda_probe.results("evil")[0].error.message
    # ...and without the developer switch, loopback is refused as for a table item
    monkeypatch.delenv("SMTPWATCH_ALLOW_LOOPBACK")
    probe_module._runtime.cache_clear()
    plain = {k: v for k, v in stolen.items() if k not in ("login", "username", "password_ref")}
    lambda_probe.run_delivered("loop", _at(0), to_item(plain | {"target_id": "loop"}))
    result = lambda_probe.results("loop")[0]
    assert result.error is not None and "loopback" in result.error.message
    assert not result.phase("connect").reached


def test_each_result_says_the_region_it_ran_in_unless_a_location_is_set(
    lambda_probe: Probe,
    starttls_server: SmtpServer,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the function in eu-central-1 (Lambda sets AWS_REGION), a healthy target and a
    # refused one
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    lambda_probe.put_target(target_id="mx1", **_server_fields(starttls_server, certs))
    lambda_probe.put_target(target_id="dead", host="127.0.0.1", port=1, interval_s=60)
    # WHEN each is checked  THEN the stored results say the region
    assert lambda_probe.run("mx1", _at(0))["status"] == "ok"
    assert lambda_probe.run("dead", _at(0))["status"] == "critical"
    assert [r.location for r in lambda_probe.results("mx1")] == ["eu-central-1"]
    assert [r.location for r in lambda_probe.results("dead")] == ["eu-central-1"]
    # ...and so does the state's copy that `status --stack` shows
    assert lambda_probe.state("dead").last_result["location"] == "eu-central-1"
    # ...as does the config result of a target that is not there
    lambda_probe.run("no-such-target", _at(0))
    assert [r.location for r in lambda_probe.results("no-such-target")] == ["eu-central-1"]
    # WHEN the stack names its location  THEN that name is used
    monkeypatch.setenv("SMTPWATCH_LOCATION", "primary (Frankfurt)")
    probe_module._runtime.cache_clear()
    lambda_probe.run("dead", _at(1))
    assert [r.location for r in lambda_probe.results("dead")][-1] == "primary (Frankfurt)"


def test_a_bad_location_variable_is_refused_naming_it(
    lambda_probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smtpwatch.core.errors import ConfigError

    monkeypatch.setenv("SMTPWATCH_LOCATION", "x" * 65)
    with pytest.raises(ConfigError, match=r"^SMTPWATCH_LOCATION: .*at most 64 characters"):
        probe_module._runtime()
