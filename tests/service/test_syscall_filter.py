"""The unit's system call filter lets a real `smtpwatch run` do its work. The unit's own
command, traced with strace from start to its SIGTERM stop while it checks a STARTTLS +
AUTH server (CA bundle, password from the environment) and a refused port, delivers the
refused port's alert to a webhook and answers a scrape of --serve, makes only system
calls that the unit's SystemCallFilter= allows, as `systemd-analyze syscall-filter`
expands it. Debian tools (strace, systemd-analyze): run once (``once``)."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service_files import (
    SYSTEMD_DIR,
    child_of,
    local_argv,
    unit_environment,
    unit_settings,
)

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import Certificates, SmtpServer, closed_port
from smtpwatch.testing.webhook_receivers import WebhookReceiver

pytestmark = pytest.mark.once

PASSWORD = "filter-Pa55word"
# SQLite gives a journal or WAL file its database's owner with fchown() only when the
# process runs as root (as these tests may); the service's user never makes that call.
ROOT_ONLY_CALLS = {"fchown"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {name.split('-')[0]})")
    return path


def _groups(analyze: str) -> dict[str, list[str]]:
    """Every @group of `systemd-analyze syscall-filter` and its members (calls, @groups)."""
    text = subprocess.run(
        [analyze, "syscall-filter"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.split()[0], [])
        elif not line.strip() or not line[0].isspace():
            current = None  # a blank or unindented line ends the group
        elif current is not None and not line.lstrip().startswith("#"):
            current.append(line.split()[0])
    return groups


def _expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    calls: set[str] = set()
    for name in names:
        calls |= _expand(groups[name], groups) if name.startswith("@") else {name}
    return calls


def allowed_calls(analyze: str, settings: list[tuple[str, str]]) -> set[str]:
    """The allow list, less the ``~`` lists that follow it (systemd's order)."""
    groups = _groups(analyze)
    allowed: set[str] = set()
    for key, value in settings:
        if key != "SystemCallFilter":
            continue
        if value.startswith("~"):
            allowed -= _expand(value[1:].split(), groups)
        else:
            allowed |= _expand(value.split(), groups)
    return allowed


_CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)(?:\(| resumed>)")


def traced_calls(trace: Path) -> set[str]:
    return {m[1] for line in trace.read_text().splitlines() if (m := _CALL.match(line))}


@pytest.fixture
def servers(
    certs: Certificates, smtp_server: Callable[..., SmtpServer]
) -> Iterator[tuple[SmtpServer, WebhookReceiver]]:
    server = smtp_server(
        "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": PASSWORD}
    )
    with WebhookReceiver(200) as hook:
        yield server, hook


def _wait_for(predicate: Callable[[], object], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _targets(certs: Certificates, server: SmtpServer) -> list[dict[str, Any]]:
    return [
        {
            "target_id": "relay",
            "host": "127.0.0.1",
            "port": server.port,
            "encryption": "explicit",
            "ca_bundle": certs.ca_pem,
            "login": True,
            "username": "monitor",
            "password_ref": "env:SMTPWATCH_FILTER_TEST_PW",
            "interval_s": 3600,
        },
        {
            "target_id": "dead",
            "host": "127.0.0.1",
            "port": closed_port(),
            "encryption": "none",
            "recheck_delay_s": 0,
            "interval_s": 3600,
        },
    ]


def test_a_real_run_makes_only_system_calls_the_unit_allows(
    tmp_path: Path, certs: Certificates, servers: tuple[SmtpServer, WebhookReceiver]
) -> None:
    analyze, strace = _tool("systemd-analyze"), _tool("strace")
    server, hook = servers
    settings = unit_settings(SYSTEMD_DIR / "smtpwatch.service")
    allowed = allowed_calls(analyze, settings)
    assert {"read", "write", "connect", "futex"} <= allowed
    assert not {"mount", "ptrace", "reboot", "setuid"} & allowed

    db = tmp_path / "state" / "smtpwatch.db"
    db.parent.mkdir()
    with SqliteStore(db) as store:
        store.put_items(_targets(certs, server))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    env |= unit_environment(settings) | {
        "SMTPWATCH_DB": str(db),
        "SMTPWATCH_FILTER_TEST_PW": PASSWORD,
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    command = local_argv(shlex.split(dict(settings)["ExecStart"]))
    command += ["--webhook", hook.url(), "--serve", "127.0.0.1:0"]
    trace = tmp_path / "trace"
    proc = subprocess.Popen(
        [strace, "-f", "-qq", "-o", str(trace), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    traced: int | None = None
    try:
        assert proc.stdout is not None
        served = None
        while served is None:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            served = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        traced = child_of(proc.pid)
        assert traced is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{served[1]}/metrics", timeout=30) as r:
            assert r.status == 200
        _wait_for(lambda: hook.posts())
        with SqliteStore(db) as store:
            _wait_for(lambda: store.count_results("relay") >= 1)
            latest = store.latest("relay")
        assert latest is not None and latest.status.value == "ok", latest
        os.kill(traced, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            for pid in (traced, proc.pid):
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == 0, err

    used = traced_calls(trace)
    assert {"connect", "sendto", "recvfrom", "pwrite64"} & used  # the trace is real
    refused = used - allowed
    if os.geteuid() == 0:
        refused -= ROOT_ONLY_CALLS
    assert refused == set(), sorted(refused)
