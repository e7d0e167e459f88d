"""Who can read `smtpwatch serve`. With `--allow-remote` on an address that is not
loopback it serves, and says on stderr that anyone who can reach it sees every target
(and when no password guards it; the server binds 0.0.0.0 for a moment, the test talks
to it over loopback). On loopback without a password it answers only requests that name
a loopback host, so a web page elsewhere cannot read it through DNS rebinding."""

from __future__ import annotations

import base64
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


def test_on_loopback_without_a_password_only_loopback_names_are_answered(
    env: Env,  # noqa: F811
) -> None:
    # A web page on another site can point its own name at 127.0.0.1 (DNS rebinding)
    # and read what the browser fetches from it: such a request names that site.
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": "secret-mx", "host": "10.1.2.3", "port": 25}])
    port = env.serve()
    for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.nip.io"):
        for path in ("/", "/metrics", "/api/targets", "/targets/secret-mx"):
            status, _, body = get(port, path, headers={"Host": host})
            assert status == 421, (host, path)
            assert b"secret-mx" not in body and b"10.1.2.3" not in body
            assert b"loopback" in body and b"password" in body
    for host in (f"127.0.0.1:{port}", "localhost", f"LocalHost:{port}", f"[::1]:{port}"):
        assert get(port, "/metrics", headers={"Host": host})[0] == 200, host


def test_with_a_password_any_name_is_answered(env: Env) -> None:  # noqa: F811
    SqliteStore(env.db).close()
    port = env.serve(SMTPWATCH_SERVE_PASSWORD="named-Pa55")
    assert get(port, "/metrics", headers={"Host": "mon.example"})[0] == 401
    right = "Basic " + base64.b64encode(b"x:named-Pa55").decode()
    got = get(port, "/metrics", headers={"Host": "mon.example", "Authorization": right})
    assert got[0] == 200
