"""The dispatcher's run with several locations, through relays: each location's due
probe events go in batches to that location's probe function (``{"relay": [...]}``),
which invokes itself once per event in its own region, so the signing CPU of 30,000
invokes is spread over many functions; a multi-location job's slot is opened first.
Before that, the expired open slots go in batches to the home probe function to be
decided (``{"decide": [...]}``). Why: docs/internals.md#the-dispatchers-run.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from smtpwatch.core import schedule
from smtpwatch.core.locations import MAX_LOCATIONS, OpenSlot
from smtpwatch.service.dispatch_plan import DispatchReport, Job
from smtpwatch.service.dispatch_ports import (
    SLOT_PREFIX,
    BatchSlotOpener,
    DeployedLocations,
    DispatchBookkeeping,
)

__all__ = [
    "BATCH_BYTES",
    "BATCH_EVENTS",
    "DECIDE_BATCH",
    "MAX_SWEEP",
    "SLOT_BATCH",
    "SLOT_PROJECTION",
    "batches",
    "fan_out",
    "open_slot_of_item",
    "open_slots_of",
    "record_location_ticks",
    "sweep",
]

BATCH_EVENTS = 100  # probe events per relay invoke
# Expired slots per decide invoke: a decision costs ~7.5 ms of CPU (bench/decision.py),
# so 10 keep one decide event near a second on a 128 MB function.
DECIDE_BATCH = 10
# An async invoke's payload is at most 256 KB; a batch stays under this many bytes.
BATCH_BYTES = 240_000
MAX_SWEEP = 10_000  # expired slots sent to be decided per tick, oldest first
SLOT_BATCH = 25  # open slots per BatchWriteItem (DynamoDB's limit)
# What the sweep needs of an open-slot item (added to the dispatcher's state projection).
SLOT_PROJECTION = ("for_target", "scheduled_at", "locations", "deadline", "correlation_id")
_MAX_LOGGED = 20

_log = logging.getLogger("smtpwatch.dispatch")


def fan_out(
    jobs: Sequence[Job],
    *,
    deployed: DeployedLocations,
    books: DispatchBookkeeping,
    wire: Mapping[str, Mapping[str, Any]],
    report: DispatchReport,
    workers: int,
    correlation_id: str | None,
    log: Any = _log,
) -> None:
    """Send every job's probe event to each of its locations' relays: a multi-location
    job's (with ``vote``) once its slot is open, a single-location job's as today's event
    to its one location (the home one when it names none). ``report``: counts, and
    ``invoked`` gets each job one of whose events a relay accepted (the tick's verdicts,
    which the degraded gate counts); ``failed`` counts the events of failed relays."""
    from smtpwatch.adapters.lambda_invoker import probe_payload

    failures = _Failures(log)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="relay") as pool:
        ready = _claim_new([j for j in jobs if j.new], pool, books, report, failures)
        multi = [j for j in jobs if j.votes and (not j.new or j in ready)]
        opened = _open_all(multi, deployed, pool, books, report, failures, correlation_id)
        events: dict[str, list[tuple[Job, bytes]]] = {name: [] for name in deployed.names}
        sent: list[Job] = []
        for job in jobs:
            if (job.new and job not in ready) or (job.votes and job not in opened):
                continue
            vote = None
            if job.votes:
                vote = {"locations": list(job.locations), "deadline": job.deadline}
            body = probe_payload(
                job.target_id, job.scheduled_at, wire.get(job.target_id), correlation_id, vote
            )
            for name in job.locations or (deployed.home,):
                events[name].append((job, body))
            sent.append(job)
        pending: list[tuple[str, list[tuple[Job, bytes]], Future[None]]] = []
        for name, items in events.items():
            invoker = deployed.invokers[name]
            for batch in batches(items, key=lambda item: item[1]):
                payload = _batch("relay", [body for _, body in batch], correlation_id)
                pending.append((name, batch, pool.submit(invoker.invoke_raw, payload)))
        accepted: Counter[Job] = Counter()
        for name, batch, fut in pending:
            try:
                fut.result()
            except Exception as exc:
                report.failed += len(batch)
                failures.log(batch[0][0], name, exc)
                continue
            report.relays += 1
            report.invokes += len(batch)
            for job, _ in batch:
                accepted[job] += 1
                if job.votes:
                    key = (job.scheduled_at, name)
                    report.location_invokes[key] = report.location_invokes.get(key, 0) + 1
    for job in sent:
        if accepted[job]:
            report.dispatched += 1
            report.invoked.append((job.target_id, job.scheduled_at))
        elif job.new:  # nothing reached a location: dispatched as new again next tick
            _release(books, job)


def batches(items: Sequence[Any], *, key: Any = None, limit: int = BATCH_EVENTS) -> list[list[Any]]:
    """``items`` cut into runs of at most ``limit`` whose ``key(item)`` bytes add up to
    at most ``BATCH_BYTES`` (one item over it travels alone)."""
    out: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for item in items:
        n = len(key(item)) + 1 if key is not None else 1
        if current and (len(current) >= limit or size + n > BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        out.append(current)
    return out


def _batch(key: str, items: Sequence[bytes], correlation_id: str | None) -> bytes:
    """``{key: [item, ...], "correlation_id": ...}``, the items (JSON objects) as they are:
    a relay's probe events exactly as a direct invoke would send each."""
    head = b'{"' + key.encode() + b'":[' + b",".join(items) + b"]"
    if correlation_id:
        head += b',"correlation_id":' + json.dumps(correlation_id).encode()
    return head + b"}"


