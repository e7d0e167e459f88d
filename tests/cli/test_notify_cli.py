"""Notifications through Apprise as an operator sets them up: `--notify`, $SMTPWATCH_NOTIFY
and `--notify-file` on `run --once` and `alerts test`, as subprocesses, with real
loopback receivers behind Apprise's json:// and form:// services."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from test_run_status_history import Env, refused

from smtpwatch.testing.webhook_receivers import WebhookReceiver

TOKEN = "tok3nSECRETvalue42"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def as_json(url: str) -> str:
    return url.replace("http://", f"json://monitor:{TOKEN}@", 1)


def test_run_once_sends_the_down_alert_to_the_service_and_shows_no_token(env: Env) -> None:
    # GIVEN a target whose port refuses connections
    env.put(refused())
    with WebhookReceiver(200) as hook:
        # WHEN one sweep runs with a notification URL that carries a password
        done = env("run", "--once", "--notify", as_json(hook.url("/n")))
        (got,) = hook.posts()
    # THEN the service got the DOWN alert: the subject as title, the text as body
    assert done.returncode == 2, done.stderr
    doc = json.loads(got.body)
    assert doc["title"].startswith("[DOWN] 127.0.0.1:") and doc["type"] == "failure"
    assert "connection refused" in doc["title"]
    assert "Next step: Is the SMTP service running" in doc["message"]
    assert "Alert id: " in doc["message"] and not doc["message"].startswith("[DOWN]")
    # AND the outbox lists it delivered under a label without the token
    listing = json.loads(env("alerts", "list", "--json", "--db", str(env.db)).stdout)
    (entry,) = [e for e in listing if e["channel"] == "notify-1"]
    assert entry["state"] == "delivered" and entry["event"] == "down"
    assert entry["label"] == f"notify JSON json://127.0.0.1:{hook.port}"
    assert TOKEN not in done.stdout + done.stderr + json.dumps(listing)


def test_urls_from_the_environment_and_a_private_file(env: Env, tmp_path: Path) -> None:
    with WebhookReceiver(200) as one, WebhookReceiver(200) as two, WebhookReceiver(200) as three:
        # GIVEN two URLs in $SMTPWATCH_NOTIFY (comma and space separated, as Apprise's
        # APPRISE_URLS) and one in a file only its owner can read
        first = one.url("/a").replace("http://", f"form://monitor:{TOKEN}@")
        env.env["SMTPWATCH_NOTIFY"] = f"{first}, {two.url('/b').replace('http://', 'form://')}"
        url_file = tmp_path / "notify"
        url_file.write_text(f"# the team channel\n{as_json(three.url('/c'))}\n")
        url_file.chmod(0o600)
        # WHEN the operator tests the channels
        done = env("alerts", "test", "--notify-file", str(url_file))
        posts = one.posts() + two.posts() + three.posts()
    # THEN each service got the test alert, and each is reported by its label
    assert done.returncode == 0, done.stderr
    assert [p.path for p in posts] == ["/a", "/b", "/c"]
    assert parse_qs(posts[1].body.decode())["title"][0].startswith("[TEST]")
    assert json.loads(posts[2].body)["type"] == "info"
    assert f"delivered to notify Form form://127.0.0.1:{one.port}" in done.stdout
    assert f"delivered to notify Form form://127.0.0.1:{two.port}" in done.stdout
    assert f"delivered to notify JSON json://127.0.0.1:{three.port}" in done.stdout
    assert "4 of 4 sinks delivered" in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_a_url_file_others_can_read_is_refused(env: Env, tmp_path: Path) -> None:
    url_file = tmp_path / "notify"
    url_file.write_text(f"json://monitor:{TOKEN}@127.0.0.1:9/\n")
    url_file.chmod(0o644)
    done = env("alerts", "test", "--notify-file", str(url_file))
    assert done.returncode == 3
    assert f"--notify-file {url_file}: readable by others; chmod 600" in done.stderr
    assert TOKEN not in done.stderr


def test_a_failed_notification_is_reported_per_channel(env: Env) -> None:
    with WebhookReceiver(500) as hook:
        done = env("alerts", "test", "--notify", as_json(hook.url()))
    assert done.returncode == 1
    assert (
        f"NOT delivered to notify JSON json://127.0.0.1:{hook.port}: JSON did not take the"
        " notification" in done.stderr
    )
    assert TOKEN not in done.stderr


def test_a_url_apprise_cannot_use_is_a_usage_error_before_anything_runs(env: Env) -> None:
    env.put(refused())
    done = env("run", "--once", "--notify", f"slack://{TOKEN}")  # Slack needs more tokens
    assert done.returncode == 3
    assert "--notify (notify-1): Apprise cannot use this slack:// URL" in done.stderr
    assert TOKEN not in done.stderr
    assert "dead" not in done.stdout  # nothing was probed


def test_without_apprise_the_error_names_the_extra(env: Env) -> None:
    # GIVEN an install without the notify extra (Apprise cannot be imported)
    code = (
        "import sys; sys.modules['apprise'] = None\n"
        "from smtpwatch.cli.main import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )

    def smtpwatch(*args: str) -> tuple[int, str]:
        import subprocess

        argv = [sys.executable, "-c", code, *args]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env.env, timeout=60)
        return proc.returncode, proc.stderr

    with WebhookReceiver(200) as hook:
        # WHEN a notification URL is given
        status, stderr = smtpwatch("alerts", "test", "--notify", as_json(hook.url()))
        # THEN the command stops with the install line, before sending anything
        assert status == 3
        assert "pip install 'smtpwatch[notify]'" in stderr and "Traceback" not in stderr
        assert hook.posts() == []
        # AND without one, everything else works as before
        status, stderr = smtpwatch("alerts", "test", "--webhook", hook.url())
        assert status == 0, stderr
        assert len(hook.posts()) == 1


def test_run_once_reports_a_refused_notification_in_its_own_words_only(env: Env) -> None:
    # GIVEN a service that answers 500
    env.put(refused())
    with WebhookReceiver(500) as hook:
        done = env("run", "--once", "--notify", as_json(hook.url()))
    # THEN stderr has smtpwatch's two notices and nothing of Apprise's own log
    label = f"notify JSON json://127.0.0.1:{hook.port}"
    assert done.returncode == 2
    failed, pending = done.stderr.splitlines()
    assert failed.startswith(
        f"smtpwatch run: alert down for dead NOT delivered to {label}: JSON did not take the"
        " notification: "
    )
    assert "500" in failed and failed.endswith(" (kept pending; retried)")
    assert pending == (
        f"smtpwatch run: 1 alert(s) still pending for {label}: tried again by the next run"
    )
    assert TOKEN not in done.stdout + done.stderr
