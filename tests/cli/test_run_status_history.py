"""`smtpwatch run`, `status`, `history` and `alerts test` as a user runs them:
subprocesses on a temporary SQLite store, probing real aiosmtpd servers on loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer, closed_port

PASSWORD = "run-Pa55word-never-shown"
PASSWORD_VAR = "SMTPWATCH_RUN_TEST_PW"

StartServer = Callable[..., SmtpServer]


class Env:
    """A temporary data directory and database; runs `python -m smtpwatch ...`."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "smtpwatch.db"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "SMTPWATCH_")) and k != "XDG_DATA_HOME"
        }
        self.env |= {
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "SMTPWATCH_SECRETS_DIR": str(tmp_path / "secrets"),
            PASSWORD_VAR: PASSWORD,
            "PYTHONWARNINGS": "ignore",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # any AWS call goes nowhere
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def argv(self, *args: str) -> list[str]:
        store = [] if args[0] == "alerts" else ["--db", str(self.db)]
        return [sys.executable, "-m", "smtpwatch", *args, *store]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def put(self, *items: dict[str, Any]) -> None:
        with SqliteStore(self.db) as store:
            store.put_items(items)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def healthy(certs: Certificates, server: SmtpServer, target_id: str = "good") -> dict[str, Any]:
    return {
        "target_id": target_id,
        "host": "127.0.0.1",
        "port": server.port,
        "encryption": "explicit",
        "ca_bundle": certs.ca_pem,
        "login": True,
        "username": "monitor",
        "password_ref": f"env:{PASSWORD_VAR}",
        "interval_s": 60,
    }


def refused(target_id: str = "dead") -> dict[str, Any]:
    return {
        "target_id": target_id,
        "host": "127.0.0.1",
        "port": closed_port(),
        "encryption": "none",
        "recheck_delay_s": 0,
        "interval_s": 60,
    }


@pytest.fixture
def good_server(certs: Certificates, smtp_server: StartServer) -> SmtpServer:
    return smtp_server(
        "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": PASSWORD}
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ---- run --once ---------------------------------------------------------------------


def test_run_once_on_healthy_targets_exits_ok_and_stores_results(
    env: Env, certs: Certificates, good_server: SmtpServer
) -> None:
    # GIVEN a healthy STARTTLS + AUTH server and its target
    env.put(healthy(certs, good_server))
    # WHEN one sweep runs
    done = env("run", "--once")
    # THEN it exits 0 (monitoring-plugin OK) and says what it checked
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "good" in done.stdout
    assert "probing 1 target once" in done.stdout and "swept 1 target in" in done.stdout
    with SqliteStore(env.db) as store:
        (result,) = store.iter_results("good")
        assert result.status.value == "ok" and result.auth is not None
        state = store.get_state("good")
    assert state is not None and state.status.value == "up"
    assert PASSWORD not in done.stdout + done.stderr


def test_run_once_alerts_a_dead_target_and_exits_critical(
    env: Env, certs: Certificates, good_server: SmtpServer
) -> None:
    env.put(healthy(certs, good_server), refused())
    done = env("run", "--once")
    assert done.returncode == 2, done.stderr
    assert "ALERT [DOWN]" in done.stdout
    assert "connect_refused" in done.stdout
    with SqliteStore(env.db) as store:
        state = store.get_state("dead")
        assert state is not None and state.status.value == "down"
        assert state.pending_alert is None  # delivered to the console and marked sent
        assert store.count_results() == 2


def test_run_once_json_gives_one_document_per_check_alert_and_summary(
    env: Env, certs: Certificates, good_server: SmtpServer
) -> None:
    env.put(healthy(certs, good_server), refused())
    done = env("run", "--once", "--json")
    docs = json_lines(done.stdout)
    checks = {d["target_id"]: d for d in docs if d.get("type") == "check"}
    assert checks["good"]["result"]["status"] == "ok"
    assert checks["dead"]["result"]["error"]["kind"] == "connect_refused"
    assert [d["alert"]["event"] for d in docs if "alert" in d] == ["down"]
    (summary,) = [d for d in docs if d.get("type") == "summary"]
    assert summary["counts"]["critical"] == 1 and summary["exit_code"] == 2


def test_run_once_without_targets_says_so_and_exits_unknown(env: Env) -> None:
    done = env("run", "--once")
    assert done.returncode == 3
    assert "no enabled targets" in done.stdout


def test_run_once_skips_disabled_targets(env: Env) -> None:
    env.put(refused() | {"enabled": False})
    done = env("run", "--once")
    assert done.returncode == 3 and "no enabled targets" in done.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--concurrency", "0"), "--concurrency"),
        (("--grace", "-1"), "--grace"),
        (("--webhook", "ftp://x"), "http"),
        (("--sns-topic-arn", "not-an-arn"), "--sns-topic-arn"),
    ],
)
def test_run_rejects_bad_options_in_one_line(env: Env, args: tuple[str, ...], needle: str) -> None:
    done = env("run", "--once", *args)
    assert done.returncode == 3
    assert needle in done.stderr and "Traceback" not in done.stderr


