"""The dispatcher's Scan of the targets table, keeping each item's wire form.

``DynamoTargetStore.iter_items`` decodes every item (numbers to ``Decimal``, ``SS`` to a
list...); the dispatcher needs the decoded item to plan and the item exactly as
DynamoDB sent it to put into the probe event (``adapters.lambda_invoker.probe_payload``),
so that the probe does not read it again (issue 3's cost goal). Re-encoding the decoded
item would not give it back (``SS`` would come back as ``L``), hence this Scan that
returns the low-level client's items untouched. The same Scan, the same read units: the
dispatcher's role stays Scan-only on the targets table.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from smtpwatch.adapters.dynamodb import DynamoTargetStore, from_item

__all__ = ["WireTargetStore"]


class WireTargetStore(DynamoTargetStore):
    """``DynamoTargetStore`` plus ``iter_items_and_wire``: every item decoded and as the
    Scan returned it."""

    def __init__(self, client: Any, table: str, *, scan_segments: int = 1) -> None:
        super().__init__(client, table, scan_segments=scan_segments)
        self._wire_client = client
        self._wire_table = table
        self._wire_segments = max(1, scan_segments)

    def iter_items_and_wire(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every item as (``iter_items``' decoded dict, DynamoDB's typed form:
        ``{"host": {"S": ...}}``). Segments > 1 scan in parallel threads, each decoding
        its pages while the others wait on the network, as ``iter_items`` does."""
        segments = self._wire_segments

        def one(segment: int | None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
            out: list[tuple[dict[str, Any], dict[str, Any]]] = []
            kwargs: dict[str, Any] = {"TableName": self._wire_table}
            if segment is not None:
                kwargs.update(Segment=segment, TotalSegments=segments)
            while True:
                page = self._wire_client.scan(**kwargs)
                out.extend((from_item(i), i) for i in page.get("Items", ()))
                last = page.get("LastEvaluatedKey")
                if not last:
                    return out
                kwargs["ExclusiveStartKey"] = last

        if segments <= 1:
            yield from one(None)
            return
        with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
            for chunk in pool.map(one, range(segments)):
                yield from chunk
