"""Benchmark: checking stays on schedule whatever the webhook does; pending alerts
arrive, in order, once the webhook is fixed.

    .venv/bin/python bench/delivery.py [--seconds 30] [--interval 10] [--kinds drip,hang,...]

For each misbehaving receiver in turn — one that drips its answer a byte a second, one
that never answers, one that redirects (302), one that answers 500, one that fails
every other request — a fresh store gets four targets at ``--interval`` seconds: two
down from the start (refused ports), one healthy, and one that goes down a third of
the way in and comes back at two thirds (a DOWN then a RECOVERED, both raised while the
receiver misbehaves). `smtpwatch run --concurrency 2 --webhook-timeout 5` runs for
``--seconds`` against that receiver; the checks each target got are counted from the
store (expected: seconds / interval, ± 1).

Then the receiver is "fixed" (a healthy one takes its place under the same channel,
as an operator would correct the URL) and `smtpwatch run --once` runs: the benchmark
prints what the healthy receiver got per target (events in order, late flags, distinct
alert ids) and what is still pending. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smtpwatch.local.outbox import Outbox
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import SmtpServer, closed_port
from smtpwatch.testing.webhook_receivers import (
    DripReceiver,
    HangingReceiver,
    Received,
    Reply,
    WebhookReceiver,
)

KINDS = ("drip", "hang", "redirect", "500", "flaky")


def receiver(kind: str) -> Any:
    if kind == "drip":
        return DripReceiver(every_s=1.0).start()
    if kind == "hang":
        return HangingReceiver().start()
    if kind == "redirect":
        return WebhookReceiver(Reply(302, {"Location": "https://127.0.0.1:9/moved"})).start()
    if kind == "500":
        return WebhookReceiver(500).start()
    counter = itertools.count()

    def flaky(_request: Received) -> Reply:
        return Reply(500 if next(counter) % 2 == 0 else 200)

    return WebhookReceiver(flaky).start()


def smtpwatch(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "smtpwatch", *args, "--db", str(db)]


def item(target_id: str, port: int, interval: int) -> dict[str, Any]:
    return {"target_id": target_id, "host": "127.0.0.1", "port": port, "encryption": "none",
            "interval_s": interval, "recheck_delay_s": 0, "timeout_s": 10}  # fmt: skip


def one_kind(kind: str, seconds: float, interval: int, server: SmtpServer, work: Path) -> None:
    db = work / f"{kind}.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPWATCH_")}
    env |= {"XDG_DATA_HOME": str(work / "xdg"), "PYTHONWARNINGS": "ignore"}
    with SqliteStore(db) as store:
        store.put_items([item("a-dead", closed_port(), interval),
                         item("b-dead", closed_port(), interval),
                         item("c-flap", server.port, interval),
                         item("z-good", server.port, interval)])  # fmt: skip
    bad = receiver(kind)
    stderr = work / f"{kind}.stderr"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            smtpwatch(db, "run", "-q", "--concurrency", "2", "--webhook", bad.url(),
                      "--webhook-timeout", "5"),
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )  # fmt: skip
        started = time.monotonic()
        flips: list[tuple[float, Callable[[], None]]] = [
            (seconds / 3, lambda: _put(db, item("c-flap", closed_port(), interval))),
            (2 * seconds / 3, lambda: _put(db, item("c-flap", server.port, interval))),
        ]
        for at, flip in flips:
            time.sleep(max(0.0, started + at - time.monotonic()))
            flip()
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        proc.send_signal(signal.SIGTERM)
        stop_at = time.monotonic()
        proc.wait(60)
        stop_s = time.monotonic() - stop_at
    accepted = []
    if kind == "flaky":  # it answered 200 to every second request, in arrival order
        accepted = [r.doc for i, r in enumerate(bad.posts()) if i % 2 == 1]
    bad.stop()
    with SqliteStore(db) as store:
        counts = {t: store.count_results(t) for t in ("a-dead", "b-dead", "c-flap", "z-good")}
        pending = len(Outbox(store).entries(states=("pending",)))
    expected = seconds / interval
    print(f"\n== {kind}: {seconds:g} s at {interval} s intervals (expected {expected:g} ± 1 each)")
    print("   checks: " + ", ".join(f"{t} {n}" for t, n in counts.items()) +
          f"; stopped {stop_s:.1f} s after SIGTERM; {pending} alerts pending")  # fmt: skip

    if accepted:
        print(f"   accepted by the flaky receiver during the run: {len(accepted)}")
        _print_per_target(accepted)
    with WebhookReceiver(200) as good:
        started = time.monotonic()
        subprocess.run(smtpwatch(db, "run", "--once", "-q", "--webhook", good.url()),
                       capture_output=True, env=env, timeout=120)  # fmt: skip
        took = time.monotonic() - started
        docs = good.docs()
    ids = {d["alert_id"] for d in docs}
    with SqliteStore(db) as store:
        left = len(Outbox(store).entries(states=("pending",)))
    print(f"   fixed: run --once {took:.1f} s delivered {len(docs)} ({len(ids)} distinct ids),"
          f" {left} still pending")  # fmt: skip
    _print_per_target(docs)
    notices = [line for line in stderr.read_text().splitlines() if line.strip()]
    print(
        f"   notices during the run: {len(notices)}" + (f", e.g. {notices[0]}" if notices else "")
    )


def _print_per_target(docs: list[dict[str, Any]]) -> None:
    per_target: dict[str, list[str]] = {}
    for doc in docs:
        tag = doc["event"] + ("(late)" if doc.get("late") else "")
        per_target.setdefault(doc["target"]["target_id"], []).append(tag)
    for target, events in sorted(per_target.items()):
        print(f"     {target}: {' -> '.join(events)}")


def _put(db: Path, target: dict[str, Any]) -> None:
    with SqliteStore(db) as store:
        store.put_items([target])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    print(f"smtpwatch delivery benchmark; python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with (
        tempfile.TemporaryDirectory(prefix="smtpwatch-bench-") as tmp,
        SmtpServer("127.0.0.1") as server,
    ):
        for kind in args.kinds.split(","):
            one_kind(kind, args.seconds, args.interval, server, Path(tmp))


if __name__ == "__main__":
    main()
