"""Locations and quorum: one location's vote for a slot, the open slot a dispatcher
records, and ``verdict``, which turns a slot's votes into the one result that
``decide()``, the state, the history and alerts see. Pure: no I/O, no AWS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from smtpwatch.core.kinds import ErrorKind, Status, WarningKind
from smtpwatch.core.result import (
    MAX_LOCATIONS,
    MAX_WARNINGS,
    SILENT,
    VOTE_STATUSES,
    ErrorInfo,
    LocationVote,
    ProbeResult,
    WarningInfo,
)

__all__ = [
    "MAX_LOCATIONS",
    "NO_VOTE_MESSAGE",
    "SILENT",
    "VOTE_STATUSES",
    "LocationVote",
    "OpenSlot",
    "effective_quorum",
    "failing_summary",
    "majority",
    "silent",
    "verdict",
    "vote_of",
]

NO_VOTE_MESSAGE = "no location reported"


@dataclass(frozen=True, slots=True)
class OpenSlot:
    """A slot whose votes are awaited: written by the dispatcher before it invokes the
    locations, claimed (deleted) by the one decider."""

    target_id: str
    scheduled_at: str  # the slot, ISO-8601 UTC
    locations: tuple[str, ...]  # the expected locations, in deployed order
    deadline: str  # ISO-8601 UTC: silent locations are no vote after it
    correlation_id: str | None = None


def majority(n: int) -> int:
    """The smallest number of ``n`` locations that is more than half of them."""
    return n // 2 + 1


def effective_quorum(quorum: int, voted: int, n_locations: int) -> int:
    """How many failing votes make a verdict critical: ``quorum`` (0: a majority of
    ``n_locations``), capped at the number of locations that ``voted`` (may be 0)."""
    wanted = majority(n_locations) if quorum <= 0 else quorum
    return max(0, min(wanted, voted))


def vote_of(result: ProbeResult) -> LocationVote:
    """What a verdict remembers of one location's result."""
    error = result.error
    if error is None:
        return LocationVote(result.location, result.status.value)
    phase = None if error.phase is None else error.phase.value
    return LocationVote(
        result.location, result.status.value, phase, error.kind.value, error.message
    )


def silent(location: str) -> LocationVote:
    """An expected location that did not vote for the slot."""
    return LocationVote(location, SILENT)


def verdict(
    target_id: str,
    scheduled_at: str,
    expected: Sequence[str],
    votes: Mapping[str, ProbeResult],
    *,
    quorum: int,
    alert_on_partial: bool,
) -> ProbeResult:
    """The one result of the slot ``scheduled_at`` from its ``votes`` (by location):
    critical when at least the effective quorum of locations failed; it carries the
    first failing vote then, else the first passing one, in ``expected`` order.
    Votes of locations not ``expected`` are not counted; a missing one is silent."""
    names = tuple(dict.fromkeys(expected))[:MAX_LOCATIONS]
    voted = [name for name in names if name in votes]
    board = tuple(_vote(name, votes[name]) if name in votes else silent(name) for name in names)
    if not voted:
        error = ErrorInfo(ErrorKind.INTERNAL, None, NO_VOTE_MESSAGE)
        return ProbeResult(target_id, scheduled_at, Status.UNKNOWN, error=error, locations=board)
    failed = [name for name in voted if votes[name].status is Status.CRITICAL]
    passed = [name for name in voted if votes[name].ok]
    q = effective_quorum(quorum, len(voted), len(names))
    if failed and len(failed) >= q:
        return _carry(target_id, votes[failed[0]], failed[0], board)
    if not passed:  # no failure to count, or too few, and no location passed
        unknown = next(name for name in voted if votes[name].status is Status.UNKNOWN)
        carried = _carry(target_id, votes[unknown], unknown, board)
        return _with_partial(carried, board) if failed and alert_on_partial else carried
    carried = _carry(target_id, votes[passed[0]], passed[0], board)
    if failed and alert_on_partial:
        return _with_partial(carried, board).replace(status=Status.WARNING)
    return carried


def failing_summary(result: ProbeResult) -> str | None:
    """``"2/3 locations failing"`` when a location of the verdict ``result`` failed,
    else None (no failing vote, or no verdict of several locations)."""
    failing = sum(1 for vote in result.locations if vote.failed)
    return f"{failing}/{len(result.locations)} locations failing" if failing else None


def _vote(name: str, result: ProbeResult) -> LocationVote:
    return vote_of(result).replace(location=name)  # as the slot names it


def _carry(
    target_id: str, vote: ProbeResult, name: str, board: tuple[LocationVote, ...]
) -> ProbeResult:
    return vote.replace(target_id=target_id, location=name, locations=board)


def _with_partial(result: ProbeResult, board: tuple[LocationVote, ...]) -> ProbeResult:
    summary = failing_summary(result) or ""
    named = ", ".join(f"{v.location} {v.error or v.status}" for v in board if v.failed)
    warning = WarningInfo(WarningKind.PARTIAL_FAILURE, f"{summary}: {named}")
    return result.replace(warnings=(*result.warnings[: MAX_WARNINGS - 1], warning))
