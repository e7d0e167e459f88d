"""TargetStore, StateStore and ResultStore on DynamoDB (the deployed stack's tables).

Tables (template.yaml): targets (HASH ``target_id``; the user's item, config only),
state (HASH ``target_id``; one state item per target, plus bookkeeping items whose ids
start with ``#`` — no target id can), results (HASH ``target_id``, RANGE ``ts``; TTL
attribute ``expires_at``).

Writes per check (cost, docs/design.md#scheduling-and-cost): a healthy check writes at
most one item, its result
(on AWS only once per ``PassingResultSeconds``: ``service.check``), and that write is
conditional on (target_id, ts) not existing — the redelivery dedupe.
State items are written only when the state machine changes them, conditional on the
``version`` read (optimistic concurrency: a racing writer loses, nothing is merged).

The low-level client with a small codec of our own is used instead of the resource
layer: it is measurably faster when the dispatcher reads 10,000 items per minute, and
floats (phase milliseconds) become Decimals without the resource layer's float ban.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from smtpwatch.adapters.aws_clients import error_code
from smtpwatch.adapters.result_codec import decode_item, encode_item
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import TargetState

_T = TypeVar("_T")

__all__ = [
    "DISPATCHER_ID",
    "DispatcherMark",
    "DynamoResultStore",
    "DynamoStateStore",
    "DynamoTargetStore",
    "EpisodeRecord",
    "TickCounts",
    "from_attr",
    "from_item",
    "is_bookkeeping_id",
    "to_attr",
    "to_item",
]

_MAX_BATCH_ATTEMPTS = 10  # ~0.05+0.1+…+2 s: about 8 s of backoff in all

DISPATCHER_ID = "#dispatcher"
TICK_PREFIX = "#tick#"
FAIL_MARK_PREFIX = "#fail#"  # one per (tick, failing target): the counter's dedupe
EPISODE_ID = "#episode"  # the current (or last) monitor-degraded episode
_TICK_TTL_S = 3_600  # tick counters only matter for the minutes after their tick

# DynamoDB numbers: 38 digits of precision; phase times are rounded to 0.1 ms anyway.
_CONDITION_FAILED = "ConditionalCheckFailedException"


def is_bookkeeping_id(target_id: str) -> bool:
    return target_id.startswith("#")


# --------------------------------------------------------------------------- codec


def to_attr(value: Any) -> dict[str, Any]:
    """Python value → DynamoDB AttributeValue (JSON-like values only)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        # repr() is the shortest exact text; DynamoDB rejects NaN/inf like JSON does.
        return {"N": repr(value)}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, set | frozenset):
        return {"SS": sorted(str(v) for v in value)}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def from_attr(av: dict[str, Any]) -> Any:
    """DynamoDB AttributeValue → Python value. Numbers stay ``Decimal`` (the target model
    accepts them, as in a stored item); ``plain()`` turns them into int/float for JSON."""
    ((kind, raw),) = av.items()
    if kind == "S":
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attr(v) for v in raw]
    if kind == "SS":
        return list(raw)
    if kind == "NS":
        return [Decimal(v) for v in raw]
    if kind == "B":
        return bytes(raw)
    if kind == "BS":
        return [bytes(v) for v in raw]
    raise TypeError(f"unknown DynamoDB type {kind}")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


def plain(value: Any) -> Any:
    """Decimals → int (when integral) or float, recursively: what ``from_dict``s expect."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _scan(
    client: Any,
    table: str,
    *,
    segments: int = 1,
    consistent: bool = False,
    projection: tuple[str, ...] = (),
) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (decoded). ``segments`` > 1 scans in parallel threads —
    the dispatcher's 10,000 items in a fraction of the sequential time."""
    return _scan_as(
        client, table, from_item, segments=segments, consistent=consistent, projection=projection
    )


def _scan_as(
    client: Any,
    table: str,
    decode: Callable[[dict[str, Any]], _T],
    *,
    segments: int = 1,
    consistent: bool = False,
    projection: tuple[str, ...] = (),
) -> Iterator[_T]:
    """``_scan`` with each wire item passed through ``decode`` (in the scan threads)."""

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


