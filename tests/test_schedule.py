"""Due-time logic shared by the dispatcher and the local scheduler."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.core.schedule import (
    dispatch_slot,
    due_slot,
    due_slots,
    format_ts,
    is_due,
    next_slot,
    parse_ts,
    sample_slot,
    slot_offset,
    slot_start,
    tick_window,
)
from smtpwatch.core.target import Target

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tgt:
    target_id: str
    interval_s: int = 300


def test_the_real_target_model_fits_the_schedule() -> None:
    t = Target(target_id="mx1", host="mx1.example.com", interval_s=60)
    slot = slot_start(t, T0)
    assert T0 - timedelta(seconds=60) < slot <= T0


def test_10000_targets_with_the_same_interval_spread_over_it() -> None:
    # GIVEN 10,000 targets every 300 s: on average 33.3 per second
    offsets = Counter(slot_offset(f"target-{i}", 300) for i in range(10_000))
    # THEN every second of the interval is used and none is crowded
    assert len(offsets) == 300
    assert max(offsets.values()) <= 70, offsets.most_common(3)
    # AND per 60-s dispatcher tick the load is about a fifth each
    per_tick = Counter(o // 60 for o in offsets.elements())
    assert all(1800 <= n <= 2200 for n in per_tick.values()), per_tick


# (target_id, interval_s, offset): the first 8 bytes of SHA-256 of the id's UTF-8, big
# endian, modulo the interval — worked out with `printf %s ID | sha256sum` and integer
# arithmetic apart from the code (mx1: 0x22c4614379ba1995 = 2505234235157780885).
OFFSET_VECTORS = [
    ("mx1", 60, 5),
    ("mx1", 300, 185),
    ("mx1", 3600, 485),
    ("mx1", 86400, 40085),
    ("t0", 60, 48),
    ("t0", 300, 108),
    ("target-42", 300, 193),
    ("target-42", 3600, 1393),
    ("\u00e9-\u00fc", 300, 11),
    ("\u00e9-\u00fc", 86400, 42011),
]


@pytest.mark.parametrize(("target_id", "interval", "offset"), OFFSET_VECTORS)
def test_offset_is_a_fixed_function_of_the_target_id(
    target_id: str, interval: int, offset: int
) -> None:
    assert slot_offset(target_id, interval) == offset


def test_offset_is_stable_across_processes() -> None:
    # SHA-256, not the salted built-in hash(): fresh interpreters with different hash
    # seeds give the fixed values
    code = (
        "from smtpwatch.core.schedule import slot_offset; "
        f"print([slot_offset(i, n) for i, n, _ in {OFFSET_VECTORS!r}])"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == str([o for _, _, o in OFFSET_VECTORS])


@given(
    target_id=st.text(min_size=1, max_size=40),
    interval=st.integers(min_value=10, max_value=86_400),
    seconds=st.integers(min_value=0, max_value=10**9),
)
@settings(max_examples=300, deadline=None)
def test_slot_start_is_the_latest_slot_at_or_before_the_time(
    target_id: str, interval: int, seconds: int
) -> None:
    t = Tgt(target_id, interval)
    moment = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=500)
    slot = slot_start(t, moment)
    assert moment - timedelta(seconds=interval) < slot <= moment
    assert slot_start(t, slot) == slot
    assert next_slot(t, moment) == slot + timedelta(seconds=interval)
    epoch = int(slot.timestamp())
    assert epoch % interval == slot_offset(target_id, interval)


def _dispatch(targets: list[Tgt], boundaries: list[datetime]) -> Counter[tuple[str, datetime]]:
    """What a dispatcher dispatches over ticks whose windows end at ``boundaries``."""
    sent: Counter[tuple[str, datetime]] = Counter()
    last: datetime | None = boundaries[0]
    for now in boundaries[1:]:
        window = tick_window(last, now)
        if window is None:
            continue
        for t in targets:
            slot = due_slot(t, *window)
            if slot is not None:
                sent[(t.target_id, slot)] += 1
        last = window[1]
    return sent


TARGETS = [Tgt(f"t{i}", interval) for i, interval in enumerate([60, 120, 300, 600] * 50)]


def _reference_offset(target_id: str, interval: int) -> int:
    """The slot offset as the docs define it, written apart from the schedule code."""
    return int(hashlib.sha256(target_id.encode()).hexdigest()[:16], 16) % interval


def test_consecutive_ticks_dispatch_every_slot_exactly_once() -> None:
    # GIVEN ticks every minute, with a jittered start time each (Lambda is not exact)
    boundaries = [T0 + timedelta(minutes=m, seconds=(m * 7) % 5) for m in range(61)]
    sent = _dispatch(TARGETS, boundaries)
    assert max(sent.values()) == 1
    # THEN every slot inside the covered span was dispatched, once: every whole second
    # after the first boundary up to the last whose remainder by the target's interval
    # is its offset (worked out here second by second, apart from the schedule code)
    start, end = (int(b.timestamp()) for b in (boundaries[0], boundaries[-1]))
    expected = {
        (t.target_id, datetime.fromtimestamp(e, UTC))
        for t in TARGETS
        for e in range(start + 1, end + 1)
        if e % t.interval_s == _reference_offset(t.target_id, t.interval_s)
    }
    assert sum(60 * 60 // t.interval_s for t in TARGETS) == 5400 == len(expected)
    assert set(sent) == expected


def test_a_missed_tick_skips_no_target() -> None:
    every_minute = [T0 + timedelta(minutes=m) for m in range(31)]
    missed = [b for i, b in enumerate(every_minute) if i not in (5, 6, 17)]
    sent = _dispatch(TARGETS, missed)
    assert max(sent.values()) == 1
    # every target got its latest slot of each window: none is left unprobed for more
    # than its interval plus the gap
    for t in TARGETS:
        slots = sorted(s for (tid, s) in sent if tid == t.target_id)
        assert slots, t
        gaps = [(b - a).total_seconds() for a, b in pairwise(slots)]
        assert all(g <= t.interval_s + 180 for g in gaps), (t, gaps)
    # and 1-minute targets get one probe for the 3-minute window, not a burst of three
    one_min = [k for k in sent if k[0] == "t0"]
    assert len(one_min) == 27  # 30 one-minute windows, 3 merged away by the gaps


def test_overlapping_ticks_with_a_claimed_window_never_dispatch_twice() -> None:
    # Two dispatchers run at almost the same time: the second one reads the boundary
    # the first claimed, so its window starts where the first one's ended.
    first = tick_window(T0, T0 + timedelta(seconds=60))
    assert first is not None
    second = tick_window(first[1], T0 + timedelta(seconds=60, milliseconds=300))
    assert second is None  # nothing left to cover in the same second
    third = tick_window(first[1], T0 + timedelta(seconds=121))
    assert third == (first[1], T0 + timedelta(seconds=120))
    for t in TARGETS:
        a, b = due_slot(t, *first), due_slot(t, *third)
        assert a is None or b is None or a != b


def test_a_dispatcher_whose_clock_is_behind_covers_nothing() -> None:
    assert tick_window(T0, T0 - timedelta(seconds=5)) is None


@pytest.mark.parametrize("jitter_s", [-20, 0, 0.7, 7, 29])
def test_the_first_tick_ever_covers_the_last_whole_minute(jitter_s: float) -> None:
    window = tick_window(None, T0 + timedelta(seconds=jitter_s))
    assert window == (T0 - timedelta(seconds=60), T0)


def test_slot_on_a_window_boundary_belongs_to_the_earlier_window() -> None:
    t = Tgt("mx1", 60)
    slot = slot_start(t, T0)
    assert due_slot(t, slot - timedelta(seconds=60), slot) == slot
    assert due_slot(t, slot, slot + timedelta(seconds=59)) is None


def test_a_never_probed_target_is_due_at_the_next_tick() -> None:
    # GIVEN a 1-hour target whose next slot is far away
    t = Tgt("brand-new", 3600)
    now = next_slot(t, T0) - timedelta(minutes=30)
    window = (now - timedelta(seconds=60), now)
    assert not is_due(t, *window)
    # WHEN it has no state yet THEN the tick dispatches its latest slot now
    assert dispatch_slot(t, *window, probed=False) == slot_start(t, now)
    # AND a second tick that still sees it unprobed picks the same slot (deduped by the
    # results key), unless a slot boundary passed, which is its regular slot anyway.
    later = (now, now + timedelta(seconds=60))
    assert dispatch_slot(t, *later, probed=False) == slot_start(t, now)


def test_an_edited_interval_takes_effect_at_the_next_tick() -> None:
    old, new = Tgt("mx1", 3600), Tgt("mx1", 60)
    window = (T0, T0 + timedelta(seconds=60))
    assert due_slot(new, *window) is not None
    # lengthening: the new grid is used at once, no bookkeeping to migrate
    longer = Tgt("mx1", 86_400)
    assert slot_start(longer, T0) <= T0 < next_slot(longer, T0)
    assert slot_start(old, T0) <= T0


@pytest.mark.parametrize("interval", [0, -5])
def test_a_non_positive_interval_is_refused(interval: int) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        slot_start(Tgt("x", interval), T0)


def test_timestamps_round_trip_as_iso_utc_with_z() -> None:
    assert format_ts(T0 + timedelta(microseconds=999_999)) == "2026-11-25T12:00:00Z"
    assert parse_ts("2026-11-25T12:00:00Z") == T0
    assert parse_ts("2026-11-25T13:00:00+01:00") == T0
    assert parse_ts("2026-11-25T12:00:00.250Z") == T0 + timedelta(milliseconds=250)


@pytest.mark.parametrize("jitter_s", [-25, -3, 0, 2, 17, 29])
def test_tick_jitter_is_absorbed_by_rounding_to_the_tick_rate(jitter_s: int) -> None:
    window = tick_window(T0, T0 + timedelta(seconds=60 + jitter_s))
    assert window == (T0, T0 + timedelta(seconds=60))


def test_local_ticks_every_second_cover_whole_seconds() -> None:
    window = tick_window(T0, T0 + timedelta(seconds=3, milliseconds=200), quantum_s=1)
    assert window == (T0, T0 + timedelta(seconds=3))


# ---- sample_slot: the passing result kept per period on AWS ----------------------------


@settings(max_examples=200, deadline=None)
@given(
    target_id=st.text(min_size=1, max_size=20),
    interval_s=st.integers(min_value=60, max_value=7200),
    period_s=st.sampled_from([600, 3600, 86_400]),
    hours=st.integers(min_value=0, max_value=24 * 400),
)
def test_each_period_keeps_exactly_one_slot_or_every_slot_when_the_interval_is_longer(
    target_id: str, interval_s: int, period_s: int, hours: int
) -> None:
    # GIVEN a target's real slots over three periods
    t = Tgt(target_id, interval_s)
    start = T0 + timedelta(hours=hours)
    slots = due_slots(t, start, start + timedelta(seconds=3 * period_s))
    kept = [s for s in slots if sample_slot(s, interval_s, period_s)]
    if interval_s >= period_s:
        assert kept == slots  # nothing to thin out
    else:
        # THEN of the slots inside a whole period exactly one is kept: the first of it
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        periods = Counter(int((s - epoch).total_seconds()) // period_s for s in kept)
        full = Counter(int((s - epoch).total_seconds()) // period_s for s in slots)
        for p in list(full)[1:-1]:  # the two ends may be cut by the window
            assert periods[p] == 1
            first = min(s for s in slots if int((s - epoch).total_seconds()) // period_s == p)
            assert sample_slot(first, interval_s, period_s)


def test_sample_slot_off_keeps_everything_and_the_hour_boundary_is_kept() -> None:
    assert sample_slot(T0 + timedelta(minutes=1), 60, 0)
    assert sample_slot(T0, 60, 3600)  # 12:00:00 opens an hour
    assert not sample_slot(T0 + timedelta(minutes=1), 60, 3600)
    assert sample_slot(T0 + timedelta(seconds=30), 60, 3600)  # slot 12:00:30: first of 12h
    assert not sample_slot(T0 + timedelta(minutes=59, seconds=30), 60, 3600)