def _claim_new(
    jobs: list[Job],
    pool: ThreadPoolExecutor,
    books: DispatchBookkeeping,
    report: DispatchReport,
    failures: _Failures,
) -> set[Job]:
    """The new targets' jobs whose first dispatch this run claimed (one another run
    claimed is counted so; one whose claim failed, as failed)."""
    claims = [
        (job, pool.submit(books.claim_first_dispatch, job.target_id, job.scheduled_at))
        for job in jobs
    ]
    dropped: set[Job] = set()
    for job, fut in claims:
        try:
            won = fut.result()
        except Exception as exc:
            dropped.add(job)
            report.failed += 1
            failures.log(job, "claim", exc)
            continue
        if not won:
            dropped.add(job)
            report.claimed_elsewhere += 1
            report.due -= 1
    return {job for job in jobs if job not in dropped}


def _open_all(
    jobs: list[Job],
    deployed: DeployedLocations,
    pool: ThreadPoolExecutor,
    books: DispatchBookkeeping,
    report: DispatchReport,
    failures: _Failures,
    correlation_id: str | None,
) -> set[Job]:
    """Open every job's slot (batched when the store can); the jobs whose slot is open."""
    slots = {job: _slot_of(job, correlation_id) for job in jobs}
    batches = [jobs[i : i + SLOT_BATCH] for i in range(0, len(jobs), SLOT_BATCH)]
    futures = [
        (batch, pool.submit(open_slots_of, deployed.slots, [slots[j] for j in batch]))
        for batch in batches
    ]
    opened: set[Job] = set()
    for batch, fut in futures:
        try:
            fut.result()
        except Exception as exc:
            for job in batch:
                report.failed += 1
                failures.log(job, "slot", exc)
                if job.new:
                    _release(books, job)
            continue
        opened.update(batch)
    report.slots_opened += len(opened)
    return opened


def open_slots_of(store: Any, slots: Sequence[OpenSlot]) -> None:
    """``store.open_slots`` when it has one (one request per batch), else one by one."""
    if isinstance(store, BatchSlotOpener):
        store.open_slots(slots)
        return
    for slot in slots:
        store.open_slot(slot)


def _slot_of(job: Job, correlation_id: str | None) -> OpenSlot:
    assert job.deadline is not None  # every multi-location job has one (dispatch_plan)
    return OpenSlot(job.target_id, job.scheduled_at, job.locations, job.deadline, correlation_id)


def _release(books: DispatchBookkeeping, job: Job) -> None:
    with contextlib.suppress(Exception):
        books.release_first_dispatch(job.target_id, job.scheduled_at)


_FAILED = {"slot": "could not open the slot", "claim": "could not claim the first dispatch"}


