"""The dispatcher's run with several locations: the due jobs fanned out to one invoke
pool per location (a slot opened first for a multi-location job), and the sweep that
decides the open slots whose deadline passed. Why: docs/internals.md#the-dispatchers-run.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "MAX_SWEEP",
    "SLOT_BATCH",
    "SLOT_PROJECTION",
    "after_fan_out",
    "fan_out",
    "open_slots_of",
    "sweep",
]

MAX_SWEEP = 1000  # slots decided per tick, oldest deadline first; the rest next tick
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
    """Invoke every job's locations, each location from its own pool: a single-location
    job as today (its location's function, today's event), a multi-location job once its
    slot is open (``vote`` in each event). ``report``: counts, and ``invoked`` gets each
    dispatched job once (the tick's verdicts, which the degraded gate counts)."""
    pools = {
        name: ThreadPoolExecutor(
            max_workers=max(1, deployed.workers.get(name, workers)),
            thread_name_prefix=f"invoke-{name}",
        )
        for name in deployed.names
    }
    home = pools[deployed.home]
    failures = _Failures(log)
    try:
        multi = _claim_new([j for j in jobs if j.votes], home, books, report, failures)
        opened = _open_all(multi, deployed, home, books, report, failures, correlation_id)
        pending: list[tuple[Job, list[Future[str]]]] = []
        for job in jobs:
            if job.votes:
                if job in opened:
                    vote = {"locations": list(job.locations), "deadline": job.deadline}
                    futures = [
                        pools[name].submit(_invoke, deployed, name, job, wire, vote)
                        for name in job.locations
                    ]
                    pending.append((job, futures))
                continue
            name = job.locations[0] if job.locations else deployed.home
            pending.append((job, [pools[name].submit(_single, deployed, name, job, wire, books)]))
        for job, futures in pending:
            accepted = 0
            for name, fut in zip(job.locations or (deployed.home,), futures, strict=False):
                try:
                    outcome = fut.result()
                except Exception as exc:
                    report.failed += 1
                    failures.log(job, name, exc)
                    continue
                if outcome == "claimed":
                    report.claimed_elsewhere += 1
                    report.due -= 1
                    break
                accepted += 1
                if job.votes:
                    key = (job.scheduled_at, name)
                    report.location_invokes[key] = report.location_invokes.get(key, 0) + 1
            report.invokes += accepted
            if accepted:
                report.dispatched += 1
                report.invoked.append((job.target_id, job.scheduled_at))
            elif job.votes and job.new:  # nothing reached a location: new again next tick
                _release(books, job)
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True)


def _single(
    deployed: DeployedLocations,
    name: str,
    job: Job,
    wire: Mapping[str, Mapping[str, Any]],
    books: DispatchBookkeeping,
) -> str:
    """Today's path, from ``name``'s function."""
    if job.new and not books.claim_first_dispatch(job.target_id, job.scheduled_at):
        return "claimed"
    try:
        deployed.invokers[name].invoke_with_target(
            job.target_id, job.scheduled_at, wire.get(job.target_id)
        )
    except Exception:
        if job.new:
            _release(books, job)
        raise
    return "ok"


def _invoke(
    deployed: DeployedLocations,
    name: str,
    job: Job,
    wire: Mapping[str, Mapping[str, Any]],
    vote: Mapping[str, Any],
) -> str:
    deployed.invokers[name].invoke_with_target(
        job.target_id, job.scheduled_at, wire.get(job.target_id), vote=vote
    )
    return "ok"


def _claim_new(
    jobs: list[Job],
    pool: ThreadPoolExecutor,
    books: DispatchBookkeeping,
    report: DispatchReport,
    failures: _Failures,
) -> list[Job]:
    """The multi-location jobs left once each new target's first dispatch is claimed
    (one another run claimed is counted so; one whose claim failed, as failed)."""
    claims = [
        (job, pool.submit(books.claim_first_dispatch, job.target_id, job.scheduled_at))
        for job in jobs
        if job.new
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
    return [job for job in jobs if job not in dropped]


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
    if not all(isinstance(name, str) and name for name in locations):
        return None
    try:
        schedule.parse_ts(str(deadline))
    except (ValueError, IndexError):
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
    targets: Callable[[str], Mapping[str, Any] | None],
    tick: datetime,
    *,
    decide: Callable[[OpenSlot, Mapping[str, Any] | None], bool],
    report: DispatchReport,
    workers: int,
    log: Any = _log,
) -> None:
    """Decide the open slots whose deadline is at or before ``tick``: the oldest
    ``MAX_SWEEP`` of them, from a pool (each a claim, a query and the verdict's writes);
    a slot a probe claimed meanwhile is left to it (``decide`` says False)."""
    due: list[tuple[datetime, OpenSlot]] = []
    for item in slot_items:
        slot = open_slot_of_item(item)
        if slot is None:
            log.warning(
                "unusable open-slot item: left to expire", extra={"id": item.get("target_id")}
            )
            continue
        deadline = schedule.parse_ts(slot.deadline)
        if deadline <= tick:
            due.append((deadline, slot))
    if not due:
        return
    due.sort(key=lambda pair: (pair[0], pair[1].target_id))
    now, later = due[:MAX_SWEEP], due[MAX_SWEEP:]
    report.slots_left = len(later)
    if later:
        log.warning(
            "more expired slots than one tick decides: the rest next tick",
            extra={"decided_now": len(now), "left": len(later)},
        )
    failed = 0
    with ThreadPoolExecutor(max_workers=min(workers, len(now)), thread_name_prefix="sweep") as pool:
        futures = [(slot, pool.submit(decide, slot, targets(slot.target_id))) for _, slot in now]
        for slot, fut in futures:
            try:
                decided = fut.result()
            except Exception as exc:  # the slot stays open: the next tick tries again
                failed += 1
                if failed <= _MAX_LOGGED:
                    log.error(
                        "could not decide an expired slot",
                        extra={
                            "target_id": slot.target_id,
                            "scheduled_at": slot.scheduled_at,
                            "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                        },
                    )
                continue
            if decided:
                report.slots_decided += 1


# ---------------------------------------------------------------------- after the invokes
def after_fan_out(
    deployed: DeployedLocations,
    state_items: Iterable[Mapping[str, Any]],
    items: Iterable[Mapping[str, Any]],
    tick: datetime,
    report: DispatchReport,
    workers: int,
    log: Any = _log,
) -> None:
    """The sweep of the expired slots the state scan returned, then the locations'
    per-tick health: neither stops the run (the slots stay open for the next tick)."""
    if deployed.decide is not None:
        slots = [
            s
            for s in state_items
            if isinstance(s.get("target_id"), str) and s["target_id"].startswith(SLOT_PREFIX)
        ]
        by_id = {str(item.get("target_id")): item for item in items}
        try:
            if slots:
                sweep(
                    slots,
                    by_id.get,
                    tick,
                    decide=deployed.decide,
                    report=report,
                    workers=workers,
                    log=log,
                )
        except Exception as exc:
            log.error("the sweep of expired slots failed", extra={"error": repr(exc)})
    if deployed.health is not None:
        _location_ticks(deployed, report, tick, log)


def _location_ticks(
    deployed: DeployedLocations, report: DispatchReport, tick: datetime, log: Any
) -> None:
    """Count the slots each location was sent per tick, and judge the tick before this
    one (its slots are decided by now, but for the slowest re-checks)."""
    from smtpwatch.service.gate import previous_bucket, tick_bucket

    assert deployed.health is not None
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
