"""`smtpwatch serve --allow-remote` on an address that is not loopback: it serves, and
says on stderr that anyone who can reach it sees every target (and when no password
guards it). The server binds 0.0.0.0 for a moment; the test talks to it over loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_serve import Env, env, get  # noqa: F401  (env: the fixture)

from smtpwatch.local.sqlite_store import SqliteStore


@pytest.mark.parametrize(("password", "tail"), [("remote-Pa55", ""), ("", " (no password set)")])
def test_allow_remote_serves_and_warns(env: Env, password: str, tail: str) -> None:  # noqa: F811
    SqliteStore(env.db).close()
    argv = [sys.executable, "-m", "smtpwatch", "serve", "--listen", "0.0.0.0:0", "--allow-remote"]
    proc = subprocess.Popen(
        [*argv, "--db", str(env.db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env | {"SMTPWATCH_SERVE_PASSWORD": password},
    )
    env.servers.append(proc)  # stopped by the fixture
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line.startswith("serving http://0.0.0.0:"), line
    port = int(line.split(":")[2].split("/")[0])
    assert proc.stderr.readline() == (
        f"warning: serving on 0.0.0.0:{port}, not loopback: anyone who can reach it sees "
        f"every target{tail}\n"
    )
    assert get(port, "/metrics")[0] == (401 if password else 200)
