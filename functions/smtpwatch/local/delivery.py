"""Alert channels and the workers that deliver the outbox to them.

``Channel``: where alerts go, under a stable key (``webhook-1``). ``OutboxSink``: the
``AlertSink`` a check sends to; it only records the alert for every channel
(``local.outbox``). ``Deliveries``: one worker thread per channel sends due entries in
order, up to ``parallel`` at once (never two of one target), each within its deadline.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from smtpwatch.core.state import Alert
from smtpwatch.local.outbox import Outbox
from smtpwatch.local.outbox_rows import GIVEN_UP, Entry

__all__ = ["Channel", "Deliveries", "DeliveryListener", "OutboxSink", "webhook_channel"]

log = logging.getLogger("smtpwatch.delivery")

PRUNE_EVERY_S = 3600.0


@dataclass
class Channel:
    key: str  # the outbox's name for it: "webhook-1", "sns"
    label: str  # as shown: "webhook https://host/path" (no token, no secret)
    send: Callable[[Alert], None]  # one attempt; raises when not delivered


def webhook_channel(
    url: str, *, index: int, timeout_s: float = 10.0, key: bytes | None = None
) -> Channel:
    from smtpwatch.local.webhook import WebhookSender

    sender = WebhookSender(url, timeout_s=timeout_s, key=key)
    return Channel(f"webhook-{index}", f"webhook {sender.display_url}", sender.send)


class DeliveryListener(Protocol):
    def notice(self, text: str) -> None: ...


class OutboxSink:
    """Records each alert for every channel; delivery happens on the workers."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Sequence[Channel],
        *,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._outbox = outbox
        self._channels = [(c.key, c.label) for c in channels]
        self._wake = wake

    def send(self, alert: Alert) -> None:
        if self._channels:
            self._outbox.enqueue(alert, self._channels)
            self._wake()


class Deliveries:
    def __init__(
        self,
        outbox: Outbox,
        channels: Sequence[Channel],
        *,
        listener: DeliveryListener | None = None,
        parallel: int = 4,
    ) -> None:
        self.outbox = outbox
        self.channels = list(channels)
        self._listener = listener
        self._parallel = max(1, parallel)
        self._stop = threading.Event()
        self._wakes: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._busy: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    # -- synchronous (run --once, tests) -------------------------------------------------

    def deliver_due(
        self, *, ignore_backoff: bool = False, channels: Sequence[Channel] | None = None
    ) -> int:
        """Try every due entry of each channel, one at a time, until none is due; with
        ``ignore_backoff`` each pending entry gets one try (a new run, a new chance).
        Returns the attempts made."""
        made = 0
        for channel in list(self.channels if channels is None else channels):
            tried: set[int] = set()
            while not self._stop.is_set():
                heads = [
                    e
                    for e in self.outbox.due(channel.key, ignore_backoff=ignore_backoff)
                    if e.seq not in tried
                ]
                if not heads:
                    break
                for entry in heads:
                    if self._stop.is_set():
                        break
                    tried.add(entry.seq)
                    self._attempt(channel, entry)
                    made += 1
        return made

    def drain(self, timeout_s: float) -> bool:
        """``deliver_due(ignore_backoff=True)``, each channel on its own thread (a stuck
        one holds up no other), for at most ``timeout_s``; True when all finished. An
        attempt still running then is left to its own deadline: its entry stays pending
        and goes out next time."""
        end = time.monotonic() + max(0.0, timeout_s)
        # The workers of a continuous run prune hourly; a cron-driven `run --once` has
        # only this moment to forget rows done long ago.
        with contextlib.suppress(sqlite3.Error):
            self.outbox.prune()
        threads = []
        for channel in self.channels:

            def run(channel: Channel = channel) -> None:
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed: stopping
                    self.deliver_due(ignore_backoff=True, channels=[channel])

            thread = threading.Thread(target=run, name=f"smtpwatch-drain-{channel.key}")
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        finished = not any(t.is_alive() for t in threads)
        if not finished:
            self._stop.set()
        return finished

    # -- workers (run) ---------------------------------------------------------------------

    def start(self) -> None:
        for channel in self.channels:
            self._wakes[channel.key] = threading.Event()
            self._busy[channel.key] = set()
            thread = threading.Thread(
                target=self._work, args=(channel,), name=f"smtpwatch-{channel.key}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """New entries were recorded: look now instead of at the next poll."""
        for event in self._wakes.values():
            event.set()

    def stop(self, *, grace_s: float = 2.0) -> None:
        """No new attempts; wait up to ``grace_s`` for those in flight (each ends at its
        own deadline anyway). An unfinished attempt's entry stays pending."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + max(0.0, grace_s)
        while time.monotonic() < deadline and self._in_flight():
            time.sleep(0.05)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _in_flight(self) -> int:
        with self._lock:
            return sum(len(lanes) for lanes in self._busy.values())

    def _work(self, channel: Channel) -> None:
        wake = self._wakes[channel.key]
        last_prune: float | None = None  # at start, whatever the uptime, then hourly
        while not self._stop.is_set():
            try:
                self._dispatch(channel)
                if last_prune is None or time.monotonic() - last_prune > PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    self.outbox.prune()
                until = self.outbox.next_wake(channel.key)
            except sqlite3.ProgrammingError:  # the store was closed: we are stopping
                return
            except sqlite3.Error as exc:  # e.g. a full disk: say so, keep trying
                self._notice(f"alert outbox: {exc}")
                until = None
            # Due entries left undispatched wait for a lane or a slot to free up: the end
            # of an attempt (or a new alert) sets ``wake``; polling them would only spin.
            left = None if until is None else until - self.outbox.clock()
            pause = 1.0 if left is None or left <= 0 else min(1.0, left)
            wake.wait(pause)
            wake.clear()

    def _dispatch(self, channel: Channel) -> None:
        with self._lock:
            busy = self._busy[channel.key]
            room = self._parallel - len(busy)
            taken = set(busy)
        if room <= 0:
            return
        for entry in self.outbox.due(channel.key, busy=taken, limit=room):
            with self._lock:
                busy.update(entry.lanes)
            threading.Thread(
                target=self._attempt_then_free, args=(channel, entry), daemon=True
            ).start()

    def _attempt_then_free(self, channel: Channel, entry: Entry) -> None:
        try:
            self._attempt(channel, entry)
        except sqlite3.ProgrammingError:
            pass
        finally:
            with self._lock:
                self._busy[channel.key].difference_update(entry.lanes)
            self._wakes[channel.key].set()

    def _attempt(self, channel: Channel, entry: Entry) -> None:
        alert = entry.outgoing()
        what = f"alert {alert.event.value} for {alert.target_id}"
        try:
            channel.send(alert)
        except Exception as exc:  # any channel trouble: keep it pending or give up
            after = self.outbox.failed(entry, exc)
            if after.state == GIVEN_UP:
                self._notice(
                    f"{what} given up on {channel.label} after {after.attempts} tries: {exc}"
                )
            elif after.attempts == 1:
                self._notice(
                    f"{what} NOT delivered to {channel.label}: {exc} (kept pending; retried)"
                )
            return
        self.outbox.delivered(entry)
        if entry.attempts:
            late = " (late)" if entry.late else ""
            self._notice(
                f"{what} delivered to {channel.label}{late} after {entry.attempts + 1} tries"
            )

    def _notice(self, text: str) -> None:
        if self._listener is None:
            log.warning("%s", text)
            return
        try:
            self._listener.notice(text)
        except Exception:  # output trouble must not stop delivery
            log.exception("listener failed")
