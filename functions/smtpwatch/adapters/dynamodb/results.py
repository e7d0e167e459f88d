"""ResultStore on DynamoDB: one item per check, conditional on its slot (redelivery dedupe)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from smtpwatch.adapters.dynamodb.table import conditional
from smtpwatch.adapters.result_codec import decode_item, encode_item
from smtpwatch.core.result import ProbeResult

__all__ = ["DynamoResultStore"]


class DynamoResultStore:
    """Probe results, one item per check in ``adapters.result_codec``'s format (the full
    result compressed, a few plain attributes; at most 1 KB = one write unit)."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        retention_s: int = 30 * 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._retention_s = retention_s
        self._clock = clock

    @staticmethod
    def encode(result: ProbeResult, *, ts: str = "", expires_at: int = 0) -> dict[str, Any]:
        return encode_item(result, ts=ts or result.started_at, expires_at=expires_at)

    def add_result(self, result: ProbeResult, *, scheduled_at: str | None = None) -> bool:
        ts = scheduled_at or result.started_at
        item = encode_item(result, ts=ts, expires_at=int(self._clock()) + self._retention_s)
        put = conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(ts)",
            )
        )
        return put is not None

    def iter_results(self, target_id: str, *, since: str | None = None) -> Iterator[ProbeResult]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ScanIndexForward": True,
            "KeyConditionExpression": "target_id = :t",
            "ExpressionAttributeValues": {":t": {"S": target_id}},
        }
        if since:
            kwargs["KeyConditionExpression"] = "target_id = :t AND ts >= :s"
            kwargs["ExpressionAttributeValues"][":s"] = {"S": since}
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", ()):
                result = decode_item(item)
                if result is not None:
                    yield result
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def latest(self, target_id: str) -> ProbeResult | None:
        resp = self._client.query(
            TableName=self._table,
            KeyConditionExpression="target_id = :t",
            ExpressionAttributeValues={":t": {"S": target_id}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = resp.get("Items") or []
        if not items:
            return None
        return decode_item(items[0])
