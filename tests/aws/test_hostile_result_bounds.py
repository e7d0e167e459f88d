"""What the AWS side keeps of a flooded result: the probe Lambda (moto) against real
loopback servers that send 200 long EHLO keywords or a 3,000-SAN certificate, and the
largest result there can be written straight through the stores.

A result is at most 16 KB of JSON; the results item stays within one write unit
(1 KB), the state item within 16 KB plus its own fields, an alert document too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from conftest import REGION, Alerts, LambdaContext
from smtpwatch.adapters.dynamodb import DynamoResultStore, DynamoStateStore, to_item
from smtpwatch.adapters.result_codec import ITEM_LIMIT, item_size
from smtpwatch.core import result as R
from smtpwatch.core.alerting import stored_result
from smtpwatch.core.result import ProbeResult, ServerInfo, Status
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.handlers import probe as probe_module
from smtpwatch.testing.floods import ehlo_keyword_flood, largest_result, many_sans_cert
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, HostileServer, SmtpServer

LIMIT = 16_384  # a whole result's JSON, at most
ENVELOPE = 2_048  # a state item's or alert document's own fields around its result copies
SCHEDULED = "2026-12-07T16:00:00Z"


def raw_item(ddb: Any, table: str, target_id: str, **key: Any) -> dict[str, Any]:
    resp = ddb.get_item(
        TableName=table, Key={"target_id": {"S": target_id}, **key}, ConsistentRead=True
    )
    item: dict[str, Any] = resp["Item"]
    return item


@pytest.fixture
def run_probe(
    stack_env: dict[str, str], tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., dict[str, Any]]]:
    """Put a target item and run one check of it through the probe Lambda."""
    monkeypatch.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")
    probe_module._runtime.cache_clear()
    ddb = boto3.client("dynamodb", region_name=REGION)

    def run(**fields: Any) -> dict[str, Any]:
        item = {"timeout_s": 10, "recheck_delay_s": 0, "interval_s": 60, **fields}
        ddb.put_item(TableName=tables["TargetsTable"], Item=to_item(item))
        event = {"target_id": fields["target_id"], "scheduled_at": SCHEDULED}
        out: dict[str, Any] = probe_module.handler(event, LambdaContext())
        return out

    yield run
    probe_module._runtime.cache_clear()


def stored(ddb: Any, tables: dict[str, str], target_id: str) -> tuple[int, int, ProbeResult]:
    """(results item bytes, state item bytes, the stored result read back)."""
    results = DynamoResultStore(ddb, tables["ResultsTable"])
    (result,) = list(results.iter_results(target_id))
    (item,) = ddb.query(
        TableName=tables["ResultsTable"],
        KeyConditionExpression="target_id = :t",
        ExpressionAttributeValues={":t": {"S": target_id}},
    )["Items"]
    state = raw_item(ddb, tables["StateTable"], target_id)
    return item_size(item), item_size(state), result


def test_a_3000_san_certificate_checked_on_aws_stores_bounded_items(
    run_probe: Callable[..., dict[str, Any]],
    ddb: Any,
    tables: dict[str, str],
    certs: Certificates,
    smtp_server: Callable[..., SmtpServer],
) -> None:
    # GIVEN a server whose valid certificate names 3,000 hosts besides ours
    server = smtp_server("127.0.0.1", cert=many_sans_cert(certs, 3_000), starttls=True)
    # WHEN the probe Lambda checks it
    out = run_probe(
        target_id="sans",
        host=DEFAULT_HOSTNAME,
        port=server.port,
        dns_hosts=[f"127.0.0.1 {DEFAULT_HOSTNAME}"],
        ca_bundle=certs.ca_pem,
    )
    # THEN it passes; the result item is one write unit, the state item bounded
    assert (out["status"], out["error"]) == ("ok", None)
    result_bytes, state_bytes, result = stored(ddb, tables, "sans")
    assert result_bytes <= ITEM_LIMIT and state_bytes <= LIMIT + ENVELOPE
    assert result.status.value == "ok" and result.tls is not None and result.tls.verified
    state = DynamoStateStore(ddb, tables["StateTable"]).get_state("sans")
    assert state is not None and state.status is TargetStatus.UP
    assert state.last_result is not None
    assert len(json.dumps(state.last_result)) <= LIMIT
    assert R.left_out(tuple(state.last_result["tls"]["sans"])) > 0  # the cut is visible


def test_a_keyword_flood_that_refuses_starttls_on_aws_alerts_with_bounded_documents(
    run_probe: Callable[..., dict[str, Any]],
    ddb: Any,
    tables: dict[str, str],
    alerts: Alerts,
    hostile: Callable[[HostileServer], HostileServer],
) -> None:
    # GIVEN 200 distinct 60-byte EHLO keywords, then STARTTLS refused with 454
    flood = ehlo_keyword_flood(200, 60, starttls=True)
    server = hostile(HostileServer.scripted("127.0.0.1", replies={"EHLO": flood}))
    # WHEN the probe Lambda checks it (explicit TLS)
    out = run_probe(target_id="flood", host="127.0.0.1", port=server.port)
    # THEN it is down in starttls, and the alert, the state and the result are bounded
    assert (out["status"], out["error"], out["alert"]) == ("critical", "starttls", "down")
    result_bytes, state_bytes, result = stored(ddb, tables, "flood")
    assert result_bytes <= ITEM_LIMIT and state_bytes <= 2 * LIMIT + ENVELOPE
    assert result.error is not None and result.error.phase is not None
    assert result.error.phase.value == "starttls"
    (envelope,) = alerts.drain()
    assert len(envelope["Message"].encode()) <= LIMIT + ENVELOPE
    doc = json.loads(envelope["Message"])
    assert doc["result"]["error"]["kind"] == "starttls"
    assert len(json.dumps(doc["result"])) <= LIMIT
    assert R.left_out(tuple(doc["result"]["server"]["extensions"])) > 0  # the cut is visible


def test_the_copies_in_state_and_alerts_say_how_many_entries_they_left_out() -> None:
    # GIVEN a result whose extensions the result itself cut, with a count
    keywords = tuple(f"X{i:05d}" for i in range(200))
    result = ProbeResult("t1", SCHEDULED, Status.OK, server=ServerInfo("220 hi", keywords))
    assert R.left_out(result.server.extensions) == 200 - R.MAX_EXTENSIONS
    # WHEN the state and alert copy is made  THEN it still says how many are left out
    copy = tuple(stored_result(result)["server"]["extensions"])
    assert R.left_out(copy) == 200 - (len(copy) - 1)


def test_the_largest_result_there_can_be_fits_the_aws_stores(
    ddb: Any, tables: dict[str, str]
) -> None:
    # GIVEN the largest result there can be, and a state holding it twice (the last
    # result and a pending alert about it)
    result = largest_result().replace(target_id="big", started_at="2026-12-07T16:00:00.000Z")
    doc = stored_result(result)
    state = TargetState(
        "big",
        status=TargetStatus.DOWN,
        last_result=doc,
        pending_alert={"alert_id": "a1", "event": "down", "result": doc},
        version=1,
    )
    # WHEN the stores write them
    assert DynamoResultStore(ddb, tables["ResultsTable"]).add_result(result, scheduled_at=SCHEDULED)
    assert DynamoStateStore(ddb, tables["StateTable"]).save_state(state)
    # THEN the results item is one write unit and the state item two results at most
    result_bytes, state_bytes, back = stored(ddb, tables, "big")
    assert result_bytes <= ITEM_LIMIT
    assert state_bytes <= 2 * LIMIT + ENVELOPE
    assert len(json.dumps(doc)) <= LIMIT and len(json.dumps(back.to_dict())) <= LIMIT
    assert back.target_id == "big" and back.status is result.status
    assert R.RESULT_MAX_BYTES == LIMIT
