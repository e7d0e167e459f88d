"""Benchmark: what a notification channel (Apprise) costs, and that a hanging service
holds nothing but its own messages.

    .venv/bin/python bench/notify.py [-n 50] [--deadline 2]

Prints, never asserts:
- the first channel's set-up (importing Apprise and its plugins, parsing the URL), which
  `smtpwatch run` and `alerts test` pay once at start when a notification URL is set;
- one notification to a loopback HTTP receiver through Apprise's json:// service, median
  and worst of ``-n``, beside one webhook POST of the same alert (smtpwatch's own sender);
- a service that drips its answer one byte every half second: when the attempt returns
  (the deadline), the threads still running afterwards (the capped abandoned calls),
  and that a second channel beside it delivers at once meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from smtpwatch.core.alerting import make_test_alert
from smtpwatch.core.schedule import utc_now
from smtpwatch.local.delivery_errors import DeliveryError
from smtpwatch.local.webhook import WebhookSender
from smtpwatch.testing.webhook_receivers import DripReceiver, WebhookReceiver


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--deadline", type=float, default=2.0)
    args = parser.parse_args()
    alert = make_test_alert(now=utc_now())

    with WebhookReceiver(200) as hook:
        started = time.perf_counter()
        from smtpwatch.local.apprise_sink import AppriseSender

        sender = AppriseSender(hook.url("/n").replace("http://", "json://"), timeout_s=10)
        setup = time.perf_counter() - started
        print(f"first notification channel set up (Apprise import, plugins, URL): {ms(setup)}")
        webhook = WebhookSender(hook.url("/w"), timeout_s=10)
        for name, send in (("apprise json://", sender.send), ("webhook POST   ", webhook.send)):
            send(alert)  # warm
            times = []
            for _ in range(args.n):
                t = time.perf_counter()
                send(alert)
                times.append(time.perf_counter() - t)
            print(
                f"{name} one alert to a loopback receiver: median {ms(statistics.median(times))},"
                f" worst {ms(max(times))} (n={args.n})"
            )

    with DripReceiver(every_s=0.5) as drip, WebhookReceiver(200) as other:
        stuck = AppriseSender(drip.url().replace("http://", "json://"), timeout_s=args.deadline)
        fine = AppriseSender(other.url().replace("http://", "json://"), timeout_s=args.deadline)

        def calls() -> int:  # ours, and the pool threads Apprise 2 runs a call's plugin on
            names = ("smtpwatch-notify", "ThreadPoolExecutor")
            return sum(t.name.startswith(names) for t in threading.enumerate())

        before = calls()
        outcomes = []
        for attempt in range(1, 4):
            t = time.perf_counter()
            try:
                stuck.send(alert)
                outcomes.append(f"try {attempt}: delivered?!")
            except DeliveryError as exc:
                outcomes.append(f"try {attempt}: {ms(time.perf_counter() - t)}  {exc}")
            t = time.perf_counter()
            fine.send(alert)
            took = ms(time.perf_counter() - t)
            outcomes.append(f"         the other channel meanwhile: delivered in {took}")
        print(f"a dripping service, deadline {args.deadline:g} s:")
        for line in outcomes:
            print("  " + line)
        print(
            f"  threads of abandoned calls still running: {calls() - before} (ours and"
            " Apprise's pool thread per call)"
            f" (requests the dripping service got: {drip.requests})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
