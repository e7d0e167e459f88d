"""What an alert says of locations: a verdict's votes (the failing locations with their
phase and error, then the passing, crashed and silent ones) and the monitor alerts of a
location that is silent or fails most of its targets (``location_down``/``location_up``).
"""

from __future__ import annotations

from typing import Any

from smtpwatch.core.result import LocationVote
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.state import Alert, AlertEvent

__all__ = [
    "MAX_VOTES",
    "location_headline",
    "location_lines",
    "locations_failed",
    "tally",
    "vote_lines",
    "votes",
]

MAX_VOTES = 16  # a verdict has one vote per expected location, at most 16
_NAME_MAX = 64  # a location name where it enters
_MESSAGE_MAX = 200  # a vote's message where it is made
_GROUPS = (("critical",), ("ok", "warning"), ("unknown",), ("silent",))


def votes(result: dict[str, Any] | None) -> list[LocationVote]:
    """The votes a (stored, maybe hostile) result document names, in its order; empty
    for a single-location result. Unusable entries are dropped."""
    raw = (result or {}).get("locations")
    if not isinstance(raw, list):
        return []
    found = (LocationVote.from_dict(entry) for entry in raw[:MAX_VOTES])
    return [vote for vote in found if vote is not None]


def locations_failed(result: dict[str, Any] | None) -> int:
    """How many locations found the target failing: the critical votes, or for a
    single-location result 1 when it is critical, else 0."""
    found = votes(result)
    if found:
        return sum(1 for vote in found if vote.failed)
    return 1 if (result or {}).get("status") == "critical" else 0


def tally(found: list[LocationVote]) -> str:
    """``2/3 locations``: failing of all expected ones (the silent ones too)."""
    return f"{sum(1 for vote in found if vote.failed)}/{len(found)} locations"


def vote_lines(found: list[LocationVote]) -> list[str]:
    """``Locations: 2/3 failing`` and one line per location: the failing ones with
    their phase and error, then the passing, the crashed and the silent ones."""
    if not found:
        return []
    failed = sum(1 for vote in found if vote.failed)
    lines = [f"Locations: {failed}/{len(found)} failing"]
    for group in _GROUPS:
        lines += [f"- {_vote_line(v)}" for v in found if v.status in group]
    return lines


def _vote_line(vote: LocationVote) -> str:
    name = _name(vote.location)
    message = one_line(vote.message or "", _MESSAGE_MAX)
    if vote.failed:
        head = f"{name}: FAILED"
        if vote.phase:
            head += f" in {vote.phase}"
        if vote.error and vote.error != vote.phase:
            head += f" ({vote.error})"
        return f"{head}: {message}" if message else head
    if vote.status == "ok":
        return f"{name}: passed"
    if vote.status == "warning":
        return f"{name}: passed, with a warning" + (f": {message}" if message else "")
    if vote.status == "unknown":
        return f"{name}: no result, the probe itself failed (not counted)" + (
            f": {message}" if message else ""
        )
    return f"{name}: silent, no report for this check (not counted)"


def _name(location: Any) -> str:
    return one_line(str(location or "?"), _NAME_MAX)


def _location(alert: Alert) -> str:
    return _name(alert.target.get("location") or alert.target_id.removeprefix("#location#"))


def location_headline(alert: Alert) -> str:
    """The subject's words for ``location_down`` and ``location_up``."""
    name = _location(alert)
    details = alert.details
    if alert.event is AlertEvent.LOCATION_DOWN and alert.status == "silent":
        return f"location {name} silent since {alert.since or '?'}: votes not counted"
    if alert.event is AlertEvent.LOCATION_DOWN:
        return f"location {name} fails most of its targets: likely its network"
    if details.get("was") == "failing":
        return f"location {name} passes its targets again"
    return f"location {name} reports again: its votes count"


def location_lines(alert: Alert) -> list[str]:
    """The text of ``location_down`` and ``location_up``: what happened, what it does
    to the checks, what to look at."""
    name = _location(alert)
    details = alert.details
    since = alert.since or "?"
    if alert.event is AlertEvent.LOCATION_DOWN and alert.status == "silent":
        return [
            f"location {name} has not reported since {since}: its votes are not counted.",
            "Its targets are decided by the locations that report (the quorum is capped at"
            " the locations that voted): they are still checked, by fewer locations.",
            "",
            f"Next step: check the probe function in {name} (its errors and throttles)"
            " and that region's health; this alert is cleared when it reports again.",
        ]
    if alert.event is AlertEvent.LOCATION_DOWN:
        lines = [f"location {name} fails most of its targets: likely its network."]
        failed, total = details.get("failed"), details.get("total")
        if isinstance(failed, int) and isinstance(total, int):
            lines.append(
                f"It failed {failed} of the {total} targets it checked in the window of"
                f" {since}; the other locations failed far fewer."
            )
        kinds = details.get("kinds")
        if isinstance(kinds, dict) and kinds:
            lines.append(
                "Failure classes: "
                + ", ".join(f"{one_line(str(k), 40)} {n}" for k, n in sorted(kinds.items())[:10])
            )
        sample = details.get("sample")
        if isinstance(sample, list) and sample:
            lines.append("For example: " + ", ".join(one_line(str(s), 64) for s in sample[:10]))
        return [
            *lines,
            "Its partial failures are not alerted while this lasts; a target failing in a"
            " quorum of locations still is.",
            "",
            f"Next step: check the network of {name}: its NAT gateway and egress address"
            " (on the servers' allow-lists), DNS and routes.",
        ]
    if details.get("was") == "failing":
        return [
            f"location {name} passes its targets again (it failed most of them since"
            f" {since}): its partial failures are alerted again where targets ask for it."
        ]
    return [f"location {name} reports again (silent since {since}): its votes count again."]
