"""Table access shared by the DynamoDB stores: paged (parallel) Scans, conditional writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from smtpwatch.adapters.aws_clients import error_code
from smtpwatch.adapters.dynamodb.codec import from_item

__all__ = ["CONDITION_FAILED", "conditional", "scan", "scan_as"]

_T = TypeVar("_T")

CONDITION_FAILED = "ConditionalCheckFailedException"


def conditional(write: Callable[[], Any]) -> dict[str, Any] | None:
    """``write()``'s response (``{}`` for none), or None when its condition did not hold;
    any other error is raised."""
    try:
        response = write()
    except Exception as exc:
        if error_code(exc) == CONDITION_FAILED:
            return None
        raise
    return dict(response or {})


def scan(
    client: Any,
    table: str,
    *,
    segments: int = 1,
    consistent: bool = False,
    projection: tuple[str, ...] = (),
) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (decoded). ``segments`` > 1 scans in parallel threads —
    the dispatcher's 10,000 items in a fraction of the sequential time."""
    return scan_as(
        client, table, from_item, segments=segments, consistent=consistent, projection=projection
    )


def scan_as(
    client: Any,
    table: str,
    decode: Callable[[dict[str, Any]], _T],
    *,
    segments: int = 1,
    consistent: bool = False,
    projection: tuple[str, ...] = (),
) -> Iterator[_T]:
    """``scan`` with each wire item passed through ``decode`` (in the scan threads)."""

    def one(segment: int | None) -> list[_T]:
        out: list[_T] = []
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": consistent}
        if projection:  # fewer bytes on the wire and to decode (read units are the same)
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(projection)))
            kwargs["ExpressionAttributeNames"] = {f"#p{i}": n for i, n in enumerate(projection)}
        if segment is not None:
            kwargs.update(Segment=segment, TotalSegments=segments)
        while True:
            page = client.scan(**kwargs)
            out.extend(decode(i) for i in page.get("Items", ()))
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
