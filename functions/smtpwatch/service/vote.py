"""A slot checked from several locations: each location's vote (``cast_vote``: probe,
its own re-check, store the vote) and the one decision per slot — by the location
whose vote completes it, or by the dispatcher's sweep past the slot's deadline
(``decide_slot``) — that turns the votes into a verdict (``core.locations.verdict``)
and applies it as a single check applies its result (``service.check.apply_result``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from smtpwatch.core.kinds import Status, WarningKind
from smtpwatch.core.locations import MAX_LOCATIONS, OpenSlot, verdict
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import parse_ts
from smtpwatch.core.state import Alert, TargetState
from smtpwatch.ports import VoteStore
from smtpwatch.service.check import (
    CheckDeps,
    CheckOutcome,
    apply_result,
    probe_and_recheck,
    skip_reason,
)

if TYPE_CHECKING:
    from smtpwatch.core.target import Target
    from smtpwatch.service.location_health import LocationWatch

__all__ = ["VoteOutcome", "cast_vote", "decide_slot", "decide_votes"]

log = logging.getLogger("smtpwatch.vote")

_T = TypeVar("_T")
_TICK = timedelta(minutes=1)  # the dispatcher's shortest tick (EventBridge's minimum rate)


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    target_id: str
    scheduled_at: str
    location: str
    vote: ProbeResult | None = None  # this location's vote (None: skipped before probing)
    first_result: ProbeResult | None = None  # before the location's re-check
    rechecked: bool = False
    stored: bool = False  # this call stored the vote (False: redelivered, or skipped)
    voted: tuple[str, ...] = ()  # the locations whose votes this call read
    decision: CheckOutcome | None = None  # this call claimed the slot and decided it
    skipped: str | None = None  # "redelivered" | "stale" | "disabled" | "not expected"
    alerts: tuple[Alert, ...] = ()  # location alerts this call sent


def cast_vote(
    target: Target,
    *,
    scheduled_at: str,
    expected: Sequence[str],
    deadline: str,
    deps: CheckDeps,
    votes: VoteStore,
    location: str,
    watch: LocationWatch | None = None,
) -> VoteOutcome:
    """``location``'s vote for the slot ``scheduled_at`` of ``target``, whose votes are
    awaited from ``expected`` until ``deadline``. Skips a slot the target's state has
    already taken (or a newer one) before probing; probes and re-checks (by the
    verdict state's threshold); stores the vote — a vote already there means a
    redelivered event, which stops here. Then reads the slot's votes: when every
    expected location has voted it claims the slot, and the one caller whose claim
    succeeds decides it (``decide_votes``); a slot still missing votes is left to the
    sweep (``decide_slot``), a vote past ``deadline`` is logged. Store errors propagate
    (the invocation fails); nothing else raises."""
    tid = target.target_id
    names = _expected(expected)
    if location not in names:
        log.warning("vote of %r not expected for the slot: dropped", location[:64])
        return VoteOutcome(tid, scheduled_at, location, skipped="not expected")
    state = deps.states.get_state(tid) or TargetState(tid)
    skip = skip_reason(target, state, scheduled_at)
    if skip:
        log.info("vote skipped: %s", skip, extra={"target_id": tid, "scheduled_at": scheduled_at})
        return VoteOutcome(tid, scheduled_at, location, skipped=skip)
    probed = probe_and_recheck(target, state, deps)
    vote = probed.result.replace(location=location)
    first = probed.first.replace(location=location)
    if not votes.put_vote(tid, scheduled_at, vote):
        log.info("vote exists: redelivered", extra={"target_id": tid, "location": location})
        return VoteOutcome(
            tid, scheduled_at, location, vote, first, probed.rechecked, skipped="redelivered"
        )
    alerts: list[Alert] = []
    if watch is not None:
        alerts.extend(_quietly(lambda: _one(watch.vote_seen(location, scheduled_at))))
    if _past(deadline, deps.now()):
        log.warning(
            "late vote: the sweep may decide the slot without it",
            extra={"target_id": tid, "scheduled_at": scheduled_at, "location": location},
        )
    found = votes.votes(tid, scheduled_at)
    decision = None
    # Only a complete slot is a vote's to decide: a deadline counted from the slot can
    # pass before the locations are even invoked; an incomplete slot is the sweep's.
    if all(name in found for name in names) and votes.claim(tid, scheduled_at):
        newer = _decided_after(votes, tid, scheduled_at, deps.now())
        decision, more = decide_votes(
            target, scheduled_at, names, found, deps=deps, watch=watch, overtaken_by=newer
        )
        alerts.extend(more)
    return VoteOutcome(
        tid,
        scheduled_at,
        location,
        vote,
        first,
        probed.rechecked,
        stored=True,
        voted=tuple(name for name in names if name in found),
        decision=decision,
        alerts=tuple(alerts),
    )


def decide_slot(
    target: Target,
    slot: OpenSlot,
    deps: CheckDeps,
    votes: VoteStore,
    watch: LocationWatch | None = None,
) -> CheckOutcome | None:
    """The sweep's decision of an open slot past its deadline: claim it (None when
    another caller did: it decides), read its votes (a silent location is no vote)
    and decide. A newer slot of the target already decided (a passing verdict writes no
    state, so the state may not show it) makes this verdict history only. Store errors
    propagate."""
    if not votes.claim(slot.target_id, slot.scheduled_at):
        return None
    found = votes.votes(slot.target_id, slot.scheduled_at)
    newer = votes.decided_after(slot.target_id, slot.scheduled_at)
    return decide_votes(
        target,
        slot.scheduled_at,
        _expected(slot.locations),
        found,
        deps=deps,
        watch=watch,
        overtaken_by=newer,
    )[0]


def decide_votes(
    target: Target,
    scheduled_at: str,
    expected: Sequence[str],
    found: Mapping[str, ProbeResult],
    *,
    deps: CheckDeps,
    watch: LocationWatch | None = None,
    overtaken_by: str | None = None,
) -> tuple[CheckOutcome, list[Alert]]:
    """The claimed slot's verdict, applied (``apply_result``: stored under the slot, the
    gate, the decision, the state, the alert). A partial failure of locations all
    marked failing is not alerted, whatever ``alert_on_partial`` says. Then the
    location health learns of the slot (silent ones, failing votes). ``overtaken_by``
    (a newer slot already decided): the verdict is stored in history only."""
    quorum, on_partial = target.quorum, target.alert_on_partial
    result = verdict(
        target.target_id,
        scheduled_at,
        expected,
        found,
        quorum=quorum,
        alert_on_partial=on_partial,
    )
    failing = frozenset(v.location for v in result.locations if v.failed)
    partial = failing and result.status is not Status.CRITICAL
    if partial and on_partial and watch is not None:
        known = _quietly(lambda: [watch.failing(failing)])
        # A partial warning already told stays until the location passes: dropping it
        # would send a "recovered" per target of a location that just turned failing.
        if known and known[0] == failing and not _told_partial(target, deps):
            result = verdict(
                target.target_id,
                scheduled_at,
                expected,
                found,
                quorum=quorum,
                alert_on_partial=False,
            )
    if overtaken_by is not None:
        return _history_only(target, result, scheduled_at, deps, overtaken_by), []
    outcome = apply_result(target, result, scheduled_at=scheduled_at, deps=deps)
    alerts: list[Alert] = []
    if watch is not None and outcome.skipped is None:
        alerts = _quietly(lambda: watch.slot_decided(result, scheduled_at))
    log.info(
        "slot decided: %s",
        result.status.value,
        extra={"target_id": target.target_id, "scheduled_at": scheduled_at},
    )
    return outcome, alerts


# ---- internals -----------------------------------------------------------------------


def _expected(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(n) for n in names))[:MAX_LOCATIONS]


def _history_only(
    target: Target, result: ProbeResult, scheduled_at: str, deps: CheckDeps, newer: str
) -> CheckOutcome:
    """A late verdict after a newer slot's: kept in history; no state, gate or alert."""
    tid = target.target_id
    state = deps.states.get_state(tid) or TargetState(tid)
    skip = skip_reason(target, state, scheduled_at)
    if skip:  # the state shows the newer slot itself: as ``apply_result`` skips it
        return CheckOutcome(tid, scheduled_at, state, skipped=skip, reason=skip)
    stored = deps.results.add_result(result, scheduled_at=scheduled_at)
    log.warning(
        "slot overtaken: %s was decided first; verdict %s kept in history only",
        newer,
        result.status.value,
        extra={"target_id": tid, "scheduled_at": scheduled_at},
    )
    return CheckOutcome(
        tid,
        scheduled_at,
        state,
        result=result,
        skipped="overtaken",
        reason=f"overtaken by {newer}",
        result_written=stored,
    )


def _decided_after(votes: VoteStore, tid: str, scheduled_at: str, now: datetime) -> str | None:
    """A newer slot of the target already decided, asked of the store only when one can
    exist: a newer slot is dispatched at a later tick than this one's (a tick at or after
    this slot), so it is decided a minute after this slot at the earliest."""
    try:
        if now < parse_ts(scheduled_at) + _TICK:
            return None
    except ValueError:
        return None
    return votes.decided_after(tid, scheduled_at)


def _told_partial(target: Target, deps: CheckDeps) -> bool:
    """Were operators told of a partial failure of ``target`` (its warning stands)?"""
    state = deps.states.get_state(target.target_id)
    return state is not None and WarningKind.PARTIAL_FAILURE.value in state.warning_kinds


def _past(deadline: str, now: datetime) -> bool:
    try:
        return now >= parse_ts(deadline)
    except ValueError:
        return False


def _one(alert: Alert | None) -> list[Alert]:
    return [] if alert is None else [alert]


def _quietly(fn: Callable[[], list[_T]]) -> list[_T]:
    """``fn()``, or nothing when it fails: a location's health is a monitor alert, never a
    reason to lose a vote or a verdict."""
    try:
        return fn()
    except Exception:
        log.exception("location health failed")
        return []
