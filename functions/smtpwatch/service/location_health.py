"""Each location's health (ok, silent, failing) and its monitor alerts: one alert per
flip of the location's health item, every flip a conditional write on its version.
A slot decided with a location silent marks it silent; a vote from it for a later
slot marks it ok again; once a tick, a location failing most of its targets while the
others are not is marked failing (``LocationWatch.settle``), and ok again after."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from smtpwatch.core.alerting import DEGRADED_MIN_COUNT, DEGRADED_SHARE
from smtpwatch.core.alerting.location import location_alert
from smtpwatch.core.locations import SILENT
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink, LocationHealthStore
from smtpwatch.service.publish import SAVE_ATTEMPTS, deliver

__all__ = [
    "FAILING",
    "HEALTH_STATUSES",
    "OK",
    "LocationCounts",
    "LocationHealth",
    "LocationWatch",
    "later_slot",
]

log = logging.getLogger("smtpwatch.locations")

OK = "ok"
FAILING = "failing"
HEALTH_STATUSES = (OK, SILENT, FAILING)
RECHECK_S = 60.0  # a process reads a location's health at most once per minute of slots


@dataclass(frozen=True, slots=True)
class LocationHealth:
    """The item ``#location#<name>``: its ``status`` since ``since`` (a time), flipped by
    the slot or tick ``as_of``; ``version`` for conditional writes; ``pending``: the
    alert of the flip, written with it, cleared once delivered."""

    location: str
    status: str = OK
    since: str | None = None
    as_of: str | None = None
    version: int = 0
    pending: Mapping[str, Any] | None = None  # the flip's alert until a sink took it


@dataclass(frozen=True, slots=True)
class LocationCounts:
    """One tick's counts per location: slots dispatched to it and its failing votes."""

    dispatched: Mapping[str, int] = field(default_factory=dict)
    failed: Mapping[str, int] = field(default_factory=dict)


def later_slot(slot: str, than: str | None) -> bool:
    """Is the slot (or tick) ``slot`` after ``than`` (None: after anything)?"""
    if not than:
        return True
    try:
        return parse_ts(slot) > parse_ts(than)
    except ValueError:
        return slot > than


