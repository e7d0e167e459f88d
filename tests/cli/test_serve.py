"""`smtpwatch serve` as a user runs it: a database filled by a real `run --once` over
loopback aiosmtpd servers, then real HTTP requests to the server on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from smtpwatch.core.schedule import parse_ts
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import Certificates, SmtpServer, closed_port

PASSWORD = "serve-Pa55word"
SMTP_PASSWORD_VAR = "SMTPWATCH_SERVE_TEST_SMTP_PW"
HOSTILE_ID = 'evil"} 1\nprobe_success{target_id="x\\'
HOSTILE_TAG = 'say "hi" \\ back'


class Env:
    """A temporary database; runs `python -m smtpwatch ...` and serves it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.db = tmp_path / "smtpwatch.db"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "SMTPWATCH_")) and k != "XDG_DATA_HOME"
        }
        self.env |= {
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "SMTPWATCH_SECRETS_DIR": str(tmp_path / "secrets"),
            SMTP_PASSWORD_VAR: "smtp-secret",
            "PYTHONWARNINGS": "ignore",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        self.servers: list[subprocess.Popen[str]] = []

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "smtpwatch", *args, "--db", str(self.db)]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env | env, timeout=120)

    def serve(self, *args: str, **env: str) -> int:
        """Start `serve` on a free loopback port; its port once it listens."""
        argv = [sys.executable, "-m", "smtpwatch", "serve", "--listen", "127.0.0.1:0"]
        proc = subprocess.Popen(
            [*argv, "--db", str(self.db), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env | env,
        )
        self.servers.append(proc)
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + proc.stderr.read()
        return int(line.split(":")[2].split("/")[0])

    def stop(self) -> None:
        for proc in self.servers:
            proc.terminate()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                assert stream is not None
                stream.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.stop()


def get(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(got: dict[Any, float], name: str, **labels: str) -> list[float]:
    return [v for (n, ls), v in got.items() if n == name and labels.items() <= dict(ls).items()]


@pytest.fixture
def filled(env: Env, certs: Certificates, smtp_server: Callable[..., SmtpServer]) -> dict[str, Any]:
    """`run --once` over a healthy STARTTLS + AUTH server ("up", tagged) and a refused
    port ("down"); then a hostile target id with one stored result, written directly."""
    cert = certs.valid()
    server = smtp_server(
        "127.0.0.1", cert=cert, starttls=True, credentials={"monitor": "smtp-secret"}
    )
    up = {
        "target_id": "up",
        "host": "127.0.0.1",
        "port": server.port,
        "encryption": "explicit",
        "ca_bundle": certs.ca_pem,
        "login": True,
        "username": "monitor",
        "password_ref": f"env:{SMTP_PASSWORD_VAR}",
        "tags": {"team.name": HOSTILE_TAG, "env": "prod"},
    }
    down = {
        "target_id": "down",
        "host": "127.0.0.1",
        "port": closed_port(),
        "encryption": "none",
        "recheck_delay_s": 0,
    }
    with SqliteStore(env.db) as store:
        store.put_items([up, down])
    done = env("run", "--once")
    assert done.returncode == 2, done.stdout + done.stderr
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": HOSTILE_ID, "host": 'h"\\\n', "port": 25}])
    doc = {"target_id": HOSTILE_ID, "status": "ok", "started_at": "2026-01-01T00:00:00Z"}
    add_raw_result(env.db, HOSTILE_ID, doc)
    leaf = x509.load_pem_x509_certificate(cert.chain_pem.encode())
    return {"server": server, "not_after": leaf.not_valid_after_utc.timestamp()}


def add_raw_result(db: Path, target_id: str, doc: dict[str, Any]) -> None:
    started = time.time() if "started" not in doc else doc.pop("started")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO results (target_id, ts, started, status, data) VALUES (?, ?, ?, ?, ?)",
            (target_id, doc["started_at"], started, doc["status"], json.dumps(doc)),
        )


UP = {"target_id": "up", "host": "127.0.0.1"}


def stored_latest(db: Path, target_id: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        (data,) = conn.execute(
            "SELECT data FROM results WHERE target_id = ? ORDER BY started DESC LIMIT 1",
            (target_id,),
        ).fetchone()
    doc: dict[str, Any] = json.loads(data)
    return doc


def test_metrics_of_a_real_run_have_exact_values(env: Env, filled: dict[str, Any]) -> None:
    port = env.serve()
    status, headers, body = get(port, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    got = samples(text)
    up_port = str(filled["server"].port)
    latest = stored_latest(env.db, "up")
    location = str(latest.get("location") or "")  # the result's own, "" if it has none
    assert value(got, "probe_success", **UP, port=up_port, location=location) == [1]
    assert value(got, "probe_success", target_id="down") == [0]
    assert value(got, "probe_ssl_earliest_cert_expiry", **UP) == [filled["not_after"]]
    assert value(got, "probe_ip_protocol", **UP) == [4]
    phases = {
        dict(ls)["phase"]
        for (n, ls) in got
        if n == "probe_smtp_duration_seconds" and ("target_id", "up") in ls
    }
    assert {"connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth"} <= phases
    assert all(v >= 0 for v in value(got, "probe_smtp_duration_seconds", target_id="up"))
    assert value(got, "probe_duration_seconds", **UP)[0] > 0
    assert value(got, "smtpwatch_target_state", target_id="up", state="up") == [1]
    assert value(got, "smtpwatch_target_state", target_id="down", state="down") == [1]
    stamp = value(got, "smtpwatch_check_timestamp_seconds", **UP)
    assert stamp == [pytest.approx(parse_ts(latest["started_at"]).timestamp())]
    # the tags: sanitised names, the hostile value intact
    assert value(got, "probe_success", tag_team_name=HOSTILE_TAG, tag_env="prod") == [1]


def test_a_hostile_target_id_and_host_keep_the_format_intact(
    env: Env, filled: dict[str, Any]
) -> None:
    port = env.serve()
    text = get(port, "/metrics")[2].decode()
    got = samples(text)
    assert value(got, "probe_success", target_id=HOSTILE_ID, host='h"\\\n') == [1]
    assert {dict(ls)["target_id"] for (n, ls) in got} == {"up", "down", HOSTILE_ID}
    assert '\nprobe_success{target_id="x' not in text


def test_an_unknown_check_leaves_probe_success_unchanged(env: Env, filled: dict[str, Any]) -> None:
    for target_id in ("up", "down"):
        unknown = {
            "target_id": target_id,
            "status": "unknown",
            "started_at": "2099-01-01T00:00:00Z",
            "started": 4070908800.0,
            "location": "elsewhere",
        }
        add_raw_result(env.db, target_id, unknown)
    got = samples(get(env.serve(), "/metrics")[2].decode())
    assert value(got, "probe_success", target_id="up", location="elsewhere") == [1]
    assert value(got, "probe_success", target_id="down", location="elsewhere") == [0]
    assert value(got, "smtpwatch_check_timestamp_seconds", target_id="up") == [4070908800]


def test_api_gives_the_same_figures_as_json(env: Env, filled: dict[str, Any]) -> None:
    port = env.serve()
    status, headers, body = get(port, "/api/targets")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    targets = {t["target_id"]: t for t in json.loads(body)["targets"]}
    assert set(targets) == {"up", "down", HOSTILE_ID}
    assert targets["up"]["probe_success"] == 1 and targets["down"]["probe_success"] == 0
    assert targets["up"]["probe_ssl_earliest_cert_expiry"] == filled["not_after"]
    assert targets["down"]["state"] == "down"
    assert targets["down"]["last_check"]["error"]["kind"] == "connect_refused"
    assert targets["up"]["tag_labels"] == {"tag_env": "env", "tag_team_name": "team.name"}
    status, _, body = get(port, "/api/targets/up")
    detail = json.loads(body)
    assert status == 200 and len(detail["results"]) == 1
    assert detail["results"][0]["status"] == "ok" and detail["probe_ip_protocol"] == 4
    quoted = "/api/targets/" + urllib.parse.quote(HOSTILE_ID, safe="")
    assert json.loads(get(port, quoted)[2])["target_id"] == HOSTILE_ID
    assert get(port, "/api/targets/nosuch")[0] == 404


@pytest.mark.once
def test_promtool_accepts_the_metrics(env: Env, filled: dict[str, Any]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    body = get(env.serve(), "/metrics")[2]
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b""


def test_only_get_and_head_on_known_paths(env: Env) -> None:
    SqliteStore(env.db).close()
    port = env.serve()
    status, headers, body = get(port, "/metrics", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    assert get(port, "/metrics", method="POST")[0] == 405
    assert get(port, "/metrics", method="DELETE")[0] == 405
    assert get(port, "/nope")[0] == 404
    assert get(port, "/api/targetsx")[0] == 404


def test_basic_auth_from_the_environment_and_from_a_file(env: Env) -> None:
    SqliteStore(env.db).close()
    port = env.serve(SMTPWATCH_SERVE_PASSWORD=PASSWORD)
    status, headers, _ = get(port, "/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith('Basic realm="smtpwatch"')
    wrong = base64.b64encode(b"prometheus:nope").decode()
    assert get(port, "/metrics", headers={"Authorization": f"Basic {wrong}"})[0] == 401
    right = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    assert get(port, "/metrics", headers={"Authorization": f"Basic {right}"})[0] == 200
    assert get(port, "/api/targets", headers={"Authorization": f"Basic {right}"})[0] == 200
    (env.tmp / "pw").write_text("from-file\n")
    (env.tmp / "pw").chmod(0o600)
    port = env.serve("--password-file", str(env.tmp / "pw"))
    from_file = base64.b64encode(b"x:from-file").decode()
    assert get(port, "/metrics")[0] == 401
    assert get(port, "/metrics", headers={"Authorization": f"Basic {from_file}"})[0] == 200


def test_a_non_loopback_address_needs_allow_remote(env: Env) -> None:
    SqliteStore(env.db).close()
    for listen in ("0.0.0.0:9925", "[::]:9925", "192.0.2.1:9925"):
        done = env("serve", "--listen", listen)
        assert done.returncode == 3, done.stderr
        assert "not a loopback address; add --allow-remote" in done.stderr
    done = env("serve", "--listen", "example.com:9925")
    assert done.returncode == 3 and "with an IP address" in done.stderr


def test_a_missing_database_is_an_error_not_a_new_file(env: Env) -> None:
    done = env("serve", "--listen", "127.0.0.1:0")
    assert done.returncode == 2 and "no such database" in done.stderr
    assert not env.db.exists()


def test_a_slow_client_is_cut_at_the_request_timeout(env: Env) -> None:
    SqliteStore(env.db).close()
    port = env.serve("--request-timeout", "1")
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")
    closed_at = None
    try:
        for _ in range(100):  # a header byte every 0.1 s: each read is quick, the whole is not
            slow.sendall(b"X")
            time.sleep(0.1)
    except OSError:
        closed_at = time.monotonic() - started
    else:
        slow.settimeout(5)
        assert slow.recv(100) == b""
        closed_at = time.monotonic() - started
    finally:
        slow.close()
    assert 0.9 <= closed_at <= 4.0
    assert get(port, "/metrics")[0] == 200  # and others were served meanwhile


def test_an_oversized_request_head_is_refused(env: Env) -> None:
    SqliteStore(env.db).close()
    port = env.serve()
    status, _, _ = get(port, "/metrics", headers={f"X-Pad-{i}": "a" * 1000 for i in range(20)})
    assert status == 431
    assert get(port, "/" + "a" * 17000)[0] == 431


def test_run_serve_serves_beside_the_scheduler(env: Env, filled: dict[str, Any]) -> None:
    argv = [sys.executable, "-m", "smtpwatch", "run", "--serve", "0", "--db", str(env.db)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env.env
    )
    env.servers.append(proc)
    assert proc.stdout is not None
    port = None
    for line in proc.stdout:
        if "serving http://127.0.0.1:" in line:
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            break
    assert port is not None
    got = samples(get(port, "/metrics")[2].decode())
    assert value(got, "probe_success", target_id="up") == [1]
    assert value(got, "probe_success", target_id="down") == [0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    with pytest.raises(OSError):
        get(port, "/metrics")


def test_run_serve_refuses_once_and_a_remote_address(env: Env) -> None:
    SqliteStore(env.db).close()
    done = env("run", "--once", "--serve", "9925")
    assert done.returncode == 3 and "--serve goes with the continuous run" in done.stderr
    done = env("run", "--serve", "0.0.0.0:9925")
    assert done.returncode == 3
    assert "--serve 0.0.0.0:9925: not a loopback address; add --allow-remote" in done.stderr
