"""The browser tests' fleet: loopback SMTP servers, a database filled by real
`smtpwatch run --once` sweeps over them, and `smtpwatch serve` over that database.

Targets: ``mail-up`` (plain SMTP), ``mail-tls`` (STARTTLS, trusted certificate; its port
refuses connections during the sweeps in ``OUTAGE``, as if the server restarted),
``mail-expiring`` (STARTTLS, a certificate 5 days from expiry: warning), ``mail-down``
(a refused port), ``banner-xss`` (greeting ``554 <script>alert(1)</script>``, a tag value
that is HTML) and ``mail-paused`` (disabled). One more target's id, host, tag and
location are HTML: `run` refuses such an id and host, so it and its one failed check
(shaped as `run` stores one) are written into the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer, closed_port

CHROMIUM = os.environ.get("SMTPWATCH_CHROMIUM", "/usr/bin/chromium")
SWEEPS = 3  # `run --once` sweeps: three checks per target, so the bar has several cells
OUTAGE = range(1, 2)  # the sweeps during which OUTAGE_ID's port refuses connections
OUTAGE_ID = "mail-tls"
LOCATION = "lab-1"
XSS_BANNER = "<script>alert(1)</script>"
XSS_TAG = '<img src=x onerror="alert(2)">'
HTML_ID = '<img src=x onerror="alert(3)">'
HTML_HOST = "<b>bold</b>.example"
HTML_LOCATION = "<svg onload=alert(4)>"
DISABLED_ID = "mail-paused"


@dataclass(frozen=True)
class Fleet:
    """The filled database, the server that shows it, where screenshots go."""

    db: Path
    base_url: str
    screenshots: Path
    target_ids: frozenset[str]
    server_log: Path  # the server's stderr

    def stored(self, target_id: str) -> list[tuple[str, str]]:
        """(started_at, status) of every stored check of a target, oldest first, read
        straight from the database."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT data, status FROM results WHERE target_id = ? ORDER BY started",
                (target_id,),
            ).fetchall()
        return [(json.loads(data)["started_at"], status) for data, status in rows]

    def phase_counts(self, target_id: str) -> dict[str, int]:
        """Per phase, how many stored checks of a target measured it (had its ms)."""
        counts: dict[str, int] = {}
        with sqlite3.connect(self.db) as conn:
            for (data,) in conn.execute(
                "SELECT data FROM results WHERE target_id = ?", (target_id,)
            ).fetchall():
                for phase, entry in (json.loads(data).get("phases") or {}).items():
                    if isinstance(entry, dict) and entry.get("ms") is not None:
                        counts[phase] = counts.get(phase, 0) + 1
        return counts

    def alerts(self, target_id: str) -> list[tuple[str, str]]:
        """(event, delivery state) of a target's alerts in the outbox, newest first."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT event, state FROM outbox WHERE target_id = ? ORDER BY seq DESC",
                (target_id,),
            ).fetchall()
        return [(event, state) for event, state in rows]


def python_env(tmp: Path) -> dict[str, str]:
    """The environment of the `smtpwatch` subprocesses: nothing of the caller's AWS or
    smtpwatch settings, data under ``tmp``, AWS calls to a closed loopback port."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SMTPWATCH_")) and k != "XDG_DATA_HOME"
    }
    return env | {
        "XDG_DATA_HOME": str(tmp / "xdg"),
        "SMTPWATCH_SECRETS_DIR": str(tmp / "secrets"),
        "PYTHONWARNINGS": "ignore",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_COLOR": "1",
    }


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that takes every alert (204) and keeps its body."""

    received: list[bytes]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback webhook endpoint: yields its URL and the bodies it received."""
    received: list[bytes] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def smtp_servers(certs: Certificates) -> Iterator[dict[str, dict[str, Any]]]:
    """Start the servers; yield the target items that point at them."""
    with contextlib.ExitStack() as stack:
        plain = SmtpServer("127.0.0.1").start()
        stack.callback(plain.stop)
        tls = SmtpServer("127.0.0.1", cert=certs.valid(), starttls=True).start()
        stack.callback(tls.stop)
        expiring = SmtpServer("127.0.0.1", cert=certs.expiring(5), starttls=True).start()
        stack.callback(expiring.stop)
        xss = HostileServer.greeting(f"554 {XSS_BANNER}\r\n".encode()).start()
        stack.callback(xss.stop)
        yield {
            "mail-up": {"host": "127.0.0.1", "port": plain.port, "encryption": "none",
                        "tags": {"env": "prod"}},
            "mail-tls": {"host": "127.0.0.1", "port": tls.port, "encryption": "explicit",
                         "ca_bundle": certs.ca_pem, "tags": {"env": "prod", "team": "mail"}},
            "mail-expiring": {"host": "127.0.0.1", "port": expiring.port,
                              "encryption": "explicit", "ca_bundle": certs.ca_pem,
                              "tags": {"env": "staging"}},
            "mail-down": {"host": "127.0.0.1", "port": closed_port(), "encryption": "none",
                          "recheck_delay_s": 0, "tags": {"env": "prod"}},
            "banner-xss": {"host": "127.0.0.1", "port": xss.port, "encryption": "none",
                           "recheck_delay_s": 0, "tags": {"note": XSS_TAG}},
            DISABLED_ID: {"host": "127.0.0.1", "port": plain.port, "enabled": False},
        }  # fmt: skip


