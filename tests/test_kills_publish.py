"""Publishing a pending alert and saving it as sent, on a real SQLite state store with
its conditional writes: every sink is tried, a failed one keeps the alert pending, an
unreadable alert is dropped (and said so), and a save that meets a racing writer is
applied again to what that writer stored, a bounded number of times."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.service.publish import SAVE_ATTEMPTS, deliver, flush_pending, save_with

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SENT_AT = T0 + timedelta(minutes=3)


def down_alert() -> Alert:
    stamp = format_ts(T0)
    return Alert(
        alert_id="mx1-down-0001",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at=stamp,
        target={"target_id": "mx1", "name": "mx1", "host": "mx1.test"},
        since=stamp,
    )


class Sink:
    def __init__(self, error: Exception | None = None) -> None:
        self.got: list[Alert] = []
        self.error = error

    def send(self, alert: Alert) -> None:
        self.got.append(alert)
        if self.error is not None:
            raise self.error


class Racing:
    """The real store, with another invocation that writes first: before each of our
    first ``races`` saves it saves its own change (``theirs``) of what is stored."""

    def __init__(
        self,
        store: SqliteStore,
        races: int,
        theirs: Callable[[TargetState], TargetState | None] = lambda s: s,
    ) -> None:
        self.store = store
        self.races = races
        self.theirs = theirs
        self.saves: list[TargetState] = []

    def get_state(self, target_id: str) -> TargetState | None:
        return self.store.get_state(target_id)

    def save_state(self, state: TargetState) -> bool:
        self.saves.append(state)
        if self.races > 0:
            self.races -= 1
            current = self.store.get_state(state.target_id)
            if current is not None:
                changed = self.theirs(current)
                if changed is None:
                    self.store.purge(state.target_id)  # targets remove + purge
                else:
                    assert self.store.save_state(changed.evolve(version=current.version + 1))
        return self.store.save_state(state)

    def iter_states(self) -> Iterator[TargetState]:
        return self.store.iter_states()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "smtpwatch.db")
    yield s
    s.close()


def stored_pending(store: SqliteStore, pending: dict[str, Any] | None) -> TargetState:
    """mx1 down, its down alert recorded but not yet published (version 3)."""
    state = TargetState("mx1", status=TargetStatus.DOWN, consecutive_failures=3)
    for version in (1, 2, 3):
        state = state.evolve(version=version, pending_alert=pending if version == 3 else None)
        assert store.save_state(state)
    return state


# ---- nothing pending, delivered, not delivered ------------------------------------------


def test_nothing_pending_is_nothing_sent_and_nothing_written(store: SqliteStore) -> None:
    state = stored_pending(store, None)
    sink = Sink()
    flush = flush_pending(state, [sink], store, now=SENT_AT)
    assert flush == flush_pending(state, [], store)
    assert (flush.state, flush.alert, flush.delivered, flush.state_writes) == (
        state, None, False, 0,
    )  # fmt: skip
    assert sink.got == [] and store.get_state("mx1") == state


def test_a_delivered_alert_is_saved_as_sent(store: SqliteStore) -> None:
    alert = down_alert()
    state = stored_pending(store, alert.to_dict())
    one, two = Sink(), Sink()
    flush = flush_pending(state, [one, two], store, now=SENT_AT)
    assert [a.alert_id for a in one.got] == [alert.alert_id]
    assert [a.alert_id for a in two.got] == [alert.alert_id]
    assert (flush.alert, flush.delivered, flush.state_writes) == (alert, True, 1)
    saved = store.get_state("mx1")
    assert saved == flush.state
    assert saved is not None and saved.version == 4
    assert saved.pending_alert is None
    assert saved.last_alert_at == "2026-11-25T12:03:00Z"
    assert saved.last_alert_event == "down" and saved.alerted


def test_without_a_time_given_it_is_saved_as_sent_now(store: SqliteStore) -> None:
    state = stored_pending(store, down_alert().to_dict())
    before = datetime.now(UTC).replace(microsecond=0)
    flush = flush_pending(state, [Sink()], store)
    after = datetime.now(UTC)
    assert flush.state.last_alert_at is not None
    assert before <= parse_ts(flush.state.last_alert_at) <= after


def test_a_failing_sink_keeps_the_alert_pending_and_the_others_still_get_it(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    alert = down_alert()
    state = stored_pending(store, alert.to_dict())
    broken, good = Sink(TimeoutError("receiver hung")), Sink()
    with caplog.at_level(logging.WARNING, logger="smtpwatch.check"):
        flush = flush_pending(state, [broken, good], store, now=SENT_AT)
    assert (flush.state, flush.alert, flush.delivered, flush.state_writes) == (
        state, alert, False, 0,
    )  # fmt: skip
    assert flush.delivered is False  # a bool, as the result documents it
    assert len(broken.got) == 1 and len(good.got) == 1
    assert store.get_state("mx1") == state  # still pending: the next run sends it again
    (record,) = [r for r in caplog.records if r.name == "smtpwatch.check"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "alert delivery failed: TimeoutError"
    assert record.__dict__["alert_id"] == alert.alert_id
    assert record.__dict__["sink"] == "Sink"


def test_deliver_is_true_only_when_every_sink_accepted() -> None:
    alert = down_alert()
    assert deliver(alert, []) is True
    assert deliver(alert, [Sink(), Sink()]) is True
    assert deliver(alert, [Sink(), Sink(OSError("x"))]) is False
    assert deliver(alert, [Sink(OSError("x")), Sink()]) is False


# ---- an unreadable pending alert ----------------------------------------------------------


@pytest.mark.parametrize(
    "pending",
    [
        {"alert_id": "x"},  # fields missing
        {**down_alert().to_dict(), "event": "exploded"},  # an event no version knows
        {**down_alert().to_dict(), "target": 5},  # a field of the wrong type
    ],
)
def test_an_unreadable_pending_alert_is_dropped_and_said_so(
    store: SqliteStore, caplog: pytest.LogCaptureFixture, pending: dict[str, Any]
) -> None:
    state = stored_pending(store, pending)
    sink = Sink()
    with caplog.at_level(logging.WARNING, logger="smtpwatch.check"):
        flush = flush_pending(state, [sink], store, now=SENT_AT)
    assert sink.got == []
    assert (flush.alert, flush.delivered, flush.state_writes) == (None, False, 1)
    saved = store.get_state("mx1")
    assert saved == flush.state
    assert saved is not None and saved.pending_alert is None and saved.version == 4
    assert saved.last_alert_at is None  # nothing was sent
    (record,) = [r for r in caplog.records if r.name == "smtpwatch.check"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "unreadable pending alert dropped"
    assert record.__dict__["target_id"] == "mx1"


# ---- racing writers --------------------------------------------------------------------------


def test_a_save_that_meets_a_racing_writer_is_applied_to_what_it_stored(
    store: SqliteStore,
) -> None:
    alert = down_alert()
    state = stored_pending(store, alert.to_dict())
    # another invocation records the check it ran meanwhile
    racing = Racing(store, 1, lambda s: s.evolve(consecutive_failures=4))
    flush = flush_pending(state, [Sink()], racing, now=SENT_AT)
    assert (flush.delivered, flush.state_writes) == (True, 1)
    saved = store.get_state("mx1")
    assert saved == flush.state
    assert saved is not None and saved.version == 5
    assert saved.consecutive_failures == 4  # theirs kept
    assert saved.pending_alert is None and saved.last_alert_at == "2026-11-25T12:03:00Z"
    assert [s.version for s in racing.saves] == [4, 5]


@pytest.mark.parametrize(("attempts", "tries"), [(None, SAVE_ATTEMPTS), (2, 2), (0, 1)])
def test_saves_that_always_conflict_are_given_up_after_the_bound(
    store: SqliteStore, attempts: int | None, tries: int
) -> None:
    state = stored_pending(store, down_alert().to_dict())
    racing = Racing(store, 100, lambda s: s.evolve(consecutive_failures=s.consecutive_failures + 1))
    options = {} if attempts is None else {"attempts": attempts}
    flush = flush_pending(state, [Sink()], racing, now=SENT_AT, **options)
    assert len(racing.saves) == tries
    assert (flush.delivered, flush.state_writes) == (True, 0)
    # what is returned is what the racing writer stored last
    saved = store.get_state("mx1")
    assert flush.state == saved
    assert saved is not None and saved.version == 3 + tries
    assert saved.consecutive_failures == 3 + tries and saved.pending_alert is not None
    assert SAVE_ATTEMPTS == 5


def test_an_alert_another_run_already_saved_as_sent_is_not_written_again(
    store: SqliteStore,
) -> None:
    state = stored_pending(store, down_alert().to_dict())
    racing = Racing(
        store, 1, lambda s: s.evolve(pending_alert=None, last_alert_at="2026-11-25T12:01:00Z")
    )
    flush = flush_pending(state, [Sink()], racing, now=SENT_AT)
    assert (flush.delivered, flush.state_writes) == (True, 0)
    assert len(racing.saves) == 1
    saved = store.get_state("mx1")
    assert flush.state == saved
    assert saved is not None and saved.version == 4
    assert saved.last_alert_at == "2026-11-25T12:01:00Z"


def test_a_target_removed_meanwhile_is_not_written_back(store: SqliteStore) -> None:
    state = stored_pending(store, down_alert().to_dict())
    racing = Racing(store, 1, lambda s: None)  # the target was removed meanwhile
    flush = flush_pending(state, [Sink()], racing, now=SENT_AT)
    assert (flush.delivered, flush.state_writes) == (True, 0)
    assert flush.state == TargetState("mx1")
    assert store.get_state("mx1") is None


def test_save_with_nothing_to_change_writes_nothing(store: SqliteStore) -> None:
    state = stored_pending(store, None)
    racing = Racing(store, 0)
    assert save_with(racing, state, lambda s: None, 3) == (state, 0)
    assert racing.saves == []
