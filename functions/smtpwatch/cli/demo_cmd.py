"""`smtpwatch demo`: the whole local product in about half a minute, on loopback only.

Three real SMTP servers on 127.0.0.1 (healthy, expired certificate, one that goes down
and comes back) become targets in a temporary database; the scheduler of `smtpwatch run`
checks them and the demo narrates the down alert, the re-check and the recovery. Names
map to 127.0.0.1 with ``dns_hosts``; certificates are verified against the demo CA.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpwatch.cli.color import add_color_argument, use_color
from smtpwatch.cli.demo_narrator import Narrator
from smtpwatch.cli.main import CommandError, UsageError
from smtpwatch.cli.output import add_json_argument, print_json, render_table
from smtpwatch.core.state import AlertEvent
from smtpwatch.ports import AlertSink

if TYPE_CHECKING:
    from smtpwatch.testing.servers import Certificates, SmtpServer

EXIT_FAILED = 1
HOSTNAME = "mail.smtpwatch.test"  # .test never resolves (RFC 2606): dns_hosts maps it
USER = "demo"
PASSWORD_VAR = "SMTPWATCH_DEMO_PASSWORD"
INTERVAL_S = 10  # the shortest interval smtpwatch allows locally
STEP_TIMEOUT_S = 30.0  # per step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="keep the demo's database at PATH (explore it with status/history --db PATH)",
    )
    add_color_argument(parser)
    add_json_argument(
        parser,
        "the story on stderr, then what it found as JSON on stdout (ok, seconds, targets, "
        "checks, alerts)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        from smtpwatch.testing.servers import Certificates, SmtpServer
    except ImportError:
        raise UsageError(
            "the demo needs aiosmtpd and trustme: pip install 'smtpwatch[demo]'"
        ) from None
    # Under --json the story is progress: stderr, so that stdout holds only the JSON.
    out = sys.stderr if args.json else sys.stdout
    narrator = Narrator(out, color=use_color(args.color, out))
    with tempfile.TemporaryDirectory(prefix="smtpwatch-demo-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "demo.db"
        if args.db and db.exists():
            raise UsageError(f"--db {db}: exists already; the demo wants a new database")
        code = _story(narrator, db, Certificates, SmtpServer)
    if args.json:
        if code != 0:
            raise CommandError(f"demo failed: {narrator.failure}")
        print_json(_document(narrator, args.db))
    return code


def _document(narrator: Narrator, db: str | None) -> dict[str, Any]:
    """What ``demo --json`` prints: ``ok``, ``seconds``, ``database`` (with --db, else
    null), ``targets`` (as ``status --json`` has them), ``checks`` (each target's
    statuses in order) and ``alerts`` (each alert's JSON document)."""
    from smtpwatch.core import alert_text

    return {
        "ok": True,
        "seconds": round(time.monotonic() - narrator.started, 1),
        "database": db,
        "targets": narrator.final_rows,
        "checks": narrator.results,
        "alerts": [alert_text.document(alert) for alert in narrator.alerts],
    }


def _story(
    narrator: Narrator, db: Path, certificates: type[Certificates], smtp_server: type[SmtpServer]
) -> int:
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.local.scheduler import LocalScheduler
    from smtpwatch.local.secrets import LocalSecretResolver
    from smtpwatch.local.sqlite_store import SqliteStore

    say, heading = narrator.say, narrator.heading
    # aiosmtpd logs every refused handshake with a traceback; the story tells it better.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    heading("smtpwatch demo: three SMTP servers on this machine, no AWS, no internet")
    say("Creating a throwaway certificate authority and starting the servers on 127.0.0.1 ...")
    certs = certificates(HOSTNAME)
    password = secrets.token_urlsafe(16)  # never printed
    servers = {
        "mail": smtp_server(
            "127.0.0.1",
            cert=certs.valid(),
            starttls=True,
            credentials={USER: password},
            hostname=HOSTNAME,
        ),
        "expired-cert": smtp_server(
            "127.0.0.1", cert=certs.expired(), starttls=True, hostname=HOSTNAME
        ),
        "flaky": smtp_server("127.0.0.1", cert=certs.valid(), starttls=True, hostname=HOSTNAME),
    }
    roles = {
        "mail": "healthy: STARTTLS, then AUTH as user 'demo'",
        "expired-cert": "its certificate has expired",
        "flaky": "healthy for now; we will pull its plug",
    }
    for server in servers.values():
        server.start()
    scheduler = None
    try:
        for name, server in servers.items():
            say(f"  {name:<12} 127.0.0.1:{server.port:<6} {roles[name]}")

        heading("Registering them as targets (what `smtpwatch targets add` stores)")
        items = [_target(name, server.port, certs.ca_pem) for name, server in servers.items()]
        items[0] |= {"login": True, "username": USER, "password_ref": f"env:{PASSWORD_VAR}"}
        with SqliteStore(db) as store:
            store.put_items(items)
        say(f"  database: {db}")
        say(
            f"  every {INTERVAL_S} s, {HOSTNAME} mapped to 127.0.0.1 by dns_hosts, "
            "certificates checked against the demo CA (ca_bundle)"
        )
        say(
            "  a failure is re-checked once after 1 s before it counts; one confirmed "
            "failure sends a DOWN alert"
        )

        heading("Starting the scheduler (the same one `smtpwatch run` uses)")
        store = SqliteStore(db)
        scheduler = LocalScheduler(
            store,
            sinks=[("console", _console_sink(narrator)), ("demo", narrator)],
            secrets=LocalSecretResolver(environ={PASSWORD_VAR: password}),
            concurrency=4,
            listener=narrator,
            env=ProbeEnvironment(default_ehlo_name="demo.smtpwatch.test"),
            poll_s=0.25,
        )
        stop = threading.Event()
        loop = threading.Thread(target=scheduler.run, args=(stop,), name="demo-scheduler")
        loop.start()

        def first_checks_done() -> bool:
            return all(name in narrator.results for name in servers)

        if not narrator.wait_for(first_checks_done, STEP_TIMEOUT_S):
            return _failed(narrator, "the first checks did not finish in time")
        if narrator.wait_for(lambda: _alerted(narrator, AlertEvent.DOWN, "expired-cert"), 5):
            say("expired-cert is DOWN at once: an expired certificate fails the TLS phase,")
            say("and the alert above says which phase, why, and since when.")

        heading("Pulling the plug on 'flaky' (its server stops listening)")
        servers["flaky"].stop()
        say(f"its next check is due within {INTERVAL_S} s ...")
        if not narrator.wait_for(lambda: narrator.saw(AlertEvent.DOWN, "flaky"), STEP_TIMEOUT_S):
            return _failed(narrator, "no DOWN alert for 'flaky'")
        say("DOWN: the refused connection was re-checked once, failed again, and alerted.")

        heading("Bringing 'flaky' back on the same port")
        servers["flaky"].start()
        if not narrator.wait_for(
            lambda: _alerted(narrator, AlertEvent.RECOVERED, "flaky"), STEP_TIMEOUT_S
        ):
            return _failed(narrator, "no RECOVERED alert for 'flaky'")
        say("RECOVERED: the first passing check after a DOWN alert announces the recovery.")

        stop.set()
        loop.join(10)
        scheduler.shutdown(grace_s=5)
        scheduler = None
        _finale(narrator, db)
        return 0
    finally:
        if scheduler is not None:
            scheduler.shutdown(grace_s=0)
        for server in servers.values():
            server.stop()


def _console_sink(narrator: Narrator) -> AlertSink:
    """The console sink's alert text, indented under the story and under its lock."""
    from smtpwatch.local.sinks import ConsoleSink

    return ConsoleSink(
        narrator.stream, color=narrator.color, lock=narrator.lock, indent="         │ "
    )


def _alerted(narrator: Narrator, event: AlertEvent, target_id: str) -> bool:
    """The alert went out and its check's line is printed (the story follows both)."""
    want = "ok" if event is AlertEvent.RECOVERED else "critical"
    seen = narrator.results.get(target_id) or []
    return narrator.saw(event, target_id) and bool(seen) and seen[-1] == want


def _target(name: str, port: int, ca_pem: str) -> dict[str, Any]:
    return {
        "target_id": name,
        "name": name,
        "host": HOSTNAME,
        "port": port,
        "encryption": "explicit",
        "dns_hosts": [f"127.0.0.1 {HOSTNAME}"],
        "ca_bundle": ca_pem,
        "timeout_s": 10,
        "interval_s": INTERVAL_S,
        "recheck_delay_s": 1,
        "failures_before_alert": 1,
        "tags": {"env": "demo"},
    }


def _failed(narrator: Narrator, why: str) -> int:
    narrator.failure = why
    narrator.say(f"demo failed: {why}", style="1;31")
    return EXIT_FAILED


def _finale(narrator: Narrator, db: Path) -> None:
    from smtpwatch.cli.backend import sqlite_backend
    from smtpwatch.cli.status_cmd import collect
    from smtpwatch.local.sqlite_store import SqliteStore

    narrator.heading("What `smtpwatch status` says now")
    with SqliteStore(db) as store:
        rows = collect(sqlite_backend(store))
        checks = {r["target_id"]: store.count_results(r["target_id"]) for r in rows}
    narrator.final_rows = rows
    table = render_table(
        ("TARGET", "STATE", "CHECKS", "LAST ERROR"),
        (
            (
                r["target_id"],
                r["status"],
                checks[r["target_id"]],
                (r["error"] or {}).get("kind") or "-",
            )
            for r in rows
        ),
    )
    for line in table.splitlines():
        narrator.say("  " + line)
    elapsed = time.monotonic() - narrator.started
    narrator.heading(f"Done in {elapsed:.0f} s. Next, on your own server:")
    for line in (
        "smtpwatch probe smtp.example.com:587 --user me --password-env SMTP_PW",
        "smtpwatch targets add mx1 smtp.example.com --username me --password-prompt",
        "smtpwatch run            # then: smtpwatch status / smtpwatch history mx1",
    ):
        narrator.say("  " + line)