def fill(
    db: Path,
    targets: dict[str, dict[str, Any]],
    env: dict[str, str],
    *,
    sweeps: int = SWEEPS,
    outage: range = OUTAGE,
    hostile: bool = True,
    webhook: str | None = None,
) -> None:
    """Store the targets and sweep them ``sweeps`` times with `run --once` (alerts also
    to ``webhook``); during the sweeps in ``outage``, ``OUTAGE_ID`` points at a refused
    port. With ``hostile``, add the target whose id, host and location are HTML."""
    with SqliteStore(db) as store:
        store.put_items([{"target_id": k, **v} for k, v in targets.items()])
    refused = {"target_id": OUTAGE_ID, **targets[OUTAGE_ID], "port": closed_port()}
    argv = [sys.executable, "-m", "smtpwatch", "run", "--once", "--location", LOCATION]
    argv += ["--webhook", webhook] if webhook else []
    for sweep in range(sweeps):
        if sweep in outage or sweep - 1 in outage:
            back = {"target_id": OUTAGE_ID, **targets[OUTAGE_ID]}
            with SqliteStore(db) as store:
                store.put_items([refused if sweep in outage else back])
        done = subprocess.run(
            [*argv, "--db", str(db)], capture_output=True, text=True, env=env, timeout=120
        )
        # 2: a target is down (never 3, unknown: smtpwatch itself failed to check)
        assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}{done.stderr}"
    if hostile:
        _add_html_target(db)


def _add_html_target(db: Path) -> None:
    with SqliteStore(db) as store:
        store.put_items(
            [{"target_id": HTML_ID, "host": HTML_HOST, "port": 25, "tags": {"x": XSS_TAG}}]
        )
    started = time.time() - 1
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    phases = {"dns": {"reached": True, "ok": True, "ms": 0.1}}
    phases |= {
        "connect": {"reached": True, "ok": True, "ms": 1.2},
        "banner": {"reached": True, "ok": False, "ms": 0.3},
    }
    doc = {
        "target_id": HTML_ID,
        "host": HTML_HOST,
        "port": 25,
        "status": "critical",
        "started_at": started_at,
        "location": HTML_LOCATION,
        "error": {"phase": "banner", "kind": "banner", "message": f"greeting: 554 {XSS_BANNER}"},
        "phases": phases,
    }
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO results (target_id, ts, started, status, data) VALUES (?, ?, ?, ?, ?)",
            (HTML_ID, started_at, started, "critical", json.dumps(doc)),
        )


@contextlib.contextmanager
def serve(db: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """`smtpwatch serve` on 127.0.0.1, port 0: yields its base URL, read from the line it
    prints once its socket listens. Its stderr goes to ``log`` (a pipe nobody reads
    could fill and stall it)."""
    argv = [sys.executable, "-m", "smtpwatch", "serve", "--listen", "127.0.0.1:0"]
    with log.open("w") as errors:
        proc = subprocess.Popen(
            [*argv, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line + log.read_text()
        yield f"http://127.0.0.1:{found[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
