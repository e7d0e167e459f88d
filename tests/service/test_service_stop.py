"""The service's own command lines, run for real: the systemd unit's ExecStart with its
Environment, and the image's ENTRYPOINT + CMD with its ENV as PID 1 of a fresh PID
namespace, as in a container. On the stop signal (SIGTERM) the check in flight finishes
and is stored, the database is sound, and the process exits 0 before the service
manager's deadline would kill it. The image's health check answers for the running
process."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from service_files import (
    DOCKER_DIR,
    SYSTEMD_DIR,
    child_of,
    dockerfile_instructions,
    exec_form,
    final_stage,
    image_environment,
    local_argv,
    unit_environment,
    unit_settings,
)

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import HostileServer, closed_port

GREETING_DELAY_S = 2.0  # each check takes this long: SIGTERM finds one in flight
DOCKER_STOP_TIMEOUT_S = 10  # `docker stop` sends SIGKILL after this by default
SERVE_PASSWORD = "health-Pa55word"


class Service:
    """One running service process; its stdout lines and stderr are collected by
    threads as they come (so neither pipe can fill and block it)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: list[str] = []
        self._err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def stop(self, pid: int, signum: int, deadline_s: float) -> tuple[int, float, str]:
        """Send ``signum`` to ``pid``; (exit code, seconds to exit, stderr)."""
        os.kill(pid, signum)
        sent = time.monotonic()
        code = self.proc.wait(timeout=deadline_s + 30)
        exited = time.monotonic() - sent
        for reader in self._readers:  # the pipes are at their end once it has exited
            reader.join(timeout=30)
        return code, exited, "".join(self._err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _wait_for(predicate: Callable[[], object], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SMTPWATCH_")) and k != "XDG_DATA_HOME"
    }
    return env | {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # any AWS call goes nowhere
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def slow_server() -> Iterator[HostileServer]:
    with HostileServer.delayed(GREETING_DELAY_S) as server:
        yield server


def _put_slow_target(db: Path, server: HostileServer) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    with SqliteStore(db) as store:
        store.put_items(
            [
                {
                    "target_id": "slow",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "encryption": "none",
                    "timeout_s": 30,
                    "interval_s": 3600,
                }
            ]
        )


def _assert_stored_and_sound(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT target_id FROM results").fetchall()
    finally:
        conn.close()
    assert rows == [("slow",)]  # the check in flight when the signal came


def _seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+)(s|min)?", value)
    assert found is not None, value
    return int(found[1]) * (60 if found[2] == "min" else 1)


def test_the_units_command_stores_the_check_in_flight_and_exits_0_on_sigterm(
    tmp_path: Path, slow_server: HostileServer
) -> None:
    settings = unit_settings(SYSTEMD_DIR / "smtpwatch.service")
    values = dict(settings)
    assert values["KillSignal"] == "SIGTERM"
    stop_timeout_s = _seconds(values["TimeoutStopSec"])
    unit_env = unit_environment(settings)
    db = tmp_path / "state" / Path(unit_env["SMTPWATCH_DB"]).name
    env = _base_env(tmp_path) | unit_env | {"SMTPWATCH_DB": str(db)}
    _put_slow_target(db, slow_server)

    service = Service(local_argv(shlex.split(values["ExecStart"])), env)
    try:
        _wait_for(lambda: slow_server.connections >= 1)
        code, exited_s, err = service.stop(service.proc.pid, signal.SIGTERM, stop_timeout_s)
    finally:
        service.kill()
    assert code == 0, err
    assert exited_s < stop_timeout_s  # before systemd's SIGKILL
    assert "Traceback" not in err
    assert service.lines[-1].rstrip().endswith("stopped"), service.lines
    _assert_stored_and_sound(db)


def _pid1_argv(argv: list[str]) -> list[str]:
    """``argv`` as PID 1 of a new PID namespace (a user namespace too when not root)."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--pid", "--fork", "--kill-child", *argv]


@pytest.fixture
def pid_namespaces() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PID namespaces are Linux's")
    try:
        probe = subprocess.run(
            _pid1_argv(["sh", "-c", "echo $$"]), capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError:
        pytest.skip("unshare (util-linux) is not installed")
    if probe.stdout.strip() != "1":
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.strip()}")


def _healthcheck(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = DOCKER_DIR / Path(argv[-1]).name
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_images_command_as_pid_1_is_healthy_then_stops_cleanly_on_its_stop_signal(
    tmp_path: Path, slow_server: HostileServer, pid_namespaces: None
) -> None:
    instructions = final_stage(dockerfile_instructions(DOCKER_DIR / "Dockerfile"))
    last = {word: args for word, args in instructions}
    assert last["STOPSIGNAL"] == "SIGTERM"
    cmd = exec_form(last["CMD"])
    serve = cmd.index("--serve") + 1
    assert cmd[serve] == "127.0.0.1:9925"  # the health check's default address
    cmd[serve] = "127.0.0.1:0"  # here: any free port, reported by the process
    image_env = image_environment(instructions)
    db = tmp_path / "volume" / Path(image_env["SMTPWATCH_DB"]).name
    env = _base_env(tmp_path) | image_env | {"SMTPWATCH_DB": str(db)}
    env["SMTPWATCH_SERVE_PASSWORD"] = SERVE_PASSWORD
    _put_slow_target(db, slow_server)

    service = Service(_pid1_argv(local_argv([*exec_form(last["ENTRYPOINT"]), *cmd])), env)
    try:
        _wait_for(lambda: slow_server.connections >= 1)
        served = next(
            found
            for line in list(service.lines)
            if (found := re.search(r"http://127\.0\.0\.1:(\d+)/", line))
        )
        url = f"http://127.0.0.1:{served[1]}/metrics"
        health = exec_form(last["HEALTHCHECK"].split(" CMD ", 1)[1])
        healthy = _healthcheck(health, env | {"SMTPWATCH_HEALTH_URL": url})
        assert (healthy.returncode, healthy.stdout) == (0, f"healthy: {url} answered 200\n")
        wrong = env | {"SMTPWATCH_HEALTH_URL": url, "SMTPWATCH_SERVE_PASSWORD": "wrong"}
        refused = _healthcheck(health, wrong)
        assert (refused.returncode, refused.stdout) == (1, f"unhealthy: {url} answered 401\n")

        pid1 = child_of(service.proc.pid)
        assert pid1 is not None
        code, exited_s, err = service.stop(pid1, signal.SIGTERM, DOCKER_STOP_TIMEOUT_S)
    finally:
        service.kill()
    assert code == 0, err
    assert exited_s < DOCKER_STOP_TIMEOUT_S  # before `docker stop`'s SIGKILL
    assert "Traceback" not in err
    assert service.lines[-1].rstrip().endswith("stopped"), service.lines
    _assert_stored_and_sound(db)


def test_the_health_check_is_unhealthy_when_nothing_answers(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/metrics"
    result = _healthcheck(["healthcheck.py"], _base_env(tmp_path) | {"SMTPWATCH_HEALTH_URL": url})
    assert result.returncode == 1
    assert result.stdout.startswith(f"unhealthy: {url}: ")
    assert "Connection refused" in result.stdout