# --------------------------------------------------------------------------- targets


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
        return _scan(self._client, self._table, segments=self._segments)

    def iter_items_and_wire(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every item decoded and exactly as the Scan returned it (DynamoDB's typed
        form). The dispatcher puts the latter into the probe event so the probe does not
        read the item again; re-encoding the decoded item would not give it back
        (``SS`` would come back as ``L``)."""
        return _scan_as(
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
        delay = 0.05
        for _attempt in range(_MAX_BATCH_ATTEMPTS):
            resp = self._client.batch_write_item(RequestItems={self._table: requests})
            requests = resp.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return len(batch)
            time.sleep(delay)  # throttled: back off, then resend only what was left
            delay = min(delay * 2, 2.0)
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


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class DispatcherMark:
    """The dispatcher's bookkeeping item (``#dispatcher``): windows of ticks handled.

    ``done_until``: end of the last claimed window; ``claim_start``: its start;
    ``claim_done``: that window's invocations were all attempted; ``lease_until``: epoch
    seconds after which an unfinished claim counts as crashed (its window is redone);
    ``version``: optimistic concurrency counter."""

    done_until: str | None = None
    claim_start: str | None = None
    claim_done: bool = True
    lease_until: float = 0.0
    version: int = 0


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """The item ``#episode``: ``since`` the tick that began it, ``held`` target id → when
    its down alert was first held, ``released`` target ids handed out after the maximum
    hold, ``ended_at`` once the housekeeping ended it."""

    since: str
    held: dict[str, str]
    released: frozenset[str]
    ended_at: str | None

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class TickCounts:
    dispatched: int
    failures: int
    degraded_sent: bool


class DynamoStateStore:
    """State items (one per target) and the dispatcher's bookkeeping items."""

    def __init__(self, client: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    # --- StateStore protocol
    def get_state(self, target_id: str, *, consistent: bool = True) -> TargetState | None:
        """``consistent=False``: half the read units, for the probe's first read (its
        writes are conditional on the version, so a stale read cannot win)."""
        resp = self._client.get_item(
            TableName=self._table, Key={"target_id": {"S": target_id}}, ConsistentRead=consistent
        )
        item = resp.get("Item")
        if item is None:
            return None
        return TargetState.from_dict(plain(from_item(item)))

    def save_state(self, state: TargetState) -> bool:
        values = {k: v for k, v in state.to_dict().items() if v is not None}
        prev = state.version - 1
        if prev <= 0:
            # First save: no item yet, or the dispatcher's first-dispatch stub (no version).
            condition = "attribute_not_exists(target_id) OR attribute_not_exists(version)"
            names: dict[str, str] | None = None
            vals: dict[str, Any] | None = None
        else:
            condition = "#v = :prev"
            names = {"#v": "version"}
            vals = {":prev": {"N": str(prev)}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_item(values),
            "ConditionExpression": condition,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
            kwargs["ExpressionAttributeValues"] = vals
        try:
            self._client.put_item(**kwargs)
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def iter_states(self) -> Iterator[TargetState]:
        for raw in self.iter_raw():
            if not is_bookkeeping_id(str(raw.get("target_id", "#"))):
                yield TargetState.from_dict(plain(raw))

    def iter_raw(
        self, *, segments: int = 1, projection: tuple[str, ...] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every item, bookkeeping included, decoded but not interpreted; only the
        ``projection`` attributes when given."""
        return _scan(self._client, self._table, segments=segments, projection=projection)

    # --- dispatcher: first dispatch of a target never seen before
    def claim_first_dispatch(self, target_id: str, scheduled_at: str) -> bool:
        """Record that ``target_id`` was dispatched for the first time at ``scheduled_at``.
        False when any item exists already (another dispatcher run claimed it, or the
        probe wrote its state): then this run must not dispatch it."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "target_id": {"S": target_id},
                    "first_scheduled_at": {"S": scheduled_at},
                },
                ConditionExpression="attribute_not_exists(target_id)",
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def release_first_dispatch(self, target_id: str, scheduled_at: str) -> None:
        """Undo ``claim_first_dispatch`` after a failed invoke, so the next tick treats
        the target as new again (instead of waiting for its regular slot)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"target_id": {"S": target_id}},
                ConditionExpression="first_scheduled_at = :s AND attribute_not_exists(version)",
                ExpressionAttributeValues={":s": {"S": scheduled_at}},
            )
        except Exception as exc:
            if error_code(exc) != _CONDITION_FAILED:
                raise

    # --- dispatcher: tick windows
    def get_dispatcher_mark(self) -> DispatcherMark:
        resp = self._client.get_item(
            TableName=self._table, Key={"target_id": {"S": DISPATCHER_ID}}, ConsistentRead=True
        )
        item = resp.get("Item")
        if item is None:
            return DispatcherMark()
        d = plain(from_item(item))
        return DispatcherMark(
            done_until=d.get("done_until"),
            claim_start=d.get("claim_start"),
            claim_done=bool(d.get("claim_done", True)),
            lease_until=float(d.get("lease_until") or 0),
            version=int(d.get("version") or 0),
        )

    def claim_window(self, read: DispatcherMark, start: str, end: str, lease_s: float) -> bool:
        """Claim (start, end] if the bookkeeping item is still what ``read`` saw."""
        if read.version == 0:
            condition = "attribute_not_exists(target_id)"
            values: dict[str, Any] = {}
        else:
            condition = "#v = :v"
            values = {":v": {"N": str(read.version)}}
        values.update(
            {
                ":end": {"S": end},
                ":start": {"S": start},
                ":no": {"BOOL": False},
                ":lease": {"N": str(round(self._clock() + lease_s, 3))},
                ":nv": {"N": str(read.version + 1)},
            }
        )
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": DISPATCHER_ID}},
                UpdateExpression=(
                    "SET done_until = :end, claim_start = :start, claim_done = :no, "
                    "lease_until = :lease, #v = :nv"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def complete_window(self, start: str, end: str) -> bool:
        """Mark our claim done — unless a later run has claimed past it meanwhile."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": DISPATCHER_ID}},
                UpdateExpression="SET claim_done = :yes",
                ConditionExpression="done_until = :end AND claim_start = :start",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":end": {"S": end},
                    ":start": {"S": start},
                },
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    # --- monitor degraded (docs/design.md#monitor-degraded): one counter item per scheduled tick
    def record_dispatched(self, scheduled_at: str, count: int) -> None:
        """The dispatcher adds how many probes it invoked for ``scheduled_at``."""
        self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + scheduled_at}},
            UpdateExpression="ADD dispatched :n SET expires_at = :exp",
            ExpressionAttributeValues={
                ":n": {"N": str(count)},
                ":exp": {"N": str(int(self._clock()) + _TICK_TTL_S)},
            },
        )

    def count_tick_failure(self, scheduled_at: str, target_id: str) -> bool:
        """Count ``target_id``'s failed probe of the tick once, however often its event
        is delivered: a marker item ``#fail#<tick>#<target>`` (conditional put, gone by
        TTL with the tick) guards the ADD. False: already counted. One more write, for
        failing checks only. A crash between the two writes undercounts by one, which
        errs toward sending down alerts rather than holding them."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "target_id": {"S": f"{FAIL_MARK_PREFIX}{scheduled_at}#{target_id}"},
                    "expires_at": {"N": str(int(self._clock()) + _TICK_TTL_S)},
                },
                ConditionExpression="attribute_not_exists(target_id)",
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        self.add_tick_failure(scheduled_at)
        return True

    def add_tick_failure(self, scheduled_at: str) -> TickCounts:
        """Count one failed probe of the tick; returns the counts after it (atomic ADD)."""
        resp = self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + scheduled_at}},
            UpdateExpression="ADD failures :one SET expires_at = :exp",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":exp": {"N": str(int(self._clock()) + _TICK_TTL_S)},
            },
            ReturnValues="ALL_NEW",
        )
        d = plain(from_item(resp.get("Attributes", {})))
        return TickCounts(
            dispatched=int(d.get("dispatched") or 0),
            failures=int(d.get("failures") or 0),
            degraded_sent=bool(d.get("degraded_sent")),
        )

    def get_tick_counts(self, bucket: str) -> TickCounts:
        resp = self._client.get_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + bucket}},
            ConsistentRead=True,
        )
        d = plain(from_item(resp.get("Item") or {}))
        return TickCounts(
            dispatched=int(d.get("dispatched") or 0),
            failures=int(d.get("failures") or 0),
            degraded_sent=bool(d.get("degraded_sent")),
        )

    def release_degraded_alert(self, bucket: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + bucket}},
            UpdateExpression="REMOVE degraded_sent",
        )

    # --- the monitor-degraded episode: one item, every change conditional on its start
    def get_episode(self) -> EpisodeRecord | None:
        resp = self._client.get_item(
            TableName=self._table, Key={"target_id": {"S": EPISODE_ID}}, ConsistentRead=True
        )
        d = plain(from_item(resp.get("Item") or {}))
        if not d.get("since"):
            return None
        return EpisodeRecord(
            since=str(d["since"]),
            held={str(k): str(v) for k, v in (d.get("held") or {}).items()},
            released=frozenset(str(k) for k in (d.get("released") or {})),
            ended_at=str(d["ended_at"]) if d.get("ended_at") else None,
        )

    def open_episode(self, since: str) -> bool:
        """Begin an episode with the tick ``since`` unless one that began at or after it
        is still open. Replaces an ended one, or an open one that began earlier (left
        open when no housekeeping ran to end it). True: this call began it."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "target_id": {"S": EPISODE_ID},
                    "since": {"S": since},
                    "held": {"M": {}},
                    "released": {"M": {}},
                },
                ConditionExpression=(
                    "attribute_not_exists(since) OR attribute_exists(ended_at) OR since < :s"
                ),
                ExpressionAttributeValues={":s": {"S": since}},
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def hold_in_episode(self, since: str, target_id: str, at: str) -> str | None:
        """Record that the open episode ``since`` holds ``target_id``'s down alert; returns
        when it was first held (None: that episode is no longer the open one)."""
        try:
            resp = self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": EPISODE_ID}},
                UpdateExpression="SET held.#t = if_not_exists(held.#t, :at)",
                ConditionExpression="since = :s AND attribute_not_exists(ended_at)",
                ExpressionAttributeNames={"#t": target_id},
                ExpressionAttributeValues={":at": {"S": at}, ":s": {"S": since}},
                ReturnValues="UPDATED_NEW",
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return None
            raise
        held = plain(from_item(resp.get("Attributes") or {})).get("held") or {}
        return str(held.get(target_id) or at)

    def release_in_episode(self, since: str, target_id: str, at: str) -> bool:
        """True for exactly one caller: ``target_id``'s held alert is handed out."""
        return self._episode_update(
            since,
            "SET released.#t = :at",
            "attribute_not_exists(released.#t)",
            {"#t": target_id},
            at,
        )

    def end_episode(self, since: str, at: str) -> bool:
        """True for exactly one caller: the episode ``since`` is over."""
        return self._episode_update(
            since, "SET ended_at = :at", "attribute_not_exists(ended_at)", {}, at
        )

    def _episode_update(
        self, since: str, update: str, condition: str, names: dict[str, str], at: str
    ) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": EPISODE_ID}},
                UpdateExpression=update,
                ConditionExpression=f"since = :s AND {condition}",
                ExpressionAttributeValues={":at": {"S": at}, ":s": {"S": since}},
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def claim_degraded_alert(self, scheduled_at: str) -> bool:
        """True for exactly one caller per tick: it sends the monitor-degraded alert."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": TICK_PREFIX + scheduled_at}},
                UpdateExpression="SET degraded_sent = :yes",
                ConditionExpression="attribute_not_exists(degraded_sent)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True


# --------------------------------------------------------------------------- results


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
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(ts)",
            )
        except Exception as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

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