# ---- webhook ------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.bodies = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_run_posts_the_down_alert_to_the_webhook(env: Env, webhook: ThreadingHTTPServer) -> None:
    env.put(refused())
    url = f"http://127.0.0.1:{webhook.server_port}/alerts"
    done = env("run", "--once", "--webhook", url)
    assert done.returncode == 2, done.stderr
    (doc,) = webhook.bodies  # type: ignore[attr-defined]
    assert doc["event"] == "down" and doc["target"]["target_id"] == "dead"
    assert doc["result"]["error"]["kind"] == "connect_refused"


def test_alert_kept_pending_when_the_webhook_fails_and_sent_next_run(
    env: Env, webhook: ThreadingHTTPServer
) -> None:
    # GIVEN a webhook that is down during the first run
    env.put(refused())
    dead_url = f"http://127.0.0.1:{closed_port()}/alerts"
    first = env("run", "--once", "--webhook", dead_url, "--webhook-timeout", "3")
    assert "NOT delivered" in first.stderr
    with SqliteStore(env.db) as store:
        # the check recorded the alert in the outbox: pending there for the webhook
        from smtpwatch.local.outbox import Outbox

        (entry,) = Outbox(store).entries(channel="webhook-1")
        assert entry.state == "pending" and entry.alert.event.value == "down"
    # WHEN the next run has a working webhook THEN the pending down alert goes out
    url = f"http://127.0.0.1:{webhook.server_port}/alerts"
    env("run", "--once", "--webhook", url)
    assert [d["event"] for d in webhook.bodies] == ["down"]  # type: ignore[attr-defined]


# ---- status / history ------------------------------------------------------------


def test_status_shows_state_since_and_last_error(
    env: Env, certs: Certificates, good_server: SmtpServer
) -> None:
    env.put(healthy(certs, good_server), refused())
    env("run", "--once")
    text = env("status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["TARGET", "ENDPOINT", "STATE"]
    dead = next(line for line in lines if line.startswith("dead"))
    assert " down " in dead and "connect_refused in connect" in dead
    good = next(line for line in lines if line.startswith("good"))
    assert " up " in good
    assert "2 targets: 1 down, 1 up" in text.stdout
    assert "newest stored result" not in text.stdout  # locally every check is stored

    rows = {r["target_id"]: r for r in json.loads(env("status", "--json").stdout)}
    assert rows["dead"]["status"] == "down"
    assert rows["dead"]["error"]["kind"] == "connect_refused"
    assert rows["dead"]["since"] is not None
    assert rows["good"]["status"] == "up" and rows["good"]["error"] is None
    assert rows["good"]["last_checked_at"] is not None
    # next_due_at (a state field) is the target's next slot: after its last check, within
    # one interval of now
    from datetime import UTC, datetime, timedelta

    due = datetime.fromisoformat(rows["good"]["next_due_at"].replace("Z", "+00:00"))
    checked = datetime.fromisoformat(rows["good"]["last_checked_at"].replace("Z", "+00:00"))
    assert checked < due <= datetime.now(UTC) + timedelta(seconds=60)  # interval_s: 60


def test_status_of_a_never_probed_target_is_pending(env: Env) -> None:
    env.put(refused("new"))
    (row,) = json.loads(env("status", "--json").stdout)
    assert row["status"] == "pending" and row["last_checked_at"] is None
    assert row["next_due_at"] is not None  # a never-probed target is due at the next tick


def test_history_gives_uptime_percentiles_and_recent_failures(
    env: Env, certs: Certificates, good_server: SmtpServer
) -> None:
    env.put(healthy(certs, good_server), refused())
    for _ in range(2):  # two sweeps, possibly within one second: both count
        assert env("run", "--once").returncode == 2

    good = json.loads(env("history", "good", "--json").stdout)
    assert good["checks"] == 2 and good["uptime_percent"] == 100.0
    assert good["total_ms"]["p50"] > 0 and good["total_ms"]["p95"] >= good["total_ms"]["p50"]
    assert set(good["phases_ms"]) >= {"connect", "banner", "ehlo", "starttls", "tls", "auth"}
    assert good["recent_failures"] == []

    dead = json.loads(env("history", "dead", "--json", "--since", "1h").stdout)
    assert dead["uptime_percent"] == 0.0 and dead["counts"]["critical"] == 2
    assert [f["kind"] for f in dead["recent_failures"]] == ["connect_refused"] * 2

    text = env("history", "dead").stdout
    assert "uptime 0.00% over 2 checks" in text
    assert "recent failures" in text and "connect_refused" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [(("history", "nope"), "no target 'nope'"), (("history", "x", "--since", "soon"), "--since")],
)
def test_history_bad_input_is_one_line(env: Env, args: tuple[str, ...], needle: str) -> None:
    done = env(*args)
    assert done.returncode == 3
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_history_since_excludes_older_checks(env: Env) -> None:
    env.put(refused())
    env("run", "--once")
    future = json.loads(env("history", "dead", "--json", "--since", "2999-01-01").stdout)
    assert future["checks"] == 0 and future["uptime_percent"] is None