class _Failures:
    """One log line per failed invoke or slot, up to ``_MAX_LOGGED``; the rest counted."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._logged = 0

    def log(self, job: Job, location: str, exc: BaseException) -> None:
        if self._logged >= _MAX_LOGGED:
            return
        self._logged += 1
        self._log.error(
            _FAILED.get(location, "probe invoke failed"),
            extra={
                "target_id": job.target_id,
                "scheduled_at": job.scheduled_at,
                "location": location,
                "error": f"{type(exc).__name__}: {str(exc)[:300]}",
            },
        )


# ---------------------------------------------------------------------- the sweep
def open_slot_of_item(item: Mapping[str, Any]) -> OpenSlot | None:
    """The open slot a scanned ``#slot#`` item describes, or None when it is unusable."""
    key, target_id = item.get("target_id"), item.get("for_target")
    scheduled_at, deadline = item.get("scheduled_at"), item.get("deadline")
    locations, cid = item.get("locations"), item.get("correlation_id")
    if not (isinstance(key, str) and key.startswith(SLOT_PREFIX)):
        return None
    if not all(isinstance(v, str) and v for v in (target_id, scheduled_at, deadline)):
        return None
    if not isinstance(locations, list) or not 0 < len(locations) <= MAX_LOCATIONS:
        return None
    if key != f"{SLOT_PREFIX}{target_id}#{scheduled_at}":
        return None  # not the slot its key names: no dispatcher wrote it
    from smtpwatch.core.coerce import to_text

    try:  # what the probe's decide event takes (parse_location), or it refuses the event
        if any(to_text("locations", name, 64) != name for name in locations):
            return None
        if len(set(locations)) != len(locations):
            return None
        schedule.parse_ts(str(scheduled_at)), schedule.parse_ts(str(deadline))
    except (ValueError, IndexError, TypeError):
        return None
    return OpenSlot(
        str(target_id),
        str(scheduled_at),
        tuple(locations),
        str(deadline),
        cid if isinstance(cid, str) and cid else None,
    )


def sweep(
    slot_items: Iterable[Mapping[str, Any]],
    tick: datetime,
    *,
    deployed: DeployedLocations,
    report: DispatchReport,
    correlation_id: str | None,
    workers: int,
    log: Any = _log,
) -> None:
    """Send the open slots whose deadline is at or before ``tick`` to the home probe
    function to be decided (``{"decide": [slot, ...]}``), the oldest ``MAX_SWEEP`` of
    them; the probe claims each (a slot a vote claimed meanwhile is left to it)."""
    due: list[tuple[datetime, OpenSlot]] = []
    unusable: list[str] = []
    for item in slot_items:
        if not str(item.get("target_id", "")).startswith(SLOT_PREFIX):
            continue
        slot = open_slot_of_item(item)
        if slot is None:
            unusable.append(str(item.get("target_id"))[:200])
            continue
        deadline = schedule.parse_ts(slot.deadline)
        if deadline <= tick:
            due.append((deadline, slot))
    if unusable:  # read every tick until their TTL: one line a tick, not one each
        log.warning(
            "%d unusable open-slot items: left to expire",
            len(unusable),
            extra={"ids": unusable[:_MAX_LOGGED]},
        )
    if not due:
        return
    due.sort(key=lambda pair: (pair[0], pair[1].target_id))
    now, later = due[:MAX_SWEEP], due[MAX_SWEEP:]
    report.slots_left = len(later)
    if later:
        log.warning(
            "more expired slots than one tick sends: the rest next tick",
            extra={"sent_now": len(now), "left": len(later)},
        )
    entries = [
        json.dumps(
            {
                "target_id": slot.target_id,
                "scheduled_at": slot.scheduled_at,
                "locations": list(slot.locations),
                "deadline": slot.deadline,
            },
            separators=(",", ":"),
        ).encode()
        for _, slot in now
    ]
    cut = batches(entries, key=lambda entry: entry, limit=DECIDE_BATCH)
    invoker = deployed.invokers[deployed.home]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(cut)))) as pool:
        futures = [
            (batch, pool.submit(invoker.invoke_raw, _batch("decide", batch, correlation_id)))
            for batch in cut
        ]
        for batch, fut in futures:
            try:
                fut.result()
            except Exception as exc:  # the slots stay open: the next tick sends them again
                report.failed += len(batch)
                log.error(
                    "could not send expired slots to be decided",
                    extra={"slots": len(batch), "error": f"{type(exc).__name__}: {exc!s:.300}"},
                )
                continue
            report.slots_expired += len(batch)


def record_location_ticks(
    deployed: DeployedLocations, report: DispatchReport, tick: datetime, log: Any = _log
) -> None:
    """Count the slots each location was sent per tick, and judge the tick before this
    one (its slots are decided by now, but for the slowest re-checks)."""
    from smtpwatch.service.gate import previous_bucket, tick_bucket

    if deployed.health is None:
        return
    per_bucket: dict[str, Counter[str]] = {}
    for (scheduled_at, location), n in report.location_invokes.items():
        per_bucket.setdefault(tick_bucket(scheduled_at), Counter())[location] += n
    try:
        for bucket, counts in per_bucket.items():
            deployed.health.record_dispatched(bucket, counts)
        current = tick_bucket(schedule.format_ts(tick))
        deployed.health.settle(previous_bucket(current), deployed.names)
    except Exception as exc:  # the votes still flip silent locations; not "failing"
        log.warning("location health bookkeeping failed", extra={"error": repr(exc)})
