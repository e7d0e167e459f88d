"""TargetStore on DynamoDB: the user's target items, exactly as stored (Decimals and all)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from smtpwatch.adapters.dynamodb.codec import from_item, to_item
from smtpwatch.adapters.dynamodb.table import scan, scan_as
from smtpwatch.core.retry import RetryPolicy, attempts

__all__ = ["DynamoTargetStore"]

_MAX_BATCH_ATTEMPTS = 10
# Waits drawn from [0, 0.05 s * 2**n], capped at 2 s: at most 9.15 s in all.
BATCH_RETRY = RetryPolicy(_MAX_BATCH_ATTEMPTS, base_s=0.05, cap_s=2.0, deadline_s=30.0)


class DynamoTargetStore:
    """The user's target items, exactly as stored (Decimals and all)."""

    def __init__(self, client: Any, table: str, *, scan_segments: int = 1) -> None:
        self._client = client
        self._table = table
        self._segments = scan_segments

    def get_item(self, target_id: str) -> dict[str, Any] | None:
        resp = self._client.get_item(TableName=self._table, Key={"target_id": {"S": target_id}})
        item = resp.get("Item")
        return None if item is None else from_item(item)

    def iter_items(self) -> Iterator[dict[str, Any]]:
        return scan(self._client, self._table, segments=self._segments)

    def iter_items_and_wire(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every item decoded and exactly as the Scan returned it (DynamoDB's typed
        form). The dispatcher puts the latter into the probe event so the probe does not
        read the item again; re-encoding the decoded item would not give it back
        (``SS`` would come back as ``L``)."""
        return scan_as(
            self._client, self._table, lambda i: (from_item(i), i), segments=self._segments
        )

    def put_items(self, items: Iterable[dict[str, Any]]) -> int:
        batch: list[dict[str, Any]] = []
        count = 0
        for item in items:
            batch.append({"PutRequest": {"Item": to_item(item)}})
            if len(batch) == 25:
                count += self._write_batch(batch)
                batch = []
        if batch:
            count += self._write_batch(batch)
        return count

    def _write_batch(self, batch: list[dict[str, Any]]) -> int:
        requests = batch
        # Throttled: back off, then resend only what was left.
        for _attempt in attempts(BATCH_RETRY, sleep=time.sleep):
            resp = self._client.batch_write_item(RequestItems={self._table: requests})
            requests = resp.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return len(batch)
        # A table throttled for this long is not going to take the rest now: say so
        # rather than spin (callers treat it like any other store failure).
        raise RuntimeError(
            f"DynamoDB {self._table}: {len(requests)} of {len(batch)} items still "
            f"unprocessed after {_MAX_BATCH_ATTEMPTS} attempts"
        )

    def delete_item(self, target_id: str) -> bool:
        resp = self._client.delete_item(
            TableName=self._table, Key={"target_id": {"S": target_id}}, ReturnValues="ALL_OLD"
        )
        return bool(resp.get("Attributes"))
