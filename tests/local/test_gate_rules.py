"""The monitor-degraded gate's shared rules, piece by piece: tick buckets, the episode
book, the maximum hold, what an episode's end lists, and when a held down alert goes
out. Expected values are fixed vectors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.service.gate import (
    MAX_HOLD,
    Episode,
    EpisodeBook,
    HeldDown,
    end_episode,
    hold_expired,
    previous_bucket,
    release_held,
    tick_bucket,
)
from smtpwatch.service.memory import MemorySink, MemoryStateStore

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
T0_TEXT = "2026-11-25T12:00:00Z"


class FailingSink(MemorySink):
    def send(self, alert: Alert) -> None:
        raise ConnectionError("sink down")


def tgt(target_id: str, **kw: Any) -> Target:
    return Target(target_id=target_id, host=f"{target_id}.example.com", **kw)


def down(target_id: str, **kw: Any) -> TargetState:
    fields: dict[str, Any] = {
        "status": TargetStatus.DOWN,
        "consecutive_failures": 2,
        "failing_since": "2026-11-25T11:50:00Z",
        "last_change_at": "2026-11-25T11:50:00Z",
        "version": 3,
    }
    fields.update(kw)
    return TargetState(target_id, **fields)


def store(*states: TargetState) -> MemoryStateStore:
    s = MemoryStateStore()
    for state in states:
        s.put(state)
    return s


@pytest.mark.parametrize(
    ("scheduled_at", "bucket"),
    [
        ("2026-11-25T12:00:00Z", "2026-11-25T12:00:00Z"),  # on the minute: that minute
        ("2026-11-25T12:00:00.5Z", "2026-11-25T12:01:00Z"),  # any later: the next
        ("2026-11-25T12:00:01Z", "2026-11-25T12:01:00Z"),
        ("2026-11-25T12:00:59Z", "2026-11-25T12:01:00Z"),
        ("2026-11-25T23:59:30Z", "2026-11-26T00:00:00Z"),
    ],
)
def test_a_check_counts_in_the_minute_its_dispatch_rounds_up_to(
    scheduled_at: str, bucket: str
) -> None:
    assert tick_bucket(scheduled_at) == bucket


def test_the_bucket_before_is_one_minute_earlier() -> None:
    assert previous_bucket("2026-11-26T00:00:00Z") == "2026-11-25T23:59:00Z"


def test_an_unreadable_hold_start_counts_as_expired() -> None:
    assert hold_expired("not a time", T0)
    assert not hold_expired(T0_TEXT, T0 + MAX_HOLD - timedelta(seconds=1))
    assert hold_expired(T0_TEXT, T0 + MAX_HOLD)


def test_the_book_opens_one_episode_at_a_time_and_closes_it_after_its_first_window() -> None:
    book = EpisodeBook()
    assert book.begin(T0_TEXT) is True
    assert book.episode is not None and book.episode.since == T0_TEXT
    assert book.begin("2026-11-25T12:01:00Z") is False
    assert book.episode.since == T0_TEXT
    # the window that began it is not its end; a later clean window is
    assert book.end(T0_TEXT) is None and book.episode is not None
    ended = book.end("2026-11-25T12:01:00Z")
    assert ended is not None and ended.since == T0_TEXT and book.episode is None


def test_a_held_down_alert_is_due_once() -> None:
    book = EpisodeBook()
    assert book.hold("mx1", T0, since=T0_TEXT)
    later = T0 + MAX_HOLD
    assert [tid for tid, _ in book.due(later)] == ["mx1"]
    assert book.due(later + timedelta(minutes=1)) == []
    assert not book.hold("mx1", later, since=T0_TEXT)  # released: not held again


def test_an_episodes_end_lists_every_held_target_oldest_first_with_what_became_of_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN an episode that held four targets: one still down and never announced, one
    # whose down alert already went out, one with an alert pending, one that recovered
    episode = Episode(
        T0_TEXT,
        held={
            "a-still": HeldDown("2026-11-25T12:03:00Z"),
            "b-told": HeldDown("2026-11-25T12:01:00Z"),
            "c-pending": HeldDown("2026-11-25T12:01:00Z"),
            "d-up": HeldDown("2026-11-25T12:02:00Z"),
        },
    )
    pending = Alert(
        alert_id="p",
        event=AlertEvent.DOWN,
        target_id="c-pending",
        status="down",
        created_at=T0_TEXT,
    )
    states = store(
        down("a-still"),
        down("b-told", alerted=True),
        down("c-pending", pending_alert=pending.to_dict()),
        TargetState("d-up", status=TargetStatus.UP, version=2),
    )
    targets = {
        "a-still": tgt("a-still", name="Primary MX"),
        "b-told": tgt("b-told"),
        "c-pending": tgt("c-pending"),
    }
    sink = MemorySink()
    now = T0 + timedelta(minutes=6)
    # WHEN it ends
    with caplog.at_level(logging.WARNING, logger="smtpwatch.gate"):
        alert = end_episode(episode, targets=targets, states=states, sinks=[sink], now=now)
    # THEN the end lists each held target, oldest hold first (then by id), with its name
    assert alert.details["held"] == [
        {
            "target_id": "b-told",
            "name": "b-told.example.com",
            "held_since": "2026-11-25T12:01:00Z",
            "still_down": False,
            "announced": True,
        },
        {
            "target_id": "c-pending",
            "name": "c-pending.example.com",
            "held_since": "2026-11-25T12:01:00Z",
            "still_down": False,
            "announced": True,
        },
        {
            "target_id": "d-up",
            "name": "d-up",  # no longer a target: named by its id
            "held_since": "2026-11-25T12:02:00Z",
            "still_down": False,
            "announced": False,
        },
        {
            "target_id": "a-still",
            "name": "Primary MX",
            "held_since": "2026-11-25T12:03:00Z",
            "still_down": True,
            "announced": False,
        },
    ]
    # AND only the still-down, never-announced target's held down alert follows it
    assert sink.events == ["degraded", "down"]
    assert [a.target_id for a in sink.alerts] == ["#monitor", "a-still"]
    assert [r for r in caplog.records if r.name == "smtpwatch.gate"] == []


def test_an_episodes_end_that_no_sink_took_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="smtpwatch.gate"):
        end_episode(Episode(T0_TEXT), targets={}, states=store(), sinks=[FailingSink()], now=T0)
    assert [r.getMessage() for r in caplog.records if r.name == "smtpwatch.gate"] == [
        "end of the monitor-degraded episode not delivered to every sink"
    ]


@pytest.mark.parametrize(
    "state",
    [
        down("mx1", alerted=True),
        TargetState("mx1", status=TargetStatus.UP, version=2),
        TargetState("mx1", status=TargetStatus.WARNING, alerted=True, version=2),
    ],
    ids=["announced", "recovered", "warning-announced"],
)
def test_a_held_down_alert_is_not_sent_when_it_is_no_longer_true(state: TargetState) -> None:
    sink = MemorySink()
    sent = release_held(
        tgt("mx1"),
        states=store(state),
        sinks=[sink],
        now=T0,
        episode_since=T0_TEXT,
        held_since=T0_TEXT,
    )
    assert sent is None and sink.events == []


def test_a_released_held_alert_is_recorded_as_sent_at_the_release_time() -> None:
    states = store(down("mx1"))
    sink = MemorySink()
    now = T0 + MAX_HOLD
    sent = release_held(
        tgt("mx1"), states=states, sinks=[sink], now=now, episode_since=T0_TEXT, held_since=T0_TEXT
    )
    assert sent is not None and sink.events == ["down"]
    saved = states.get_state("mx1")
    assert saved is not None and saved.alerted
    assert saved.last_alert_at == "2026-11-25T12:15:00Z"


def test_a_held_alert_no_sink_took_is_not_reported_sent() -> None:
    states = store(down("mx1"))
    sent = release_held(
        tgt("mx1"),
        states=states,
        sinks=[FailingSink()],
        now=T0,
        episode_since=T0_TEXT,
        held_since=T0_TEXT,
    )
    assert sent is None
    saved = states.get_state("mx1")
    assert saved is not None and saved.pending_alert is not None  # kept for a retry
