"""`status` and `history` of a target checked from several locations, as a user runs
them: `N/M locations failing` for partial and critical verdicts, each location's
status, phase and error, and a quorum above the locations deployed. The verdicts come
from real probes of an SMTP server on loopback, one per location (a failing location's
connection is refused), decided by ``verdict`` as the AWS deployment decides them;
the commands run as subprocesses on the local store and on the stack's tables in moto.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_run_status_history import Env, _template_tables, moto_endpoint

from location_verdicts import LOCATIONS, slot_at, slot_verdict, target_item
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import SmtpServer

__all__ = ["moto_endpoint"]  # the fixture, for the stack's tables

StartServer = Callable[..., SmtpServer]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def server(smtp_server: StartServer) -> SmtpServer:
    return smtp_server("127.0.0.1")


def store(env: Env, *slots: tuple[str, ProbeResult], state: TargetState | None = None) -> None:
    with SqliteStore(env.db) as db:
        for at, result in slots:
            assert db.add_result(result, scheduled_at=at)
        if state is not None:
            assert db.save_state(state)


def line_of(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def votes(result: ProbeResult) -> list[dict[str, Any]]:
    return [v.to_dict() for v in result.locations]


# ---- status ---------------------------------------------------------------------------


def test_status_shows_a_partial_failure_as_1_of_3_with_the_failing_locations_error(
    env: Env, server: SmtpServer
) -> None:
    # GIVEN a slot that failed in eu-west-1 only (fewer than the majority of 3)
    env.put(target_item(server))
    partial = slot_verdict(server, slot_at(1), failing={"eu-west-1"})
    store(env, (slot_at(1), partial))
    # WHEN status is asked  THEN the row says 1/3 and names the location and its error
    done = env("status")
    assert done.returncode == 0, done.stderr
    row = line_of(done.stdout, "mx1")
    assert "3 locations" in row
    assert (
        "1/3 locations failing: eu-west-1 connect_refused in connect: connection refused "
        f"by 127.0.0.2:{server.port}"
    ) in row
    # ...and --json gives each location's vote, in the slot's order
    (data,) = json.loads(env("status", "--json").stdout)
    assert data["locations_failing"] == "1/3 locations failing"
    assert [v["location"] for v in data["locations"]] == list(LOCATIONS)
    assert [v["status"] for v in data["locations"]] == ["ok", "critical", "ok"]
    assert data["locations"][1] == {
        "location": "eu-west-1",
        "status": "critical",
        "phase": "connect",
        "error": "connect_refused",
        "message": f"connection refused by 127.0.0.2:{server.port}",
    }
    assert data["last_status"] == "ok" and data["error"] is None
    # AND a partial failure is a problem worth listing, though the target is not failing
    assert [r["target_id"] for r in json.loads(env("status", "--problems", "--json").stdout)] == [
        "mx1"
    ]


def test_status_of_a_down_verdict_names_both_failing_locations(
    env: Env, server: SmtpServer
) -> None:
    env.put(target_item(server))
    down = slot_verdict(server, slot_at(1), failing={"us-east-1", "eu-west-1"})
    state = TargetState(
        "mx1", status=TargetStatus.DOWN, consecutive_failures=1, last_change_at=slot_at(1)
    )
    store(env, (slot_at(1), down), state=state)
    row = line_of(env("status").stdout, "mx1")
    assert " down " in row
    assert "2/3 locations failing: us-east-1 connect_refused in connect" in row
    assert "; eu-west-1 connect_refused in connect" in row
    assert "ap-southeast-2" not in row  # it passed
    (data,) = json.loads(env("status", "--json").stdout)
    assert data["locations_failing"] == "2/3 locations failing"
    assert data["error"]["kind"] == "connect_refused"
    assert data["locations"] == votes(down)


def test_a_single_location_result_shows_as_before(env: Env, server: SmtpServer) -> None:
    # GIVEN a result of one location (local mode, or a quorum of one on AWS)
    env.put(target_item(server, dns_hosts=["127.0.0.2 mx.test"], recheck_delay_s=0))
    assert env("run", "--once", "--location", "lab-1").returncode == 2
    row = line_of(env("status").stdout, "mx1")
    assert "lab-1" in row and "locations" not in row
    assert "connect_refused in connect: connection refused" in row
    (data,) = json.loads(env("status", "--json").stdout)
    assert data["locations"] == [] and data["locations_failing"] is None
    assert data["quorum"] == 0 and data["deployed_locations"] == 1


def test_local_status_says_a_quorum_above_one_location_decides_alone(
    env: Env, server: SmtpServer
) -> None:
    env.put(target_item(server, quorum=2), target_item(server, "mx2", quorum=1))
    done = env("status")
    assert done.returncode == 0, done.stderr
    assert (
        "mx1: quorum 2 is above the 1 location of local mode (each check decides alone; "
        "checking from several locations is the AWS deployment's)"
    ) in done.stdout.splitlines()
    assert "mx2: quorum" not in done.stdout


def test_a_hostile_location_or_message_stored_in_a_verdict_cannot_drive_the_terminal(
    env: Env, server: SmtpServer
) -> None:
    # GIVEN a verdict whose stored votes someone edited to carry escape sequences
    env.put(target_item(server))
    store(env, (slot_at(1), slot_verdict(server, slot_at(1), failing={"eu-west-1"})))
    with sqlite3.connect(env.db) as conn:
        (data,) = conn.execute("SELECT data FROM results").fetchone()
        doc = json.loads(data)
        doc["locations"][1] |= {"location": "eu\x1b]0;owned\x07", "message": "\x1b[2Jgone"}
        conn.execute("UPDATE results SET data = ?", (json.dumps(doc),))
    # WHEN status and history print it  THEN no escape reaches the terminal
    for args in (("status",), ("history", "mx1")):
        done = env(*args)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout
        assert "\\u001b]0;owned\\u0007" in done.stdout and "\\u001b[2Jgone" in done.stdout
    # ...and --json keeps the stored text exactly
    (row,) = json.loads(env("status", "--json").stdout)
    assert row["locations"][1]["location"] == "eu\x1b]0;owned\x07"
    assert row["locations"][1]["message"] == "\x1b[2Jgone"


# ---- history --------------------------------------------------------------------------


def test_history_keeps_partial_failures_and_lists_each_locations_check(
    env: Env, server: SmtpServer
) -> None:
    # GIVEN four slots: all pass; eu-west-1 fails; two fail (DOWN); ap-southeast-2 silent
    env.put(target_item(server))
    slots = [
        (slot_at(4), slot_verdict(server, slot_at(4))),
        (slot_at(3), slot_verdict(server, slot_at(3), failing={"eu-west-1"})),
        (slot_at(2), slot_verdict(server, slot_at(2), failing={"us-east-1", "eu-west-1"})),
        (slot_at(1), slot_verdict(server, slot_at(1), silent={"ap-southeast-2"})),
    ]
    store(env, *slots)
    # WHEN history is asked
    done = env("history", "mx1")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    # THEN the partial failure is counted beside the checks, not as a failure
    assert "(3 ok, 0 warning, 1 critical; 1 partial failure)" in text
    assert "from 3 locations" in line_of(text, "uptime")
    # ...the DOWN slot and the partial one each list how many locations failed
    failures = text[text.index("recent failures") :]
    down_at, partial_at = slots[2][1].started_at, slots[1][1].started_at
    assert "2/3 failing  connect_refused  connect" in line_of(failures, down_at)
    partials = text[text.index("recent partial failures") :]
    assert "1/3 failing  connect_refused  connect" in line_of(partials, partial_at)
    # ...and each location's check of those two slots, newest first
    table = text[text.index("each location's check") :].splitlines()[1:]
    assert table[0].split() == ["WHEN", "LOCATION", "STATUS", "PHASE", "ERROR", "MESSAGE"]
    cells = [line.split()[:5] for line in table[1:7]]
    assert cells == [
        [down_at, "us-east-1", "critical", "connect", "connect_refused"],
        [down_at, "eu-west-1", "critical", "connect", "connect_refused"],
        [down_at, "ap-southeast-2", "ok", "-", "-"],
        [partial_at, "us-east-1", "ok", "-", "-"],
        [partial_at, "eu-west-1", "critical", "connect", "connect_refused"],
        [partial_at, "ap-southeast-2", "ok", "-", "-"],
    ]
    # AND --json gives the same, each location counted once per slot it voted in
    report = json.loads(env("history", "mx1", "--json").stdout)
    assert report["partial_failures"] == 1
    (partial,) = report["recent_partial_failures"]
    assert partial["locations_failing"] == "1/3 locations failing"
    assert partial["kind"] == "connect_refused" and partial["status"] == "ok"
    assert partial["locations"] == votes(slots[1][1])
    assert report["recent_failures"][0]["locations"] == votes(slots[2][1])
    assert report["locations"] == {"us-east-1": 4, "eu-west-1": 4, "ap-southeast-2": 3}
    assert [v["status"] for v in report["last_locations"]] == ["ok", "ok", "silent"]


# ---- on the stack's tables ------------------------------------------------------------


def aws(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """A command on the AWS backend (no --db)."""
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        capture_output=True,
        text=True,
        env=env.env,
        timeout=120,
    )


def _stack(moto: str, env: Env, names: dict[str, str], probe_regions: str) -> None:
    """The home stack in moto: its ProbeRegions parameter and its tables' outputs."""
    import boto3

    body = {
        "Parameters": {"ProbeRegions": {"Type": "CommaDelimitedList", "Default": ""}},
        "Resources": {"AlertTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TargetsTableName": {"Value": names["TargetsTable"]},
            "StateTableName": {"Value": names["StateTable"]},
            "ResultsTableName": {"Value": names["ResultsTable"]},
        },
    }
    boto3.client("cloudformation", endpoint_url=moto).create_stack(
        StackName="smtpwatch",
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "ProbeRegions", "ParameterValue": probe_regions}],
    )
    env.env |= {"AWS_ENDPOINT_URL": moto, "AWS_DEFAULT_REGION": "us-east-1"}
    env.env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def test_status_on_the_stack_shows_verdicts_and_a_quorum_above_its_locations(
    env: Env, server: SmtpServer, moto_endpoint: str
) -> None:
    import boto3

    from smtpwatch.adapters.dynamodb import DynamoResultStore, DynamoTargetStore

    # GIVEN a home stack with one probe region (2 locations) and its tables
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    names = _template_tables().create_tables(ddb, prefix="loc")
    _stack(moto_endpoint, env, names, "eu-west-1")
    DynamoTargetStore(ddb, names["TargetsTable"]).put_items(
        [
            target_item(server),  # every location, a majority
            target_item(server, "mx2", quorum=3),  # more than the 2 deployed
            target_item(server, "mx3", locations=list(LOCATIONS), quorum=3),  # 2 of 3 deployed
            target_item(server, "mx4", quorum=2),  # exactly the 2 deployed
            # none of its locations deployed: the home location checks it alone
            target_item(server, "mx5", locations=["ap-southeast-2", "sa-east-1"], quorum=2),
        ]
    )
    results = DynamoResultStore(ddb, names["ResultsTable"])
    partial = slot_verdict(server, slot_at(1), failing={"ap-southeast-2"})
    assert results.add_result(partial, scheduled_at=slot_at(1))
    cli = ["--stack", "smtpwatch"]
    # WHEN status reads the stack
    done = aws(env, "status", *cli)
    assert done.returncode == 0, done.stderr
    # THEN the verdict shows as on the local store
    assert "1/3 locations failing: ap-southeast-2 connect_refused" in line_of(done.stdout, "mx1")
    # ...and each target whose quorum is above its deployed locations gets a line
    lines = done.stdout.splitlines()
    for target_id in ("mx2", "mx3"):
        assert (
            f"{target_id}: quorum 3 is above the 2 deployed locations that check it "
            "(a DOWN needs all 2 to fail)"
        ) in lines, done.stdout
    assert (
        "mx5: quorum 2 is above the 1 deployed location that checks it "
        "(its one location decides alone)"
    ) in lines, done.stdout
    assert not [line for line in lines if line.startswith(("mx1: quorum", "mx4: quorum"))]
    rows = {r["target_id"]: r for r in json.loads(aws(env, "status", "--json", *cli).stdout)}
    assert {t: r["deployed_locations"] for t, r in rows.items()} == {
        "mx1": 2,
        "mx2": 2,
        "mx3": 2,
        "mx4": 2,
        "mx5": 1,
    }
    assert rows["mx1"]["locations"] == votes(partial)
    # AND with bare table names the CLI cannot tell what is deployed: no guess
    tables = ["--table", names["TargetsTable"], "--state-table", names["StateTable"],
              "--results-table", names["ResultsTable"]]  # fmt: skip
    done = aws(env, "status", *tables)
    assert done.returncode == 0, done.stderr
    assert "quorum" not in done.stdout
    rows = {r["target_id"]: r for r in json.loads(aws(env, "status", "--json", *tables).stdout)}
    assert rows["mx2"]["deployed_locations"] is None and rows["mx2"]["quorum"] == 3
    # AND history reads the verdict from the results table
    report = json.loads(aws(env, "history", "mx1", "--json", *cli).stdout)
    assert report["partial_failures"] == 1
    assert report["recent_partial_failures"][0]["locations"] == votes(partial)
