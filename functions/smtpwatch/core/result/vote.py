"""``LocationVote``: what a verdict remembers of each location's vote (where, its
status, the failing phase, the failure class and its one-line message), bounded like
every part of a result; ``from_dict`` reads a stored one and refuses what is unusable."""

# __slots__ list fields in constructor order (repr, equality), not sorted.
# ruff: noqa: RUF023

from __future__ import annotations

from smtpwatch.core.kinds import ErrorKind, Phase, Status
from smtpwatch.core.record import Record
from smtpwatch.core.result.cutting import cut, cut_opt
from smtpwatch.core.result.limits import MAX_SHORT, MAX_VOTE_LOCATION, MAX_VOTE_MESSAGE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SILENT", "VOTE_STATUSES", "LocationVote"]

SILENT = "silent"  # an expected location that did not vote for the slot
VOTE_STATUSES = frozenset([*(s.value for s in Status), SILENT])
_PHASES = frozenset(p.value for p in Phase)
_KINDS = frozenset(k.value for k in ErrorKind)


class LocationVote(Record):
    __slots__ = ("location", "status", "phase", "error", "message")
    location: str  # as the slot names it: at most 64 ASCII characters kept whole
    status: str  # "ok" | "warning" | "critical" | "unknown" | "silent"
    phase: str | None  # the failing phase (a Phase value) or None
    error: str | None  # the ErrorKind value or None
    message: str | None  # the error's one-line message, at most 200 bytes of JSON

    def __init__(
        self,
        location: str,
        status: str,
        phase: str | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "location", cut(location, MAX_VOTE_LOCATION))
        set_(self, "status", cut(status, MAX_SHORT))
        set_(self, "phase", cut_opt(phase, MAX_SHORT))
        set_(self, "error", cut_opt(error, MAX_SHORT))
        set_(self, "message", _one_line(cut_opt(message, MAX_VOTE_MESSAGE)))

    @property
    def failed(self) -> bool:
        """True when this location found the target failing (critical)."""
        return self.status == Status.CRITICAL.value

    @classmethod
    def from_dict(cls, data: Any) -> LocationVote | None:
        """A stored vote, or None when it is unusable (not an object, no location, an
        unknown status). A phase or failure class this version does not know is None."""
        if not isinstance(data, dict):
            return None
        location, status = data.get("location"), _known(data.get("status"), VOTE_STATUSES)
        if not (isinstance(location, str) and location and status):
            return None
        message = data.get("message")
        return cls(
            location,
            status,
            _known(data.get("phase"), _PHASES),
            _known(data.get("error"), _KINDS),
            message if isinstance(message, str) else None,
        )


def _known(value: object, known: frozenset[str]) -> str | None:
    return value if isinstance(value, str) and value in known else None


def _one_line(text: str | None) -> str | None:
    if text is None or ("\n" not in text and "\r" not in text):
        return text
    return " ".join(text.split())
