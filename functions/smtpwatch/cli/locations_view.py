"""How `status` and `history` show a verdict of several locations: ``N/M locations
failing``, the failing locations with their errors, each location's vote, and a
target whose quorum is above the number of locations it is checked from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smtpwatch.core.kinds import Status
from smtpwatch.core.locations import LocationVote, failing_summary
from smtpwatch.core.result import ProbeResult
from smtpwatch.local.target_views import votes_of

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "VOTE_HEADERS",
    "effective_count",
    "failing_places",
    "failing_text",
    "location_cell",
    "quorum_line",
    "vote_cells",
    "votes_in",
]

VOTE_HEADERS = ("LOCATION", "STATUS", "PHASE", "ERROR", "MESSAGE")


def votes_in(document: Mapping[str, Any]) -> tuple[LocationVote, ...]:
    """The votes of a stored result document (a state's ``last_result``, a report's
    failure); () for a single-location result."""
    return votes_of(dict(document))


def failing_text(votes: Sequence[LocationVote]) -> str | None:
    """``"2/3 locations failing"`` when a location failed, else None."""
    if not votes:
        return None
    return failing_summary(ProbeResult("", "", Status.UNKNOWN, locations=tuple(votes)))


def failing_places(votes: Iterable[LocationVote]) -> str:
    """The failing locations with their errors: ``"eu-west-1 connect_refused in
    connect: Connection refused; ..."``."""
    return "; ".join(_vote_problem(v) for v in votes if v.failed)


def location_cell(votes: Sequence[LocationVote], location: str | None) -> str | None:
    """Where a check ran, as one cell: the location, or ``"3 locations"`` for a
    verdict (the detail names each)."""
    if votes:
        return f"{len(votes)} location{'s' if len(votes) != 1 else ''}"
    return location or None


def vote_cells(vote: LocationVote) -> tuple[str, str, str, str, str]:
    """One location's vote as a row under ``VOTE_HEADERS``."""
    return (vote.location, vote.status, vote.phase or "-", vote.error or "-", vote.message or "-")


def effective_count(target: Target, deployed: Sequence[str]) -> int:
    """How many locations check ``target`` on AWS, as the dispatcher chooses them: the
    deployed ones it names (every one when it names none); the home location alone when
    it names none that is deployed."""
    from smtpwatch.service.dispatch_plan import effective_locations

    return len(effective_locations(target, deployed)) or 1


def quorum_line(
    target_id: str, quorum: int, checked_from: int | None, *, local: bool = False
) -> str | None:
    """A line for a target whose ``quorum`` is above the ``checked_from`` locations
    that check it (the quorum is then all of them); None when it is not, or when that
    number is unknown. ``local``: local mode, always one location."""
    if checked_from is None or quorum <= checked_from:
        return None
    if local:
        return (
            f"{target_id}: quorum {quorum} is above the 1 location of local mode (each "
            "check decides alone; checking from several locations is the AWS deployment's)"
        )
    n = checked_from
    means = f"a DOWN needs all {n} to fail" if n > 1 else "its one location decides alone"
    return (
        f"{target_id}: quorum {quorum} is above the {n} deployed "
        f"location{'s' if n != 1 else ''} that check{'s' if n == 1 else ''} it ({means})"
    )


def _vote_problem(vote: LocationVote) -> str:
    where = f" in {vote.phase}" if vote.phase else ""
    text = f"{vote.location} {vote.error or vote.status}{where}"
    return f"{text}: {vote.message}" if vote.message else text
