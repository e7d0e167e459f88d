"""Due-time logic shared by the AWS dispatcher and the local scheduler. Pure; no I/O.

Every target has a fixed grid of slots, ``offset + k * interval_s`` seconds after the
epoch (``offset`` from SHA-256 of the target id). A tick covers the window
``(start, end]`` since the last completed tick and dispatches each target at most once,
for its latest slot in it (``due_slot``); a target never probed goes at the first tick
that sees it (``dispatch_slot(..., probed=False)``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    # typing (with contextlib) costs milliseconds at every `smtpwatch probe` start,
    # which reaches this module for its UTC clock; the Protocol is for mypy only.
    Protocol = object

__all__ = [
    "ScheduledTarget",
    "as_utc",
    "dispatch_slot",
    "due_slot",
    "due_slots",
    "format_ts",
    "is_due",
    "next_slot",
    "parse_ts",
    "sample_slot",
    "slot_offset",
    "slot_start",
    "tick_window",
    "utc_now",
]

# The dispatcher's tick rate on AWS (EventBridge rate(1 minute)); the local scheduler
# ticks every second and passes 1.
TICK_QUANTUM_S = 60


class ScheduledTarget(Protocol):
    @property
    def target_id(self) -> str: ...

    @property
    def interval_s(self) -> int: ...


def utc_now() -> datetime:
    """The current time, aware UTC (the default clock wherever one is injected)."""
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """ISO-8601 UTC with ``Z``, whole seconds (``scheduled_at`` and alert times)."""
    return as_utc(moment).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    """Inverse of ``format_ts``; also accepts fractions and explicit offsets. Raises
    ValueError for anything else."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(value))


def slot_offset(target_id: str, interval_s: int) -> int:
    """Seconds after each interval boundary at which this target's slots fall."""
    interval = _interval(interval_s)
    digest = hashlib.sha256(target_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % interval


def slot_start(target: ScheduledTarget, moment: datetime) -> datetime:
    """The latest slot at or before ``moment``."""
    interval = _interval(target.interval_s)
    offset = slot_offset(target.target_id, interval)
    seconds = _epoch_floor(moment)
    return _from_epoch(seconds - (seconds - offset) % interval)


def next_slot(target: ScheduledTarget, moment: datetime) -> datetime:
    """The first slot strictly after ``moment`` (a local scheduler's wake-up time)."""
    return slot_start(target, moment) + timedelta(seconds=_interval(target.interval_s))


def due_slots(target: ScheduledTarget, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in ``(start, end]``, oldest first."""
    slots: list[datetime] = []
    step = timedelta(seconds=_interval(target.interval_s))
    slot = slot_start(target, end)
    start_utc = as_utc(start)
    while slot > start_utc:
        slots.append(slot)
        slot -= step
    slots.reverse()
    return slots


def due_slot(target: ScheduledTarget, start: datetime, end: datetime) -> datetime | None:
    """The latest slot in ``(start, end]`` or None: what one tick dispatches."""
    slot = slot_start(target, end)
    return slot if slot > as_utc(start) else None


def dispatch_slot(
    target: ScheduledTarget, start: datetime, end: datetime, *, probed: bool = True
) -> datetime | None:
    """The slot to dispatch for the window ``(start, end]``, or None.

    ``probed=False`` (no state for the target yet, i.e. it was just added or never ran)
    dispatches its most recent slot even if that lies before the window, so a new target
    is checked at the first tick that sees it.
    """
    slot = due_slot(target, start, end)
    if slot is None and not probed:
        slot = slot_start(target, end)
    return slot


def is_due(target: ScheduledTarget, start: datetime, end: datetime, *, probed: bool = True) -> bool:
    return dispatch_slot(target, start, end, probed=probed) is not None


def sample_slot(scheduled_at: datetime, interval_s: int, period_s: int) -> bool:
    """True when ``scheduled_at`` is the first slot of its ``period_s``-long period
    (periods aligned to the epoch): the slot whose passing result is kept on AWS.

    A pure function of the slot, so every delivery of one dispatch agrees and no state
    is spent on "when did I last store one". With ``period_s`` <= 0, or an interval as
    long as the period, every slot is one.
    """
    if period_s <= 0:
        return True
    seconds = _epoch_floor(scheduled_at)
    return seconds // period_s != (seconds - _interval(interval_s)) // period_s


def tick_window(
    last_end: datetime | None,
    now: datetime,
    *,
    quantum_s: int = TICK_QUANTUM_S,
) -> tuple[datetime, datetime] | None:
    """The window ``(start, end]`` a tick at ``now`` covers, given the end of the last
    completed (claimed) tick — None if none ever ran. None when there is nothing to
    cover yet (a second dispatcher right after the first, a clock behind).

    Windows are whole multiples of ``quantum_s`` (the tick rate: 60 on AWS, 1 locally)
    laid end to end from the first one, and ``now`` is rounded to that grid. Why: timer
    ticks jitter by seconds. With windows ending exactly at ``now``, a 61-s window would
    hold two slots of a 60-s target and a 59-s one none, so its probes would bunch and
    gap. Rounding absorbs jitter up to half a quantum either way; a missed tick makes
    one window of several quanta, which dispatches each target's latest slot in it.
    """
    quantum = _interval(quantum_s)
    if last_end is None:
        # The first window ends on the tick grid (whole minutes on AWS), so later ones
        # do too as long as no tick is more than half a quantum late.
        end = (_epoch_floor(now) + quantum // 2) // quantum * quantum
        return _from_epoch(end - quantum), _from_epoch(end)
    last = _epoch_floor(last_end)
    elapsed = (as_utc(now) - _from_epoch(last)).total_seconds()
    quanta = int(elapsed / quantum + 0.5) if elapsed > 0 else 0
    if quanta <= 0:
        return None
    return _from_epoch(last), _from_epoch(last + quanta * quantum)


def _interval(interval_s: int) -> int:
    interval = int(interval_s)
    if interval < 1:
        raise ValueError(f"interval_s must be at least 1, not {interval_s!r}")
    return interval


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time."""
    if moment.tzinfo is None:  # naive times are UTC throughout smtpwatch
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _epoch_floor(moment: datetime) -> int:
    delta = as_utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400 + delta.seconds  # floor, also before 1970


def _from_epoch(seconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
