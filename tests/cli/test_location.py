"""Every result says where it ran: ``--location`` (default: the host name) on ``probe``
and ``run``, stored with each result and shown by ``status`` and ``history``.
Subprocesses against real aiosmtpd servers on loopback, as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_run_status_history import PASSWORD, Env, healthy, refused

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import Certificates, SmtpServer

StartServer = Callable[..., SmtpServer]
PLACE = "lab rack 7 (Zürich)"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def good_server(certs: Certificates, smtp_server: StartServer) -> SmtpServer:
    return smtp_server(
        "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": PASSWORD}
    )


def probe(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPWATCH_")} | extra_env
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", "probe", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


# ---- probe ------------------------------------------------------------------------------


def test_a_probe_says_the_location_it_was_given(smtp_server: StartServer) -> None:
    # GIVEN a plain SMTP server on loopback
    server = smtp_server("127.0.0.1")
    where = f"127.0.0.1:{server.port}"
    # WHEN probed with --location  THEN the result says so
    done = probe(where, "--encryption", "none", "--location", PLACE, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["location"] == PLACE
    # ...without it, SMTPWATCH_LOCATION, else this machine's host name
    env_named = probe(where, "--encryption", "none", "--json", SMTPWATCH_LOCATION="edge-2")
    assert json.loads(env_named.stdout)["location"] == "edge-2"
    plain = probe(where, "--encryption", "none", "--json")
    assert json.loads(plain.stdout)["location"] == socket.gethostname()
    # ...and the option wins over the variable
    both = probe(where, "--encryption", "none", "--json", "--location", "a", SMTPWATCH_LOCATION="b")
    assert json.loads(both.stdout)["location"] == "a"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 65, "at most 64 characters"),
        ("lab\nrack", "control characters"),
        ("lab\x1b[31mrack", "control characters"),
    ],
    ids=["empty", "blank", "65 characters", "line break", "escape"],
)
def test_a_bad_location_is_refused_naming_the_option_or_the_variable(
    smtp_server: StartServer, value: str, reason: str
) -> None:
    server = smtp_server("127.0.0.1")
    where = f"127.0.0.1:{server.port}"
    done = probe(where, "--encryption", "none", f"--location={value}")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "--location: " in done.stderr and reason in done.stderr
    done = probe(where, "--encryption", "none", SMTPWATCH_LOCATION=value)
    assert done.returncode == 3 and done.stdout == ""
    assert "SMTPWATCH_LOCATION: " in done.stderr and reason in done.stderr


def test_a_64_character_location_is_kept_whole(smtp_server: StartServer) -> None:
    server = smtp_server("127.0.0.1")
    name = "L" * 63 + "é"
    done = probe(f"127.0.0.1:{server.port}", "--encryption", "none", "--location", name, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["location"] == name


# ---- run, status, history ------------------------------------------------------------------


def test_run_stores_the_location_and_status_and_history_show_it(
    env: Env, certs: Certificates, good_server: SmtpServer
) -> None:
    # GIVEN a healthy target and a refused one
    env.put(healthy(certs, good_server), refused())
    # WHEN one sweep runs from a named location
    assert env("run", "--once", "--location", PLACE).returncode == 2
    # THEN status shows it for each target, in text and in JSON
    text = env("status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "LOCATION" in lines[0].split()
    for target_id in ("good", "dead"):
        line = next(x for x in lines if x.startswith(target_id))
        assert PLACE in line
    rows = {r["target_id"]: r for r in json.loads(env("status", "--json").stdout)}
    assert rows["good"]["location"] == PLACE and rows["dead"]["location"] == PLACE
    # AND history shows where the last check and each failure ran
    report = env("history", "dead")
    assert report.returncode == 0, report.stderr
    assert f"from {PLACE}" in report.stdout
    header = next(x for x in report.stdout.splitlines() if x.startswith("WHEN"))
    assert header.split()[:2] == ["WHEN", "LOCATION"]
    failure = next(x for x in report.stdout.splitlines()[1:] if x.startswith("20"))
    assert "connect_refused" in failure
    assert PLACE in failure
    data = json.loads(env("history", "dead", "--json").stdout)
    assert data["last_location"] == PLACE
    assert data["locations"] == {PLACE: 1}
    assert [f["location"] for f in data["recent_failures"]] == [PLACE]


def test_run_without_a_location_stores_the_host_name(env: Env) -> None:
    env.put(refused())
    env("run", "--once")
    (row,) = json.loads(env("status", "--json").stdout)
    assert row["location"] == socket.gethostname()
    # ...and SMTPWATCH_LOCATION names it when set
    env.env["SMTPWATCH_LOCATION"] = "cron-box"
    env("run", "--once")
    data = json.loads(env("history", "dead", "--json").stdout)
    assert data["last_location"] == "cron-box"
    assert data["locations"] == {socket.gethostname(): 1, "cron-box": 1}


@pytest.mark.parametrize("value", ["", "x" * 65, "a\tb"], ids=["empty", "65", "tab"])
def test_run_refuses_a_bad_location_and_stores_nothing(env: Env, value: str) -> None:
    env.put(refused())
    done = env("run", "--once", f"--location={value}")
    assert done.returncode == 3
    assert "--location: " in done.stderr and "Traceback" not in done.stderr
    env.env["SMTPWATCH_LOCATION"] = value
    done = env("run", "--once")
    assert done.returncode == 3
    assert "SMTPWATCH_LOCATION: " in done.stderr and "Traceback" not in done.stderr
    with SqliteStore(env.db) as store:
        assert list(store.iter_results("dead")) == []


def test_a_result_stored_before_locations_shows_as_unknown(env: Env) -> None:
    # GIVEN a result stored by an older version (its document has no location)
    env.put(refused())
    env("run", "--once", "--location", "new")
    with SqliteStore(env.db) as store:
        (result,) = store.iter_results("dead")
        doc = result.to_dict()
    del doc["location"]
    with sqlite3.connect(env.db) as conn:
        conn.execute("UPDATE results SET data = ?", (json.dumps(doc),))
        conn.execute("DELETE FROM state")
    # WHEN status and history read it  THEN they work, the location unknown
    text = env("status")
    assert text.returncode == 0, text.stderr
    (row,) = json.loads(env("status", "--json").stdout)
    assert row["location"] is None
    data = json.loads(env("history", "dead", "--json").stdout)
    assert data["last_location"] is None and data["locations"] == {}
    report = env("history", "dead")
    assert report.returncode == 0 and " from " not in report.stdout


def test_a_target_that_cannot_be_probed_still_says_where_it_was_checked(env: Env) -> None:
    # GIVEN a target whose password is in a variable that is not set (a config result)
    env.put(
        refused("nopw")
        | {
            "encryption": "explicit",
            "login": True,
            "username": "monitor",
            "password_ref": "env:SMTPWATCH_NOPE_PW",
        }
    )
    # WHEN checked from a named location
    done = env("run", "--once", "--location", PLACE)
    assert "config" in done.stdout, done.stdout + done.stderr
    # THEN its config result says where, like any other
    data = json.loads(env("history", "nopw", "--json").stdout)
    assert [f["kind"] for f in data["recent_failures"]] == ["config"]
    assert data["last_location"] == PLACE
