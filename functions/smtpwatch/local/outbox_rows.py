"""The outbox's rows: their states, one alert on one channel (``Entry``) as read from
its row, and a channel's counts (``ChannelStats``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from smtpwatch.core.state import Alert

__all__ = [
    "COLUMNS",
    "DELIVERED",
    "GIVEN_UP",
    "PENDING",
    "SUMMARISED",
    "ChannelStats",
    "Entry",
    "entry_from_row",
]

PENDING, DELIVERED, GIVEN_UP, SUMMARISED = "pending", "delivered", "given_up", "summarised"

# The columns ``entry_from_row`` reads, in its order.
COLUMNS = (
    "seq, channel, label, alert, state, attempts, next_attempt, queued, last_error, "
    "last_attempt, done, lanes, ord"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One alert on one channel."""

    seq: int
    channel: str
    label: str
    alert: Alert
    state: str
    attempts: int
    next_attempt: float
    queued: float
    last_error: str | None
    last_attempt: float | None
    done: float | None
    lanes: tuple[str, ...]
    order: float
    late: bool = False  # computed when taken for delivery

    def outgoing(self) -> Alert:
        """The alert as it is sent: marked late when a newer alert of its target exists."""
        if not self.late:
            return self.alert
        return replace(self.alert, details={**self.alert.details, "late": True})


@dataclass(frozen=True, slots=True)
class ChannelStats:
    channel: str
    label: str
    pending: int
    given_up: int
    oldest_pending: float | None
    last_error: str | None


def entry_from_row(row: tuple[Any, ...]) -> Entry:
    (seq, channel, label, alert, state, attempts, next_attempt, queued, last_error,
     last_attempt, done, lanes, order) = row  # fmt: skip
    return Entry(
        seq=int(seq),
        channel=str(channel),
        label=str(label),
        alert=Alert.from_dict(json.loads(alert)),
        state=str(state),
        attempts=int(attempts),
        next_attempt=float(next_attempt),
        queued=float(queued),
        last_error=None if last_error is None else str(last_error),
        last_attempt=None if last_attempt is None else float(last_attempt),
        done=None if done is None else float(done),
        lanes=tuple(json.loads(lanes)),
        order=float(order),
    )
