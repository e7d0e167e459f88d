"""How the pages name the locations of a verdict of several: ``N/M locations failing``,
a failing location with its error, and where a check ran."""

from __future__ import annotations

from smtpwatch.core.kinds import Status
from smtpwatch.core.locations import LocationVote, failing_summary
from smtpwatch.core.result import ProbeResult
from smtpwatch.local.pages.formats import html_text

__all__ = ["checked_where", "failing_text", "vote_spans"]


def failing_text(votes: tuple[LocationVote, ...]) -> str:
    """ "2/3 locations failing" (plain text) for a verdict with failing locations, else ""."""
    if not votes:
        return ""
    return failing_summary(ProbeResult("", "", Status.UNKNOWN, locations=votes)) or ""


def vote_spans(vote: LocationVote) -> str:
    """One location's vote as HTML: the location, then phase, error kind and message."""
    text = ": ".join(
        html_text(p) for p in (vote.phase, vote.error or vote.status, vote.message) if p
    )
    return (
        f'<span class="location-failing"><span class="location">{html_text(vote.location)}'
        f"</span> {text}</span>"
    )


def checked_where(votes: tuple[LocationVote, ...], location: str, *, names: bool = False) -> str:
    """Where a check ran, as HTML: its location; for a verdict of several, "3 locations",
    or with ``names`` which ones failed ("2/3 locations failing: us-east-1, eu-west-1")."""
    if not votes:
        return html_text(location)
    failing = failing_text(votes)
    if names and failing:
        return html_text(f"{failing}: {', '.join(v.location for v in votes if v.failed)}")
    return f"{len(votes)} location{'s' if len(votes) != 1 else ''}"