# ---- alerts test --------------------------------------------------------------------


def test_alerts_test_prints_a_test_alert_to_the_console(env: Env) -> None:
    done = env("alerts", "test")
    assert done.returncode == 0
    assert "ALERT [TEST]" in done.stdout and "1 of 1 sinks delivered" in done.stdout


def test_alerts_test_through_a_webhook(env: Env, webhook: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{webhook.server_port}/x"
    done = env("alerts", "test", "--webhook", url)
    assert done.returncode == 0, done.stderr
    assert [d["event"] for d in webhook.bodies] == ["test"]  # type: ignore[attr-defined]


def test_alerts_test_with_a_broken_webhook_exits_1_naming_it(env: Env) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    done = env("alerts", "test", "--webhook", url, "--webhook-timeout", "3")
    assert done.returncode == 1
    assert f"NOT delivered to webhook {url}" in done.stderr


# ---- run (continuous) ---------------------------------------------------------------


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _result_count(db: Path, target_id: str | None = None) -> int:
    with SqliteStore(db) as store:
        return store.count_results(target_id)


def test_run_picks_up_a_target_added_while_it_runs_and_stops_on_sigterm(env: Env) -> None:
    # GIVEN `smtpwatch run` on an empty store
    env.put(refused("first"))
    proc = env.start("run")
    try:
        assert _wait_for(lambda: _result_count(env.db, "first") >= 1, 30)
        # WHEN a target is added from another process
        env.put(refused("second"))
        # THEN it is probed without a restart
        assert _wait_for(lambda: _result_count(env.db, "second") >= 1, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def _slow_targets(server: HostileServer, n: int) -> list[dict[str, Any]]:
    return [
        {
            "target_id": f"slow-{i:03d}",
            "host": "127.0.0.1",
            "port": server.port,
            "encryption": "none",
            "timeout_s": 30,
            "interval_s": 3600,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("grace", ["5", "0"])
def test_sigterm_mid_sweep_loses_no_completed_check(
    env: Env, hostile: Callable[[HostileServer], HostileServer], grace: str
) -> None:
    """GIVEN 24 targets on a server that takes ~1.5 s to greet, 3 at a time
    WHEN SIGTERM arrives mid-sweep
    THEN the process exits 0 promptly, the database is sound, every check it reported
    is stored with its result, and no target has a result it did not report."""
    server = hostile(HostileServer.delayed(1.5))
    env.put(*_slow_targets(server, 24))
    proc = env.start("run", "--json", "--concurrency", "3", "--grace", grace)
    try:
        assert _wait_for(lambda: _result_count(env.db) >= 3, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        out, err = proc.communicate(timeout=60)
    exit_after = time.monotonic() - stopped_at
    assert proc.returncode == 0, err
    # Prompt: the grace period plus the time to close, never a probe's 30 s deadline.
    assert exit_after < float(grace) + 10

    reported = {
        (d["target_id"], d["scheduled_at"])
        for d in json_lines(out)
        if d.get("type") == "check" and d.get("result")
    }
    conn = sqlite3.connect(env.db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = set(conn.execute("SELECT target_id, ts FROM results").fetchall())
    state_ids = {r[0] for r in conn.execute("SELECT target_id FROM state")}
    conn.close()
    assert 3 <= len(stored) < 24  # stopped mid-sweep
    assert stored == reported
    assert state_ids <= {t for t, _ in stored}  # no state without its result
    notices = [d["message"] for d in json_lines(out) if d.get("type") == "notice"]
    assert any(m.startswith("stopped") for m in notices)


# ---- status / history on the deployed stack's tables (moto server on loopback) -----


def _template_tables() -> Any:
    """tests/aws/template_tables.py: the tables exactly as template.yaml defines them."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "aws" / "template_tables.py"
    spec = importlib.util.spec_from_file_location("template_tables_for_cli", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto's accounts live in this process, shared by every server and mock_aws: start
    # empty, or a stack or table another test left behind is "already exists" here.
    urllib.request.urlopen(
        urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    )
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _aws_result(target_id: str, at: str, ok: bool) -> Any:
    from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, PhaseResult, ProbeResult, Status

    phases = tuple(
        PhaseResult(p, reached=True, ok=True, ms=ms)
        for p, ms in ((Phase.DNS, 1.0), (Phase.CONNECT, 12.0), (Phase.BANNER, 30.0))
    )
    if ok:
        return ProbeResult(target_id, at, Status.OK, host="mx1.example.com", port=587,
                           phases=phases, total_ms=43.0)  # fmt: skip
    error = ErrorInfo(ErrorKind.CONNECT_TIMEOUT, Phase.CONNECT, "no answer from 192.0.2.1:587")
    return ProbeResult(target_id, at, Status.CRITICAL, host="mx1.example.com", port=587,
                       error=error, total_ms=10000.0)  # fmt: skip


def test_status_and_history_read_the_stacks_dynamodb_tables(env: Env, moto_endpoint: str) -> None:
    import boto3

    from smtpwatch.adapters.dynamodb import DynamoResultStore, DynamoStateStore, DynamoTargetStore
    from smtpwatch.core.state import TargetState, TargetStatus

    # GIVEN the stack's tables (from template.yaml) as the Lambda functions fill them
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    names = _template_tables().create_tables(ddb, prefix="cli")
    DynamoTargetStore(ddb, names["TargetsTable"]).put_items(
        [{"target_id": "mx1", "host": "mx1.example.com"}, {"target_id": "mx2", "host": "mx2"}]
    )
    results = DynamoResultStore(ddb, names["ResultsTable"])
    for i, ok in enumerate([True, True, True, False]):
        at = f"2026-11-25T10:0{i}:00Z"
        assert results.add_result(_aws_result("mx1", at, ok), scheduled_at=at)
    DynamoStateStore(ddb, names["StateTable"]).save_state(
        TargetState(
            "mx1",
            status=TargetStatus.DOWN,
            consecutive_failures=1,
            last_change_at="2026-11-25T10:03:00Z",
            version=1,
        )
    )
    _deploy_stack(env, moto_endpoint, "smtpwatch", names)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smtpwatch", *args],
            capture_output=True, text=True, env=env.env, timeout=120,
        )  # fmt: skip

    tables = ["--table", names["TargetsTable"], "--state-table", names["StateTable"],
              "--results-table", names["ResultsTable"]]  # fmt: skip
    # WHEN status is asked with --stack and with --table
    for backend in (["--stack", "smtpwatch"], tables):
        done = cli("status", "--json", *backend)
        assert done.returncode == 0, done.stderr
        rows = {r["target_id"]: r for r in json.loads(done.stdout)}
        # THEN it shows the state items, with the last check from the newest result
        assert rows["mx1"]["status"] == "down"
        assert rows["mx1"]["since"] == "2026-11-25T10:03:00Z"
        assert rows["mx1"]["error"]["kind"] == "connect_timeout"
        assert rows["mx2"]["status"] == "pending"
    text = cli("status", "--stack", "smtpwatch")
    assert "connect_timeout in connect" in text.stdout
    # ...and says that CHECKED is the newest *stored* result (a passing check that
    # changes nothing is stored once per PassingResultSeconds on AWS)
    assert "CHECKED is the newest stored result" in text.stdout

    # AND history computes uptime and timings from the results table
    hist = cli(
        "history", "mx1", "--json", "--since", "2026-11-25T00:00:00Z", "--stack", "smtpwatch"
    )
    assert hist.returncode == 0, hist.stderr
    report = json.loads(hist.stdout)
    assert report["checks"] == 4 and report["uptime_percent"] == 75.0
    assert report["phases_ms"]["connect"]["p50"] == 12.0
    assert report["recent_failures"][0]["kind"] == "connect_timeout"


def test_table_without_the_state_table_is_a_usage_error(env: Env) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smtpwatch", "status", "--table", "t"],
        capture_output=True, text=True, env=env.env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3
    assert "--state-table" in done.stderr and "Traceback" not in done.stderr


def test_alerts_test_publishes_to_the_sns_topic(env: Env, moto_endpoint: str) -> None:
    import boto3

    # GIVEN a topic with an SQS subscriber (how tests see what SNS delivered)
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name="smtpwatch-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="captured")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env.env |= {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # WHEN `alerts test` is given the topic
    done = env("alerts", "test", "--sns-topic-arn", topic)
    # THEN the console and the topic both got the test alert
    assert done.returncode == 0, done.stderr
    assert f"delivered to sns {topic}" in done.stdout
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["MessageAttributes"]["event"]["Value"] == "test"


# ---- history with sampled passing results (PassingResultSeconds) -----------------

# One target at 1-minute checks: 10:00 and 11:00 are hourly samples, 11:10 fails, 11:11
# recovers, 11:30 fails again (last, so nothing after it is implied whatever "now" is).
_SAMPLED = [("10:00", True), ("11:00", True), ("11:10", False), ("11:11", True), ("11:30", False)]


def _seed_sampled(
    moto_endpoint: str, env: Env, outputs: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """The stack's tables holding _SAMPLED, and a stack whose outputs name them (plus
    ``outputs``); points ``env`` at moto. Returns the stack's name and the table names
    (both fresh: moto's servers in one process share their state)."""
    import uuid

    import boto3

    tag = f"sampled{uuid.uuid4().hex[:8]}"

    from smtpwatch.adapters.dynamodb import DynamoResultStore, DynamoTargetStore

    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    names: dict[str, str] = _template_tables().create_tables(ddb, prefix=tag)
    DynamoTargetStore(ddb, names["TargetsTable"]).put_items(
        [{"target_id": "mx1", "host": "mx1.example.com", "interval_s": 60}]
    )
    results = DynamoResultStore(ddb, names["ResultsTable"])
    for hhmm, ok in _SAMPLED:
        at = f"2026-11-25T{hhmm}:00Z"
        assert results.add_result(_aws_result("mx1", at, ok), scheduled_at=at)
    _deploy_stack(env, moto_endpoint, tag, names, outputs)
    return tag, names


def _deploy_stack(
    env: Env,
    moto_endpoint: str,
    stack: str,
    names: dict[str, str],
    outputs: dict[str, str] | None = None,
) -> None:
    """A stack in moto whose outputs name ``names``' tables (plus ``outputs``), and the
    CLI's environment pointed at moto."""
    import boto3

    stack_body = {
        "Resources": {"AlertTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TargetsTableName": {"Value": names["TargetsTable"]},
            "StateTableName": {"Value": names["StateTable"]},
            "ResultsTableName": {"Value": names["ResultsTable"]},
            **{key: {"Value": value} for key, value in (outputs or {}).items()},
        },
    }
    boto3.client("cloudformation", endpoint_url=moto_endpoint).create_stack(
        StackName=stack, TemplateBody=json.dumps(stack_body)
    )
    env.env |= {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _history(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", "history", "mx1", "--since", "2026-11-25", *args],
        capture_output=True, text=True, env=env.env, timeout=120,
    )  # fmt: skip


# Implied passes per stored result, by the rule (cap = ceil(P / 60)):
#   10:00 -> 11:00: 59 (cap 60) | 11:00 -> 11:10: 9 | 11:10 critical: 0
#   11:11 -> 11:30: 18          | 11:30 critical (last): 0
def _expected(cap: int) -> tuple[int, float]:
    implied = min(59, cap) + min(9, cap) + min(18, cap)
    return implied, round(100.0 * (3 + implied) / (5 + implied), 3)


def test_history_stack_reads_passing_result_seconds_from_the_stack_output(
    env: Env, moto_endpoint: str
) -> None:
    # GIVEN a stack deployed with PassingResultSeconds 600 (its output says so)
    stack, _ = _seed_sampled(moto_endpoint, env, {"PassingResultSeconds": "600"})
    # WHEN history reads it through --stack
    done = _history(env, "--json", "--stack", stack)
    # THEN the passes between stored results count, at most 10 per gap
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["passing_result_seconds"] == 600
    implied_and_uptime = (report["implied_passing_checks"], report["uptime_percent"])
    assert implied_and_uptime == _expected(cap=10) == (29, 94.118)
    assert report["checks"] == 5 and report["counts"]["critical"] == 2
    text = _history(env, "--stack", stack).stdout
    assert "uptime 94.12% over 34 checks (5 stored: 3 ok, 0 warning, 2 critical; " in text
    assert "29 passing checks not stored, see PassingResultSeconds" in text
    # AND --passing-result-seconds overrides the output (0: every check was stored)
    done = _history(env, "--json", "--stack", stack, "--passing-result-seconds", "0")
    report = json.loads(done.stdout)
    assert report["implied_passing_checks"] == 0 and report["uptime_percent"] == 60.0


def test_history_stack_without_the_output_assumes_the_template_default(
    env: Env, moto_endpoint: str
) -> None:
    # GIVEN a stack deployed before the PassingResultSeconds output existed
    stack, _ = _seed_sampled(moto_endpoint, env, {})
    report = json.loads(_history(env, "--json", "--stack", stack).stdout)
    # THEN history assumes 3600, the template's default
    assert report["passing_result_seconds"] == 3600
    implied_and_uptime = (report["implied_passing_checks"], report["uptime_percent"])
    assert implied_and_uptime == _expected(cap=60) == (86, 97.802)


def test_history_table_honours_passing_result_seconds(env: Env, moto_endpoint: str) -> None:
    _, names = _seed_sampled(moto_endpoint, env, {})
    tables = ["--table", names["TargetsTable"], "--state-table", names["StateTable"],
              "--results-table", names["ResultsTable"]]  # fmt: skip
    # WHEN no period is given THEN --table assumes the template default, 3600
    report = json.loads(_history(env, "--json", *tables).stdout)
    assert report["passing_result_seconds"] == 3600
    assert report["implied_passing_checks"] == 86
    # WHEN one is given THEN it is used
    for seconds, expected in (("600", _expected(cap=10)), ("0", (0, 60.0))):
        done = _history(env, "--json", *tables, "--passing-result-seconds", seconds)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["passing_result_seconds"] == int(seconds)
        assert (report["implied_passing_checks"], report["uptime_percent"]) == expected


@pytest.mark.parametrize(
    "args",
    [
        ("--table", "t", "--passing-result-seconds", "-1"),
        ("--table", "t", "--passing-result-seconds", "soon"),
        ("--passing-result-seconds", "60"),  # the local store keeps every check
    ],
)
def test_history_bad_passing_result_seconds_is_a_usage_error(
    env: Env, args: tuple[str, ...]
) -> None:
    # Rejected before any store is opened (AWS_ENDPOINT_URL points nowhere).
    done = _history(env, *args)
    assert done.returncode == 3
    assert "--passing-result-seconds" in done.stderr and "Traceback" not in done.stderr


def test_history_since_inside_a_sampling_period_counts_the_passes_after_since(
    env: Env, moto_endpoint: str
) -> None:
    # GIVEN the stored results of _SAMPLED (P = 3600) and a window opening at 11:05,
    # after the 11:00 sample: 11:05-11:09 passed and changed nothing, so no result
    # of theirs is in the window; the 11:00 sample before it is what says they passed
    stack, _ = _seed_sampled(moto_endpoint, env, {"PassingResultSeconds": "3600"})
    done = _history(env, "--json", "--stack", stack, "--since", "2026-11-25T11:05:00Z")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # THEN the window's stored results are its own (11:10, 11:11, 11:30)...
    assert report["checks"] == 3 and report["first_check_at"] == "2026-11-25T11:10:00Z"
    # ...and the passes implied are those inside it: 11:05-11:09 (5) + 11:12-11:29 (18)
    assert report["implied_passing_checks"] == 5 + 18
    assert report["uptime_percent"] == round(100.0 * (1 + 23) / (3 + 23), 3)
    # AND a window opening half-way through an hour counts that hour's second half:
    # 10:30-10:59 (after the 10:00 sample) + 11:01-11:09 + 11:12-11:29
    done = _history(env, "--json", "--stack", stack, "--since", "2026-11-25T10:30:00Z")
    report = json.loads(done.stdout)
    assert (report["checks"], report["implied_passing_checks"]) == (4, 30 + 9 + 18)
