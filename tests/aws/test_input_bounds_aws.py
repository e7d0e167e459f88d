"""A target item typed straight into the DynamoDB table goes through the same bounds as
the CLI's input: a host the model refuses is a ``config`` result, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from conftest import REGION, Alerts, LambdaContext
from smtpwatch.adapters.dynamodb import DynamoResultStore, to_item
from smtpwatch.handlers import probe as probe_module


@pytest.fixture
def handler_env(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")
    probe_module._runtime.cache_clear()
    yield stack_env
    probe_module._runtime.cache_clear()


@pytest.mark.parametrize(
    "host", ["fe80::1%\x00", "fe80::1%\x1b[2J", "fe80::1%" + "x" * 4000, "[fe80::1%a\x07]"]
)
def test_a_table_item_with_a_bad_zone_id_is_a_config_result(
    handler_env: dict[str, str], tables: dict[str, str], alerts: Alerts, host: str
) -> None:
    # GIVEN an item put straight into the targets table whose host has a bad zone id
    ddb = boto3.client("dynamodb", region_name=REGION)
    item: dict[str, Any] = {"target_id": "zone", "host": host, "interval_s": 60}
    ddb.put_item(TableName=tables["TargetsTable"], Item=to_item(item))
    # WHEN the probe Lambda checks it
    out = probe_module.handler(
        {"target_id": "zone", "scheduled_at": "2026-11-25T15:00:00Z"}, LambdaContext()
    )
    # THEN the result is the target's configuration error naming the host, not a crash
    assert (out["status"], out["error"]) == ("critical", "config")
    stored = list(DynamoResultStore(ddb, tables["ResultsTable"]).iter_results("zone"))
    assert stored[0].error is not None and stored[0].error.kind.value == "config"
    assert stored[0].error.message.startswith("host: ")
    assert "\x00" not in stored[0].error.message and "\x1b" not in stored[0].error.message