class LocationWatch:
    """The health rules for one process (a probe container, the dispatcher's sweep):
    remembers for ``RECHECK_S`` what it read, so a vote costs no read most of the time."""

    def __init__(
        self,
        store: LocationHealthStore,
        sinks: Sequence[AlertSink] = (),
        *,
        now: Callable[[], datetime] = utc_now,
        share: float = DEGRADED_SHARE,
        min_count: int = DEGRADED_MIN_COUNT,
        attempts: int = SAVE_ATTEMPTS,
    ) -> None:
        self.store = store
        self._sinks = sinks
        self._now = now
        self._share = share
        self._min_count = min_count
        self._attempts = max(1, attempts)
        self._seen: dict[str, tuple[str, float]] = {}  # location -> (status, slot read at)

    # --- votes and decided slots
    def vote_seen(self, location: str, scheduled_at: str) -> Alert | None:
        """A vote of ``location`` for ``scheduled_at`` is stored: a location marked silent
        by an earlier slot is ok again (the one writer that flips it sends location_up)."""
        if self._fresh(location, (OK, FAILING), scheduled_at):
            return None
        return self._flip(location, OK, scheduled_at, lambda h: h.status == SILENT)

    def slot_decided(self, result: ProbeResult, scheduled_at: str) -> list[Alert]:
        """The verdict ``result`` of ``scheduled_at`` is applied: each of its silent
        locations that was ok or failing is marked silent (one location_down per flip), and its
        failing votes are counted for the tick (of now)."""
        alerts = []
        for vote in result.locations:
            if vote.status != SILENT or self._fresh(vote.location, (SILENT,), scheduled_at):
                continue
            alert = self._flip(
                vote.location, SILENT, scheduled_at, lambda h: h.status in (OK, FAILING)
            )
            if alert is not None:
                alerts.append(alert)
        failed = {v.location: 1 for v in result.locations if v.failed}
        if failed:
            # Counted in the tick of the decision, not of the slot: a failure by timeout
            # is decided minutes after its slot, after that slot's tick was judged.
            from smtpwatch.service.gate import tick_bucket

            bucket = tick_bucket(format_ts(self._now()))
            self.store.add_location_counts(bucket, dispatched={}, failed=failed)
        return alerts

    def failing(self, locations: Iterable[str]) -> frozenset[str]:
        """Which of ``locations`` are marked failing (their partial failures are no alert)."""
        out = set()
        for name in locations:
            health = self._read(name, None)
            if health is not None and health.status == FAILING:
                out.add(name)
        return frozenset(out)

    # --- once a tick
    def record_dispatched(self, bucket: str, counts: Mapping[str, int]) -> None:
        """The dispatcher counts the slots it sent to each location for the tick."""
        counts = {k: int(n) for k, n in counts.items() if int(n) > 0}
        if counts:
            self.store.add_location_counts(bucket, dispatched=counts, failed={})

    def settle(self, bucket: str, locations: Sequence[str]) -> list[Alert]:
        """Judge the tick ``bucket`` (call it once its slots are decided): a location that
        failed at least the degraded share (and the floor) of what it checked while every
        other location stayed below is marked failing; a failing one back below is ok."""
        for name in locations:  # a flip's alert a sink refused: sent again, once
            health = self._read(name, None)
            if health is not None and health.pending:
                self._flush(health)
        counts = self.store.location_counts(bucket)
        bad = {name for name in locations if self._bad(counts, name)}
        checked = [name for name in locations if counts.dispatched.get(name, 0) > 0]
        alerts = []
        for name in checked:
            if name in bad and len(bad) == 1:
                detail = {
                    "failed": counts.failed.get(name, 0),
                    "total": counts.dispatched.get(name, 0),
                }
                alert = self._flip(name, FAILING, bucket, lambda h: h.status == OK, detail)
            elif name not in bad:
                alert = self._flip(name, OK, bucket, lambda h: h.status == FAILING)
            else:
                continue
            if alert is not None:
                alerts.append(alert)
        return alerts

    # --- internals
    def _bad(self, counts: LocationCounts, name: str) -> bool:
        total = counts.dispatched.get(name, 0)
        failed = min(counts.failed.get(name, 0), total)
        return total > 0 and failed >= self._min_count and failed >= self._share * total

    def _fresh(self, location: str, statuses: tuple[str, ...], at: str) -> bool:
        """Was ``location`` read with one of ``statuses`` for a slot less than
        ``RECHECK_S`` before the slot ``at``? The memory ages with the slots a process
        sees, not with its clock (a busy container sees minutes of slots in seconds)."""
        seen, now = self._seen.get(location), _epoch(at)
        if seen is None or seen[0] not in statuses or not math.isfinite(now):
            return False
        return now - seen[1] < RECHECK_S

    def _read(self, location: str, at: str | None) -> LocationHealth | None:
        health = self.store.get_location(location)
        if at is not None:
            self._seen[location] = (OK if health is None else health.status, _epoch(at))
        return health

    def _flip(
        self,
        location: str,
        to: str,
        as_of: str,
        when: Callable[[LocationHealth], bool],
        detail: Mapping[str, object] | None = None,
    ) -> Alert | None:
        """Flip ``location`` to ``to`` if its health allows (``when``) and ``as_of`` is
        later than the slot or tick of its last flip; the writer that flips it sends
        the one alert. Never a blind write: a lost race reads again."""
        for _ in range(self._attempts):
            health = self._read(location, as_of) or LocationHealth(location)
            if not when(health) or not later_slot(as_of, health.as_of):
                return None
            if health.pending:  # the last flip's alert first: it is older
                health = self._flush(health)
                if health.pending:  # still not out: flip later rather than lose it,
                    self._seen[location] = (to, _epoch(as_of))  # tried again in a minute
                    return None
            now = format_ts(self._now())
            # A condition begins at the slot (tick) that showed it, not when it was seen:
            # a silent slot is noticed at its deadline, minutes later.
            since = health.since if to == OK else as_of
            extra = {"was": health.status} if to == OK else {}
            alert = location_alert(
                location, to, created_at=now, detail={"since": since, **extra, **(detail or {})}
            )
            new = LocationHealth(location, to, as_of, as_of, health.version + 1, alert.to_dict())
            if self.store.save_location(new):
                self._seen[location] = (to, _epoch(as_of))
                log.warning(
                    "location %s is %s (was %s)",
                    location,
                    to,
                    health.status,
                    extra={"target_id": alert.target_id},
                )
                self._flush(new)
                return alert
        log.error("location health not saved: too many conflicts", extra={"location": location})
        return None

    def _flush(self, health: LocationHealth) -> LocationHealth:
        """Deliver ``health.pending`` and clear it (conditionally: whoever clears it
        first, the alert is out). Returns the health as now stored (or as given)."""
        try:
            alert = Alert.from_dict(dict(health.pending or {}))
        except (KeyError, ValueError, TypeError):
            alert = None
            log.error(
                "unreadable pending location alert dropped", extra={"location": health.location}
            )
        if alert is not None and not deliver(alert, self._sinks):
            log.error(
                "location alert not delivered: sent again next tick",
                extra={"location": health.location},
            )
            return health
        cleared = replace(health, version=health.version + 1, pending=None)
        return cleared if self.store.save_location(cleared) else health


def _epoch(slot: str) -> float:
    try:
        return parse_ts(slot).timestamp()
    except ValueError:
        return float("-inf")  # unreadable: never fresh, never makes anything fresh
