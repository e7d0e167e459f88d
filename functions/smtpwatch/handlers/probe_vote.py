"""The probe Lambda's path for an event with ``"vote"``: a slot checked from several
locations (``{"locations": [...], "deadline": iso}``, put there by the dispatcher).
``vote`` loads the target as ``probe.check`` does, then casts this location's vote
(``service.vote.cast_vote``): the probe and its re-check, the vote stored once, and the
slot decided by the caller whose vote completes it (or that finds its deadline past)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.handlers.observability import emit_check
from smtpwatch.handlers.probe import BadEventError, ProbeRuntime, _prepare, logger, metrics

__all__ = ["Ballot", "parse_vote", "vote"]


@dataclass(frozen=True, slots=True)
class Ballot:
    """An event's ``"vote"``: the slot's expected locations and its deadline."""

    locations: tuple[str, ...]
    deadline: str


def parse_vote(event: Mapping[str, Any]) -> Ballot | None:
    """The event's ``"vote"`` (None: a single-location check, today's event)."""
    from smtpwatch.core.locations import MAX_LOCATIONS
    from smtpwatch.core.probe import parse_location

    raw = event.get("vote")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadEventError("vote is not a JSON object")
    names, deadline = raw.get("locations"), raw.get("deadline")
    if not isinstance(names, list) or not 0 < len(names) <= MAX_LOCATIONS:
        raise BadEventError(f"vote.locations is not a list of 1 to {MAX_LOCATIONS} names")
    try:
        locations = tuple(parse_location("vote.locations", name) for name in names)
    except ValueError as exc:
        raise BadEventError(str(exc)) from None
    if len(set(locations)) != len(locations):
        raise BadEventError("vote.locations names a location twice")
    if not isinstance(deadline, str):
        raise BadEventError("vote has no deadline")
    try:
        normalized = format_ts(parse_ts(deadline))
    except (ValueError, IndexError):
        raise BadEventError(f"vote.deadline {deadline[:40]!r} is not ISO-8601") from None
    return Ballot(locations, normalized)


def vote(
    rt: ProbeRuntime,
    target_id: str,
    scheduled_at: str,
    ballot: Ballot,
    *,
    item: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """This location's vote for a slot checked from several locations: loaded and read
    as ``check`` does, then ``service.vote.cast_vote`` (probe, this location's re-check,
    the vote stored once; the last vote's caller, or one past the deadline, decides)."""
    from smtpwatch.service.vote import cast_vote

    target, _problem, deps, gone = _prepare(rt, target_id, scheduled_at, item)
    if gone is not None:  # no target: no vote; the sweep drops the slot at its deadline
        return gone
    assert target is not None
    out = cast_vote(
        target,
        scheduled_at=scheduled_at,
        expected=ballot.locations,
        deadline=ballot.deadline,
        deps=deps,
        votes=rt.votes,
        location=rt.env.location,
        watch=rt.watch,
    )
    decision = out.decision
    result = out.vote
    summary: dict[str, Any] = {
        "target_id": target_id,
        "scheduled_at": scheduled_at,
        "location": out.location,
        "skipped": out.skipped,
        "status": None if result is None else result.status.value,
        "error": None if result is None or result.error is None else result.error.kind.value,
        "rechecked": out.rechecked,
        "voted": list(out.voted),
        "decided": decision is not None,
        "verdict": None
        if decision is None or decision.result is None
        else decision.result.status.value,
        "state": None if decision is None else decision.state.status.value,
        "alert": None if decision is None or decision.alert is None else decision.alert.event.value,
        "location_alerts": [a.event.value for a in out.alerts],
    }
    if result is not None and out.stored:
        emit_check(metrics, result)
    else:  # redelivered, stale or not expected: visible, no empty EMF document
        metrics.add_metric(name="CheckSkipped", unit=MetricUnit.Count, value=1)
    quiet = result is not None and result.ok and decision is None and not out.alerts
    if quiet and out.skipped is None:
        logger.debug("vote done", extra=summary)
    else:
        logger.info("vote done", extra=summary)
    return summary
