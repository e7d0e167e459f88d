"""The delivery workers in this process, against real loopback webhook receivers and a
real SQLite outbox: each alert arrives once and in order per target, up to ``parallel``
attempts at once and never two of one target, retries come when due, a stuck receiver
holds up no other channel, stopping and draining keep unsent alerts pending, and every
outcome is told to the operator in words they can act on."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace

import pytest

from smtpwatch.core.alerting import alert_id_for
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.delivery import Channel, Deliveries, OutboxSink, webhook_channel
from smtpwatch.local.delivery_errors import DeliveryError
from smtpwatch.local.outbox import Outbox, RetryPolicy
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.webhook_receivers import HangingReceiver, Reply, WebhookReceiver

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WAIT_S = 15.0  # the deadline of every wait for an event; real runs take well under 1 s


class Clock:
    def __init__(self) -> None:
        self.t = T0.timestamp()
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Notices:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def notice(self, text: str) -> None:
        self.lines.append(text)


class Gate:
    """A channel's ``send`` wrapped so the test decides when each attempt may proceed;
    it records who was in flight at once and on which thread each attempt ran."""

    def __init__(self, send: Callable[[Alert], None], *, open_: bool = False) -> None:
        self._send = send
        self._opened = threading.Event()
        if open_:
            self._opened.set()
        self._lock = threading.Lock()
        self.in_flight: list[str] = []
        self.most_at_once = 0
        self.started: list[str] = []
        self.threads: list[threading.Thread] = []

    def open(self) -> None:
        self._opened.set()

    def send(self, alert: Alert) -> None:
        with self._lock:
            self.started.append(alert.target_id)
            self.threads.append(threading.current_thread())
            self.in_flight.append(alert.target_id)
            self.most_at_once = max(self.most_at_once, len(self.in_flight))
        try:
            assert self._opened.wait(WAIT_S), "the test never opened the gate"
            self._send(alert)
        finally:
            with self._lock:
                self.in_flight.remove(alert.target_id)


def alert(target_id: str, event: AlertEvent = AlertEvent.DOWN, minute: int = 0) -> Alert:
    stamp = format_ts(T0 + timedelta(minutes=minute))
    return Alert(
        alert_id=alert_id_for(target_id, event, stamp),
        event=event,
        target_id=target_id,
        status="down" if event is AlertEvent.DOWN else "up",
        created_at=stamp,
        target={"target_id": target_id, "name": target_id, "host": f"{target_id}.test"},
        since=stamp,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    end = threading.Event()
    timer = threading.Timer(timeout, end.set)
    timer.start()
    try:
        while not end.is_set():
            if predicate():
                return True
            end.wait(0.02)
        return predicate()
    finally:
        timer.cancel()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "smtpwatch.db")
    yield s
    s.close()


@pytest.fixture
def outbox(store: SqliteStore, clock: Clock) -> Outbox:
    return Outbox(store, clock=clock, policy=RetryPolicy(), rng=random.Random(7))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(200) as r:
        yield r


@pytest.fixture
def running() -> Iterator[list[Deliveries]]:
    """Workers started by a test, stopped at its end whatever happened."""
    started: list[Deliveries] = []
    yield started
    for deliveries in started:
        deliveries.stop(grace_s=0)


def states(outbox: Outbox) -> list[tuple[str, str, str]]:
    return [(e.alert.target_id, e.alert.event.value, e.state) for e in outbox.entries()]


def events(receiver: WebhookReceiver) -> list[tuple[str, str]]:
    return [(d["target"]["target_id"], d["event"]) for d in receiver.docs()]


# ---- the webhook channel -----------------------------------------------------------------


def test_a_webhook_channel_is_named_by_its_place_and_shown_without_its_token(
    receiver: WebhookReceiver,
) -> None:
    channel = webhook_channel(receiver.url("/in?token=s3cret"), index=2, timeout_s=3)
    assert channel.key == "webhook-2"
    assert channel.label == f"webhook http://127.0.0.1:{receiver.port}/in?…"
    channel.send(alert("mx1"))
    (got,) = receiver.posts()
    assert got.path == "/in?token=s3cret" and got.doc["event"] == "down"


def test_a_webhook_channel_signs_with_its_key_and_keeps_its_timeout() -> None:
    with WebhookReceiver(200) as hook:
        webhook_channel(hook.url(), index=1, timeout_s=3, key=b"k" * 32).send(alert("mx1"))
        (got,) = hook.posts()
    assert got.headers["webhook-signature"].startswith("v1,")
    with HangingReceiver() as hang, pytest.raises(DeliveryError, match=r"timed out after 0\.3 s"):
        webhook_channel(hang.url(), index=1, timeout_s=0.3).send(alert("mx1"))


# ---- the sink a check sends to -------------------------------------------------------------


def test_the_outbox_sink_records_the_alert_for_every_channel_and_wakes_the_workers(
    outbox: Outbox, receiver: WebhookReceiver
) -> None:
    woken: list[bool] = []
    one = webhook_channel(receiver.url(), index=1, timeout_s=3)
    two = webhook_channel(receiver.url("/two"), index=2, timeout_s=3)
    OutboxSink(outbox, [one, two], wake=lambda: woken.append(True)).send(alert("mx1"))
    assert [(e.channel, e.label, e.state) for e in outbox.entries()] == [
        ("webhook-1", one.label, "pending"),
        ("webhook-2", two.label, "pending"),
    ]
    assert woken == [True]
    assert receiver.received == []  # nothing goes out in the check's own time


def test_the_outbox_sink_without_channels_records_nothing(outbox: Outbox) -> None:
    woken: list[bool] = []
    OutboxSink(outbox, [], wake=lambda: woken.append(True)).send(alert("mx1"))
    OutboxSink(outbox, []).send(alert("mx2"))
    assert outbox.entries() == [] and woken == []


# ---- deliver_due: the synchronous pass (run --once) ---------------------------------------


def test_deliver_due_sends_each_targets_alerts_in_order_and_counts_its_attempts(
    outbox: Outbox, receiver: WebhookReceiver
) -> None:
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    sink = OutboxSink(outbox, [channel])
    sink.send(alert("mx1", AlertEvent.DOWN, 0))
    sink.send(alert("mx2", AlertEvent.DOWN, 1))
    sink.send(alert("mx1", AlertEvent.RECOVERED, 2))
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    assert deliveries.deliver_due() == 3
    assert events(receiver) == [("mx1", "down"), ("mx2", "down"), ("mx1", "recovered")]
    assert deliveries.deliver_due() == 0  # nothing left: nothing sent twice
    assert len(receiver.posts()) == 3


def test_deliver_due_tries_a_failing_alert_once_per_pass(
    outbox: Outbox, receiver: WebhookReceiver, clock: Clock
) -> None:
    receiver.set_reply(503)
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    notices = Notices()
    deliveries = Deliveries(outbox, [channel], listener=notices)
    assert deliveries.deliver_due() == 1
    assert deliveries.deliver_due() == 0  # backing off
    # a new run gives it one more chance, and only one
    assert deliveries.deliver_due(ignore_backoff=True) == 1
    assert len(receiver.posts()) == 2
    label = channel.label
    assert notices.lines == [
        f"alert down for mx1 NOT delivered to {label}: HTTP 503 Service Unavailable"
        " (kept pending; retried)"
    ]  # said once, not at every retry
    # AND when the receiver works again, the alert goes out, saying how many tries it took
    receiver.set_reply(200)
    clock.advance(3600)
    assert deliveries.deliver_due() == 1
    assert notices.lines[-1] == f"alert down for mx1 delivered to {label} after 3 tries"
    assert states(outbox) == [("mx1", "down", "delivered")]


def test_a_late_delivery_says_late(outbox: Outbox, receiver: WebhookReceiver) -> None:
    receiver.set_reply(500)
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    sink = OutboxSink(outbox, [channel])
    notices = Notices()
    deliveries = Deliveries(outbox, [channel], listener=notices)
    sink.send(alert("mx1", AlertEvent.DOWN, 0))
    deliveries.deliver_due()
    sink.send(alert("mx1", AlertEvent.RECOVERED, 5))
    receiver.set_reply(200)
    assert deliveries.deliver_due(ignore_backoff=True) == 2
    assert notices.lines[-1] == (
        f"alert down for mx1 delivered to {channel.label} (late) after 2 tries"
    )
    assert [d["late"] for d in receiver.docs()[-2:]] == [True, False]


def test_a_refused_alert_is_given_up_after_the_bound_and_the_operator_told(
    store: SqliteStore, clock: Clock, receiver: WebhookReceiver
) -> None:
    receiver.set_reply(Reply(422, body=b"unknown field 'late'"))
    outbox = Outbox(store, clock=clock, policy=RetryPolicy(give_up_after=2))
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    notices = Notices()
    deliveries = Deliveries(outbox, [channel], listener=notices)
    deliveries.deliver_due()
    clock.advance(3600)
    deliveries.deliver_due()
    clock.advance(3600)
    assert deliveries.deliver_due() == 0  # given up: never tried again
    assert len(receiver.posts()) == 2
    error = f"HTTP 422 {HTTPStatus(422).phrase}: unknown field 'late'"
    assert notices.lines == [
        f"alert down for mx1 NOT delivered to {channel.label}: {error} (kept pending; retried)",
        f"alert down for mx1 given up on {channel.label} after 2 tries: {error}",
    ]
    assert states(outbox) == [("mx1", "down", "given_up")]


def test_deliver_due_makes_no_new_attempt_once_stopped(
    outbox: Outbox, receiver: WebhookReceiver
) -> None:
    webhook = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliveries: Deliveries

    def send_then_stop(a: Alert) -> None:
        webhook.send(a)
        deliveries.stop(grace_s=0)  # a signal arrives during the first attempt

    channel = Channel(webhook.key, webhook.label, send_then_stop)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    sink = OutboxSink(outbox, [channel])
    for target in ("mx1", "mx2", "mx3"):
        sink.send(alert(target))
    assert deliveries.deliver_due() == 1
    assert events(receiver) == [("mx1", "down")]
    assert [s for _, _, s in states(outbox)] == ["delivered", "pending", "pending"]


# ---- notices: to the listener, else the log; a broken listener stops nothing ------------


def test_without_a_listener_the_notices_go_to_the_log(
    outbox: Outbox, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.set_reply(503)
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    with caplog.at_level(logging.WARNING, logger="smtpwatch.delivery"):
        Deliveries(outbox, [channel]).deliver_due()
    (record,) = [r for r in caplog.records if r.name == "smtpwatch.delivery"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"alert down for mx1 NOT delivered to {channel.label}: HTTP 503 Service Unavailable"
        " (kept pending; retried)"
    )


def test_a_failing_listener_does_not_stop_delivery(
    outbox: Outbox, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def notice(self, text: str) -> None:
            raise OSError("stderr is gone")

    receiver.set_reply(503)
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    deliveries = Deliveries(outbox, [channel], listener=Broken())
    with caplog.at_level(logging.WARNING, logger="smtpwatch.delivery"):
        deliveries.deliver_due()
        receiver.set_reply(200)
        clock.advance(3600)
        deliveries.deliver_due()
    assert states(outbox) == [("mx1", "down", "delivered")]
    failures = [r for r in caplog.records if r.name == "smtpwatch.delivery"]
    assert [r.getMessage() for r in failures] == ["listener failed", "listener failed"]
    assert all(r.levelno == logging.ERROR and r.exc_info for r in failures)


# ---- drain: the end of run --once ------------------------------------------------------------


def test_drain_gives_each_alert_one_more_try_and_forgets_rows_done_long_ago(
    store: SqliteStore, clock: Clock, receiver: WebhookReceiver
) -> None:
    outbox = Outbox(store, clock=clock, policy=RetryPolicy(keep_done_s=86_400.0))
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    sink = OutboxSink(outbox, [channel])
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    sink.send(alert("old"))
    deliveries.deliver_due()
    clock.advance(2 * 86_400)
    receiver.set_reply(503)
    sink.send(alert("mx1", minute=1))
    deliveries.deliver_due()  # fails, backs off
    receiver.set_reply(200)
    assert deliveries.drain(10) is True
    assert events(receiver) == [("old", "down"), ("mx1", "down"), ("mx1", "down")]
    assert states(outbox) == [("mx1", "down", "delivered")]  # "old" was forgotten


def test_drain_runs_channels_side_by_side_so_a_hanging_one_stalls_no_other(
    outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    other = WebhookReceiver(200).start()
    gate = Gate(webhook_channel(receiver.url(), index=1, timeout_s=3).send)
    stuck = Channel("webhook-1", "webhook stuck", gate.send)
    good = webhook_channel(other.url(), index=2, timeout_s=3)
    try:
        deliveries = Deliveries(outbox, [stuck, good], listener=Notices())
        running.append(deliveries)
        OutboxSink(outbox, [stuck, good]).send(alert("mx1"))
        OutboxSink(outbox, [stuck, good]).send(alert("mx2", minute=1))
        # WHEN run --once drains while the first channel's receiver hangs
        assert deliveries.drain(0.5) is False
        # THEN the other channel got both alerts, and the hanging one's wait on its own
        # thread (named for it, not keeping the process alive)
        assert [d["target"]["target_id"] for d in other.docs()] == ["mx1", "mx2"]
        (thread,) = gate.threads
        assert thread.name == "smtpwatch-drain-webhook-1" and thread.daemon
        # AND once the drain gave up, no new attempt starts: mx2 stays pending there
        gate.open()
        assert wait_for(lambda: not thread.is_alive())
        assert [(e.channel, e.alert.target_id, e.state) for e in outbox.entries()] == [
            ("webhook-1", "mx1", "delivered"),
            ("webhook-1", "mx2", "pending"),
            ("webhook-2", "mx1", "delivered"),
            ("webhook-2", "mx2", "delivered"),
        ]
        assert gate.started == ["mx1"]
    finally:
        other.stop()


def test_drain_on_a_closed_store_ends_quietly(
    store: SqliteStore, outbox: Outbox, receiver: WebhookReceiver
) -> None:
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    unhandled: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: unhandled.append(args.exc_value)
    try:
        store.close()  # a signal closed the store: stopping
        assert deliveries.drain(5) is True
    finally:
        threading.excepthook = previous
    assert unhandled == [] and receiver.received == []


# ---- the workers of a continuous run ------------------------------------------------------


def test_workers_deliver_each_alert_once_in_order_per_target(
    outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    running.append(deliveries)
    (worker,) = [t for t in threading.enumerate() if t.name == "smtpwatch-webhook-1"]
    assert worker.daemon
    sink = OutboxSink(outbox, [channel], wake=deliveries.wake)
    sink.send(alert("mx1", AlertEvent.DOWN, 0))
    sink.send(alert("mx1", AlertEvent.RECOVERED, 1))
    sink.send(alert("mx1", AlertEvent.DOWN, 2))
    assert wait_for(lambda: len(receiver.posts()) >= 3)
    assert wait_for(lambda: all(s == "delivered" for _, _, s in states(outbox)))
    assert events(receiver) == [("mx1", "down"), ("mx1", "recovered"), ("mx1", "down")]


def test_never_two_attempts_of_one_target_at_once_nor_one_alert_twice(
    outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    gate_mx1 = threading.Event()
    webhook = webhook_channel(receiver.url(), index=1, timeout_s=3)

    def send(a: Alert) -> None:
        if a.target_id == "mx1":
            assert gate_mx1.wait(WAIT_S)
        webhook.send(a)

    channel = Channel(webhook.key, webhook.label, send)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    running.append(deliveries)
    sink = OutboxSink(outbox, [channel], wake=deliveries.wake)
    sink.send(alert("mx1", AlertEvent.DOWN, 0))
    sink.send(alert("mx1", AlertEvent.RECOVERED, 1))
    sink.send(alert("b", AlertEvent.DOWN, 2))
    # b is not held up by mx1's slow receiver; after b the worker looks again (and again
    # after c) while mx1's first alert is still in flight
    assert wait_for(lambda: ("b", "down", "delivered") in states(outbox))
    sink.send(alert("c", AlertEvent.DOWN, 3))
    assert wait_for(lambda: ("c", "down", "delivered") in states(outbox))
    assert events(receiver) == [("b", "down"), ("c", "down")]
    gate_mx1.set()
    assert wait_for(lambda: all(s == "delivered" for _, _, s in states(outbox)))
    assert events(receiver) == [
        ("b", "down"), ("c", "down"), ("mx1", "down"), ("mx1", "recovered"),
    ]  # fmt: skip


@pytest.mark.parametrize(("parallel", "expected"), [(None, 4), (2, 2), (0, 1)])
def test_at_most_parallel_attempts_are_in_flight(
    outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries],
    parallel: int | None, expected: int,
) -> None:  # fmt: skip
    gate = Gate(webhook_channel(receiver.url(), index=1, timeout_s=3).send)
    channel = Channel("webhook-1", "webhook gated", gate.send)
    options = {} if parallel is None else {"parallel": parallel}
    deliveries = Deliveries(outbox, [channel], listener=Notices(), **options)
    sink = OutboxSink(outbox, [channel], wake=deliveries.wake)
    targets = [f"t{i}" for i in range(6)]
    for minute, target in enumerate(targets):
        sink.send(alert(target, minute=minute))
    deliveries.start()
    running.append(deliveries)
    assert wait_for(lambda: len(gate.in_flight) == expected)
    # the rest wait for a free slot, not for a poll: more are not started meanwhile
    for _ in range(3):
        deliveries.wake()
        assert not wait_for(lambda: len(gate.started) > expected, 0.2)
    assert all(t.daemon for t in gate.threads)
    gate.open()
    assert wait_for(lambda: all(s == "delivered" for _, _, s in states(outbox)))
    assert gate.most_at_once == expected
    assert sorted(gate.started) == targets  # each once
    assert len(receiver.posts()) == 6


def test_a_retry_comes_when_it_is_due_even_after_a_long_back_off(
    store: SqliteStore, clock: Clock, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    # back-offs of 5-10 minutes (on the outbox's clock): the worker still looks every second
    outbox = Outbox(store, clock=clock, policy=RetryPolicy(base_s=600.0), rng=random.Random(7))
    receiver.set_reply(503)
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    running.append(deliveries)
    OutboxSink(outbox, [channel], wake=deliveries.wake).send(alert("mx1"))
    assert wait_for(lambda: outbox.entries()[0].attempts == 1)
    receiver.set_reply(200)
    clock.advance(601)  # the back-off is over; nothing wakes the worker but its own poll
    assert wait_for(lambda: states(outbox) == [("mx1", "down", "delivered")])
    assert len(receiver.posts()) == 2


def test_an_idle_worker_does_not_spin(
    outbox: Outbox, clock: Clock, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    receiver.set_reply(503)
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    deliveries.start()
    running.append(deliveries)
    assert wait_for(lambda: outbox.entries()[0].attempts == 1)  # now backing off
    reads = clock.reads
    polls = threading.Event()
    # about two of its polls (one a second); a spinning loop reads the clock thousands of
    # times in that while
    polls.wait(2.0)
    assert clock.reads - reads < 100


def test_a_stuck_receiver_on_one_channel_holds_up_no_other(
    outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    gate = Gate(webhook_channel(receiver.url(), index=1, timeout_s=3).send)
    stuck = Channel("webhook-1", "webhook stuck", gate.send)
    with WebhookReceiver(200) as other:
        good = webhook_channel(other.url(), index=2, timeout_s=3)
        deliveries = Deliveries(outbox, [stuck, good], listener=Notices())
        deliveries.start()
        running.append(deliveries)
        sink = OutboxSink(outbox, [stuck, good], wake=deliveries.wake)
        sink.send(alert("mx1", AlertEvent.DOWN, 0))
        sink.send(alert("mx1", AlertEvent.RECOVERED, 1))
        assert wait_for(lambda: len(other.posts()) == 2)
        assert [d["event"] for d in other.docs()] == ["down", "recovered"]
        gate.open()
        assert wait_for(lambda: len(receiver.posts()) == 2)
    assert [d["event"] for d in receiver.docs()] == ["down", "recovered"]


def test_stop_waits_for_an_attempt_in_flight_within_its_grace(
    outbox: Outbox, receiver: WebhookReceiver
) -> None:
    gate = Gate(webhook_channel(receiver.url(), index=1, timeout_s=3).send)
    channel = Channel("webhook-1", "webhook gated", gate.send)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    OutboxSink(outbox, [channel], wake=deliveries.wake).send(alert("mx1"))
    assert wait_for(lambda: gate.in_flight == ["mx1"])
    stopper = threading.Thread(target=deliveries.stop, kwargs={"grace_s": WAIT_S})
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive(), "stop returned with an attempt in flight and grace left"
    gate.open()
    stopper.join(WAIT_S)
    assert not stopper.is_alive()
    # THEN the attempt finished and was recorded before stop returned
    assert states(outbox) == [("mx1", "down", "delivered")]
    assert not any(t.name == "smtpwatch-webhook-1" for t in threading.enumerate())


def test_stop_without_grace_leaves_the_alert_in_flight_pending(
    store: SqliteStore, outbox: Outbox, receiver: WebhookReceiver
) -> None:
    gate = Gate(webhook_channel(receiver.url(), index=1, timeout_s=3).send)
    channel = Channel("webhook-1", "webhook gated", gate.send)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    OutboxSink(outbox, [channel], wake=deliveries.wake).send(alert("mx1"))
    assert wait_for(lambda: gate.in_flight == ["mx1"])
    deliveries.stop(grace_s=0)
    assert states(outbox) == [("mx1", "down", "pending")]  # sent again at the next start
    # AND the attempt that ends after the store was closed ends quietly
    unhandled: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: unhandled.append(args.exc_value)
    try:
        store.close()
        gate.open()
        assert wait_for(lambda: not gate.in_flight)
        (thread,) = gate.threads
        thread.join(WAIT_S)
    finally:
        threading.excepthook = previous
    assert unhandled == []
    assert len(receiver.posts()) == 1


def test_a_closed_store_ends_the_worker_quietly(
    store: SqliteStore, outbox: Outbox, receiver: WebhookReceiver
) -> None:
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    notices = Notices()
    deliveries = Deliveries(outbox, [channel], listener=notices)
    deliveries.start()
    (worker,) = [t for t in threading.enumerate() if t.name == "smtpwatch-webhook-1"]
    store.close()
    deliveries.wake()
    assert wait_for(lambda: not worker.is_alive())
    assert notices.lines == []


def test_an_outbox_error_is_reported_and_the_worker_keeps_going(
    store: SqliteStore, outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    notices = Notices()
    deliveries = Deliveries(outbox, [channel], listener=notices)
    OutboxSink(outbox, [channel]).send(alert("mx1"))
    with store.writing() as conn:  # the outbox is unreadable for a while
        conn.execute("ALTER TABLE outbox RENAME TO outbox_away")
    deliveries.start()
    running.append(deliveries)
    assert wait_for(lambda: bool(notices.lines))
    assert notices.lines[0] == "alert outbox: no such table: outbox"
    with store.writing() as conn:
        conn.execute("ALTER TABLE outbox_away RENAME TO outbox")
    assert wait_for(lambda: states(outbox) == [("mx1", "down", "delivered")])
    assert events(receiver) == [("mx1", "down")]


def test_the_worker_forgets_rows_done_long_ago(
    store: SqliteStore, clock: Clock, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    outbox = Outbox(store, clock=clock, policy=RetryPolicy(keep_done_s=86_400.0))
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("old"))
    Deliveries(outbox, [channel], listener=Notices()).deliver_due()
    clock.advance(2 * 86_400)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    running.append(deliveries)
    assert wait_for(lambda: outbox.entries() == [])


def test_a_worker_started_soon_after_boot_also_forgets_rows_done_long_ago(
    store: SqliteStore,
    clock: Clock,
    receiver: WebhookReceiver,
    running: list[Deliveries],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a machine booted a minute ago (the monotonic clock counts from boot), as when
    # the monitor runs as a service started at boot
    import time as real_time

    import smtpwatch.local.delivery as delivery

    boot = real_time.monotonic() - 60.0
    since_boot = SimpleNamespace(
        monotonic=lambda: real_time.monotonic() - boot, sleep=real_time.sleep
    )
    monkeypatch.setattr(delivery, "time", since_boot)
    outbox = Outbox(store, clock=clock, policy=RetryPolicy(keep_done_s=86_400.0))
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    OutboxSink(outbox, [channel]).send(alert("old"))
    Deliveries(outbox, [channel], listener=Notices()).deliver_due()
    clock.advance(2 * 86_400)
    # WHEN the workers start THEN they forget the rows done long ago at once, as on a
    # machine up for hours (not only an hour later)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()
    running.append(deliveries)
    assert wait_for(lambda: outbox.entries() == [])


def test_drain_keeps_to_its_bound_however_many_channels_hang(
    outbox: Outbox, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    # run --once promises to be done with delivery within the webhook timeout plus a
    # margin, whatever the receivers do: the bound is the drain's, not one per channel
    gates = [Gate(webhook_channel(receiver.url(), index=i, timeout_s=3).send) for i in range(4)]
    channels = [Channel(f"webhook-{i}", f"webhook {i}", g.send) for i, g in enumerate(gates)]
    deliveries = Deliveries(outbox, channels, listener=Notices())
    running.append(deliveries)
    OutboxSink(outbox, channels).send(alert("mx1"))
    started = time.monotonic()
    assert deliveries.drain(0.3) is False
    elapsed = time.monotonic() - started
    for gate in gates:
        gate.open()
    assert elapsed < 0.3 + 2.5, f"drain(0.3) took {elapsed:.1f} s with 4 stuck channels"


def test_stop_keeps_to_its_grace_while_another_process_holds_the_database(
    tmp_path: Path, store: SqliteStore, outbox: Outbox, receiver: WebhookReceiver
) -> None:
    import sqlite3

    # GIVEN another process writing to the database (an import, a second smtpwatch): the
    # worker's own write waits for it (SQLite's busy timeout is 30 s)
    other = sqlite3.connect(str(tmp_path / "smtpwatch.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    try:
        deliveries.start()
        # WHEN the run stops with a grace of 0.3 s THEN stop returns (the worker is left to
        # end when the database frees up; its thread does not keep the process alive)
        stopper = threading.Thread(target=deliveries.stop, kwargs={"grace_s": 0.3})
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive(), "stop waited for the database beyond its grace"
    finally:
        other.execute("COMMIT")
        other.close()
    for worker in [t for t in threading.enumerate() if t.name == "smtpwatch-webhook-1"]:
        assert wait_for(lambda: not worker.is_alive())  # noqa: B023 (used at once)


def test_the_worker_prunes_hourly_not_at_every_look(
    store: SqliteStore, clock: Clock, receiver: WebhookReceiver, running: list[Deliveries]
) -> None:
    outbox = Outbox(store, clock=clock, policy=RetryPolicy(keep_done_s=86_400.0))
    channel = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliveries = Deliveries(outbox, [channel], listener=Notices())
    deliveries.start()  # its first look prunes (nothing is old yet)
    running.append(deliveries)
    sink = OutboxSink(outbox, [channel], wake=deliveries.wake)
    sink.send(alert("mx1"))
    assert wait_for(lambda: states(outbox) == [("mx1", "down", "delivered")])
    # WHEN that row becomes old while the worker runs on (it looks at least every second)
    clock.advance(2 * 86_400)
    sink.send(alert("mx2", minute=1))
    # THEN it stays listed until the next hourly prune (no DELETE at every look)
    assert not wait_for(lambda: len(outbox.entries()) < 2, 2.5)
    assert wait_for(lambda: ("mx2", "down", "delivered") in states(outbox))
