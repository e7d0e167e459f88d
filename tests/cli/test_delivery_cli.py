"""Alert delivery as an operator meets it: `run`, `run --once`, `alerts test`, `alerts
list` and `status` as subprocesses, real SMTP servers and real loopback webhook
receivers (redirecting, dripping, dead, then fixed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from test_run_status_history import (
    Env,
    StartServer,
    _result_count,
    _wait_for,
    refused,
)

from smtpwatch.local.outbox import Outbox
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import SmtpServer, closed_port
from smtpwatch.testing.webhook_receivers import DripReceiver, Reply, WebhookReceiver

SECRET_TEXT = "whsec_" + base64.b64encode(b"cli-signing-key-of-32-bytes-long").decode()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def plain(server: SmtpServer, target_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "target_id": target_id,
        "host": "127.0.0.1",
        "port": server.port,
        "encryption": "none",
        "recheck_delay_s": 0,
        "interval_s": 60,
        **extra,
    }


# ---- finding: a redirect counted as delivered ----------------------------------------


def test_alerts_test_reports_a_redirecting_webhook_as_not_delivered(env: Env) -> None:
    # GIVEN a webhook that answers 302 (whose target would take a GET)
    with WebhookReceiver(200) as final, WebhookReceiver() as hook:
        hook.set_reply(Reply(302, {"Location": final.url("/moved")}))
        # WHEN the operator tests the alert channels
        done = env("alerts", "test", "--webhook", hook.url())
        # THEN the webhook is reported as failed, naming where it points
        assert done.returncode == 1
        assert f"NOT delivered to webhook {hook.url()}" in done.stderr
        assert "HTTP 302" in done.stderr and final.url("/moved") in done.stderr
        assert "1 of 2 sinks delivered" in done.stdout
        assert final.received == []


def test_alerts_test_json_says_which_channels_took_the_alert(env: Env) -> None:
    # GIVEN one webhook that takes alerts and one that answers 500
    with WebhookReceiver(204) as good, WebhookReceiver(500) as bad:
        # WHEN a script tests the channels with --json
        done = env("alerts", "test", "--webhook", good.url("/a"), "--webhook", bad.url("/b"))
        as_json = env(
            "alerts", "test", "--json", "--webhook", good.url("/a"), "--webhook", bad.url("/b")
        )
    # THEN stdout is one document: the alert, each channel's verdict, the count
    assert as_json.returncode == done.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["alert"]["event"] == "test"
    assert [(c["channel"], c["delivered"]) for c in doc["channels"]] == [
        ("console", True),
        (f"webhook {good.url('/a')}", True),
        (f"webhook {bad.url('/b')}", False),
    ]
    assert doc["channels"][0]["error"] is None and "HTTP 500" in doc["channels"][2]["error"]
    assert (doc["delivered"], doc["total"]) == (2, 3)
    # and the person watching still reads the failure on stderr, as without --json
    assert f"NOT delivered to webhook {bad.url('/b')}" in as_json.stderr


def test_run_once_keeps_the_alert_of_a_redirecting_webhook_pending(env: Env) -> None:
    env.put(refused())
    with WebhookReceiver() as hook:
        hook.set_reply(Reply(301, {"Location": "https://127.0.0.1:9/new"}))
        done = env("run", "--once", "--webhook", hook.url(), "--webhook-timeout", "3")
    assert done.returncode == 2, done.stderr
    assert "NOT delivered" in done.stderr and "https://127.0.0.1:9/new" in done.stderr
    listing = json.loads(env("alerts", "list", "--json", "--db", str(env.db)).stdout)
    (entry,) = [e for e in listing if e["channel"].startswith("webhook")]
    assert entry["state"] == "pending" and entry["event"] == "down"
    assert "301" in entry["last_error"]


# ---- finding: a dripping webhook stalls the monitor ----------------------------------


def test_run_once_with_a_dripping_webhook_ends_at_its_deadline(env: Env) -> None:
    env.put(refused())
    with DripReceiver(every_s=1.0) as drip:
        started = time.monotonic()
        done = env("run", "--once", "--webhook", drip.url(), "--webhook-timeout", "2", timeout=60)
        elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "NOT delivered" in done.stderr
    # One attempt within `run --once`'s delivery wait: the deadline, not the drip, ends it.
    assert elapsed < 20, f"run --once took {elapsed:.1f} s"
    with SqliteStore(env.db) as store:
        state = store.get_state("dead")
    assert state is not None and state.status.value == "down"


def test_a_stuck_webhook_never_stops_checking(env: Env, smtp_server: StartServer) -> None:
    # GIVEN one healthy and two down targets at 10 s intervals, two workers, and a
    # webhook that drips its answer (each alert stuck until its deadline)
    server = smtp_server("127.0.0.1")
    env.put(
        refused("a-dead") | {"interval_s": 10},
        refused("b-dead") | {"interval_s": 10},
        plain(server, "z-good", interval_s=10),
    )
    with DripReceiver(every_s=1.0) as drip:
        proc = env.start(
            "run", "--concurrency", "2", "--webhook", drip.url(), "--webhook-timeout", "5"
        )
        try:
            assert _wait_for(lambda: _result_count(env.db, "z-good") >= 1, 15)
            time.sleep(25)
            counts = {t: _result_count(env.db, t) for t in ("a-dead", "b-dead", "z-good")}
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    # THEN every target is still checked on its schedule (25 s at 10 s: 3, give or take
    # one for where the slots fall)
    assert all(n >= 3 for n in counts.values()), counts
    assert proc.returncode == 0, err


# ---- order, lateness and restarts -----------------------------------------------------


def test_down_then_recovered_reach_a_receiver_that_was_dead_throughout(
    env: Env, smtp_server: StartServer
) -> None:
    # GIVEN a receiver that is dead while a target goes down and comes back
    dead_hook = f"http://127.0.0.1:{closed_port()}/hook"
    env.put(refused("mx"))
    env("run", "--once", "--webhook", dead_hook, "--webhook-timeout", "2")
    server = smtp_server("127.0.0.1")
    env.put(plain(server, "mx"))
    env("run", "--once", "--webhook", dead_hook, "--webhook-timeout", "2")
    with SqliteStore(env.db) as store:
        raised = {e.alert.event.value: e.alert.created_at for e in Outbox(store).entries()}
    # WHEN a later run has the webhook working (same channel, the fixed URL)
    with WebhookReceiver(200) as hook:
        done = env("run", "--once", "--webhook", hook.url())
        docs = hook.docs()
    assert done.returncode == 0, done.stderr
    # THEN it gets DOWN then RECOVERED, each with its own id and original time, and the
    # DOWN says it is late (the target recovered before it could be delivered)
    assert [d["event"] for d in docs] == ["down", "recovered"]
    down, recovered = docs
    assert down["alert_id"] != recovered["alert_id"]
    assert down["created_at"] == raised["down"] <= recovered["created_at"] == raised["recovered"]
    assert down["late"] is True and recovered["late"] is False


# ---- reporting -------------------------------------------------------------------------


def test_a_rejected_alert_is_given_up_and_reported(env: Env) -> None:
    env.put(refused())
    with WebhookReceiver(400) as hook:
        for _ in range(3):
            done = env("run", "--once", "--webhook", hook.url(), "--webhook-timeout", "3")
        assert len(hook.posts()) == 3
    assert "given up" in done.stderr
    status = env("status")
    assert "given up" in status.stdout and "HTTP 400" in status.stdout
    listing = env("alerts", "list", "--db", str(env.db))
    assert "given up" in listing.stdout and "HTTP 400" in listing.stdout
    rows = json.loads(env("alerts", "list", "--json", "--db", str(env.db)).stdout)
    assert [r["state"] for r in rows if r["channel"].startswith("webhook")] == ["given_up"]


# ---- URLs and secrets from the environment or a file ----------------------------------


def _verified(request_headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(SECRET_TEXT.removeprefix("whsec_"))
    content = f"{request_headers['webhook-id']}.{request_headers['webhook-timestamp']}.".encode()
    mac = hmac.new(key, content + body, hashlib.sha256).digest()
    return request_headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()


def test_webhook_url_and_secret_from_environment(env: Env) -> None:
    env.put(refused())
    with WebhookReceiver(204) as hook:
        env.env |= {"HOOK_URL": hook.url("/x?token=t"), "HOOK_SECRET": SECRET_TEXT}
        done = env(
            "run", "--once", "--webhook-url-env", "HOOK_URL", "--webhook-secret-env", "HOOK_SECRET"
        )
        (got,) = hook.posts()
    assert done.returncode == 2, done.stderr
    assert got.path == "/x?token=t" and _verified(got.headers, got.body)
    assert SECRET_TEXT not in done.stdout + done.stderr


def test_webhook_url_and_secret_from_files(env: Env, tmp_path: Path) -> None:
    with WebhookReceiver(200) as hook:
        url_file, secret_file = tmp_path / "url", tmp_path / "secret"
        url_file.write_text(f"# the alerts endpoint\n{hook.url()}\n")
        url_file.chmod(0o600)
        secret_file.write_text(SECRET_TEXT + "\n")
        secret_file.chmod(0o600)
        done = env(
            "alerts",
            "test",
            "--webhook-url-file",
            str(url_file),
            "--webhook-secret-file",
            str(secret_file),
        )
        (got,) = hook.posts()
    assert done.returncode == 0, done.stderr
    assert got.doc["event"] == "test" and _verified(got.headers, got.body)


def test_a_secret_file_others_can_read_is_refused(env: Env, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET_TEXT)
    secret_file.chmod(0o644)
    done = env("alerts", "test", "--webhook", "http://127.0.0.1:9/x",
               "--webhook-secret-file", str(secret_file))  # fmt: skip
    assert done.returncode == 3
    assert "chmod 600" in done.stderr and SECRET_TEXT not in done.stderr


def test_a_url_file_others_can_read_is_refused_as_a_secret_file_is(
    env: Env, tmp_path: Path
) -> None:
    # A webhook URL often carries its token (Slack, Teams, a ?token= query): the file
    # holding it is held to the secret file's rule, and nothing is sent.
    with WebhookReceiver(200) as hook:
        url_file = tmp_path / "urls"
        url_file.write_text(hook.url("/hook?token=url-token-1") + "\n")
        url_file.chmod(0o644)
        done = env("alerts", "test", "--webhook-url-file", str(url_file))
        posts = hook.posts()
    assert done.returncode == 3
    assert f"--webhook-url-file {url_file}: readable by others; chmod 600" in done.stderr
    assert posts == [] and "url-token-1" not in done.stdout + done.stderr


def test_a_missing_secret_variable_is_a_usage_error_naming_it(env: Env) -> None:
    done = env(
        "alerts", "test", "--webhook", "http://127.0.0.1:9/x", "--webhook-secret-env", "NOPE"
    )
    assert done.returncode == 3
    assert "NOPE" in done.stderr and "Traceback" not in done.stderr
