"""The paths a password-echoing server's text can take out of smtpwatch, each run as a
user runs it, returning every output as ``{label: text}`` for the leak searcher.

- ``probe_outputs``: ``probe()``'s result (``to_dict()`` JSON and repr) and the
  ``smtpwatch probe`` command in this process, human text (also ``-v``) and ``--json``;
- ``local_check_outputs``: ``service.check.run_check`` with the SQLite store, a
  console sink, a webhook sink (a loopback receiver) and the local secret resolver
  reading an ``env:`` password_ref; the target alerts on its first failure after one
  re-check (``failures_before_alert=1``, ``recheck_delay_s=1``, the sleep skipped);
  with ``rotated_to`` the environment variable holds the new password from its second
  read on (``auth_failed`` → the secret is fetched again → the probe is repeated);
- every database row, alert, webhook request and log record is an output.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostile.echo_server import USERNAME, EchoPlan, EchoServer
from hostile.receivers import LogCapture, WebhookReceiver
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.target import Target

__all__ = [
    "PASSWORD_VAR",
    "Rig",
    "RotatingEnviron",
    "local_check_outputs",
    "probe_outputs",
    "sqlite_rows",
    "target_fields",
]

PASSWORD_VAR = "SMTPWATCH_HOSTILE_TEST_PASSWORD"
SCHEDULED_AT = "2026-12-07T12:00:00Z"


@dataclass
class Rig:
    """The module's long-lived pieces: servers per loopback address, receivers."""

    servers: dict[str, EchoServer]
    ca_pem: str
    ca_file: str
    env: ProbeEnvironment
    webhook: WebhookReceiver
    logs: LogCapture
    workdir: Path

    def __repr__(self) -> str:  # hypothesis prints it with every failing example
        return f"Rig({', '.join(s.where for s in self.servers.values())})"


def target_fields(server: EchoServer, plan: EchoPlan, ca_pem: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "target_id": "hostile",
        "host": server.host,
        "port": server.port,
        "encryption": plan.encryption,
        "login": True,
        "username": USERNAME,
        "password_ref": f"env:{PASSWORD_VAR}",
        "auth_methods": list(plan.methods),
        "ca_bundle": ca_pem,
        "timeout_s": 5,
        "allow_plaintext_auth": plan.mode == "fallback",
    }
    fields.update(extra)
    return fields


@contextlib.contextmanager
def _env_var(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _cli(argv: list[str]) -> str:
    from smtpwatch.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # usage errors
            code = exc.code if isinstance(exc.code, int) else 3
    return f"exit {code}\n{out.getvalue()}\n{err.getvalue()}"


def cli_probe_argv(server: EchoServer, plan: EchoPlan, ca_file: str) -> list[str]:
    argv = [
        "probe",
        server.where,
        "--user",
        USERNAME,
        "--password-env",
        PASSWORD_VAR,
        "--ca-bundle",
        ca_file,
        "--encryption",
        plan.encryption,
        "--timeout",
        "5",
        "--auth-methods",
        ",".join(plan.methods),
    ]
    if plan.mode == "fallback":
        argv.append("--allow-plaintext-auth")
    return argv


def probe_outputs(rig: Rig, server: EchoServer, plan: EchoPlan, password: str) -> dict[str, str]:
    """One ``probe()`` and three ``smtpwatch probe`` runs (text, ``-v``, ``--json``)."""
    target = Target(**target_fields(server, plan, rig.ca_pem))
    result = probe(target, password=password, env=rig.env)
    outputs = {
        "probe result JSON": json.dumps(result.to_dict()),
        "probe result repr": repr(result),
    }
    argv = cli_probe_argv(server, plan, rig.ca_file)
    with _env_var(PASSWORD_VAR, password):
        outputs["smtpwatch probe (text)"] = _cli(argv)
        outputs["smtpwatch probe -v"] = _cli([*argv, "-v"])
        outputs["smtpwatch probe --json"] = _cli([*argv, "--json"])
    outputs["log records"] = "\n".join(rig.logs.take())
    return outputs


class RotatingEnviron(Mapping[str, str]):
    """An environment whose password variable holds ``first`` at its first read and
    ``then`` at every later read: the secret was rotated between two fetches."""

    def __init__(self, first: str, then: str | None = None) -> None:
        self._values = [first, then if then is not None else first]
        self.reads = 0

    def __getitem__(self, key: str) -> str:
        if key != PASSWORD_VAR:
            raise KeyError(key)
        value = self._values[min(self.reads, 1)]
        self.reads += 1
        return value

    def __iter__(self) -> Iterator[str]:
        return iter([PASSWORD_VAR])

    def __len__(self) -> int:
        return 1


def sqlite_rows(path: Path) -> str:
    """Every row of every table, as text."""
    conn = sqlite3.connect(str(path))
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        lines = []
        for name in names:
            for row in conn.execute(f'SELECT * FROM "{name}"'):  # our own table names
                lines.append(f"{name}: {row!r}")
        return "\n".join(lines)
    finally:
        conn.close()


def local_check_outputs(
    rig: Rig,
    server: EchoServer,
    plan: EchoPlan,
    password: str,
    *,
    rotated_to: str | None = None,
) -> dict[str, str]:
    """``run_check`` as ``smtpwatch run`` does it, every output it leaves."""
    from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver
    from smtpwatch.local.sinks import ConsoleSink, WebhookSink
    from smtpwatch.local.sqlite_store import SqliteStore
    from smtpwatch.service.check import CheckDeps, default_probe_fn, run_check

    fields = target_fields(
        server, plan, rig.ca_pem, failures_before_alert=1, recheck_delay_s=1, interval_s=60
    )
    target = Target(**fields)
    with tempfile.TemporaryDirectory(dir=rig.workdir) as tmp:
        db = Path(tmp) / "smtpwatch.db"
        console = io.StringIO()
        store = SqliteStore(db)
        try:
            store.put_item(fields)
            deps = CheckDeps(
                states=store,
                results=store,
                sinks=[ConsoleSink(console, color=False), WebhookSink(rig.webhook.url)],
                secrets=LocalSecretResolver(
                    files=FileSecretStore(Path(tmp) / "secrets"),
                    environ=RotatingEnviron(password, rotated_to),
                ),
                probe_fn=default_probe_fn(rig.env),
                sleep=lambda _s: None,
            )
            outcome = run_check(target, scheduled_at=SCHEDULED_AT, deps=deps)
        finally:
            store.close()
        outputs = {
            "check outcome repr": repr(outcome),
            "SQLite rows": sqlite_rows(db),
            "console alert": console.getvalue(),
            "webhook requests": "\n".join(rig.webhook.take()),
            "log records": "\n".join(rig.logs.take()),
        }
    return outputs
