"""`smtpwatch targets … --table/--stack` against moto: the deployed stack's tables.

In-process (``smtpwatch.cli.main.main([...])`` inside ``mock_aws``: a subprocess
cannot see moto's in-process mock). The tables are built from template.yaml's own
properties; ``--stack`` reads a CloudFormation stack's outputs with the template's
output names. Failures are injected at the boto3 boundary (botocore's event hooks on
the default session), never by patching our code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from template_tables import create_tables, load_template

from smtpwatch.adapters.aws_secrets import AwsSecretResolver, TargetSecretResolver
from smtpwatch.adapters.dynamodb import from_item
from smtpwatch.cli.main import main
from smtpwatch.core.errors import SecretError
from smtpwatch.core.target import Target

REGION = "us-east-1"
STACK = "smtpwatch-prod"
PREFIX = "/smtpwatch/"
PASSWORD = "aws-Pw!9f3#QxSecret"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def session(aws: None, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    """A fresh default session: the CLI's clients are made from it, so hooks registered
    on its events see every call the CLI makes."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(region_name=REGION)
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION


@pytest.fixture
def run(session: boto3.Session, tables: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Run:
    def invoke(*args: str, stack: bool = False) -> tuple[int, str, str]:
        where = (
            ["--stack", STACK]
            if stack
            else ["--table", tables["TargetsTable"], "--state-table", tables["StateTable"]]
        )
        capsys.readouterr()
        code = main(["targets", *args, *where])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def stack(tables: dict[str, str]) -> str:
    """A CloudFormation stack whose outputs name the tables as template.yaml does."""
    outputs = {
        "TargetsTableName": tables["TargetsTable"],
        "StateTableName": tables["StateTable"],
        "ResultsTableName": tables["ResultsTable"],
        "SecretsPrefix": PREFIX,
    }
    assert set(outputs) <= set(load_template()["Outputs"])  # the names the CLI reads
    body = {
        "Resources": {"AlertTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()}
        | {"AlertTopicArn": {"Value": {"Ref": "AlertTopic"}}},
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(body))
    return STACK


def items(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = from_item(raw)
            out[str(item["target_id"])] = item
    return out


def test_table_add_show_update_disable_remove(run: Run, ddb: Any, tables: dict[str, str]) -> None:
    code, out, _ = run(
        "add", "mx1", "mx1.example.com:2525", "--interval-s", "120", "--tag", "env=prod"
    )
    assert code == 0 and "added mx1 (mx1.example.com:2525)" in out
    assert items(ddb, tables["TargetsTable"])["mx1"] == {
        "target_id": "mx1",
        "host": "mx1.example.com",
        "port": 2525,
        "interval_s": 120,
        "tags": {"env": "prod"},
    }
    code, out, _ = run("show", "mx1", "--json")
    assert code == 0 and json.loads(out)["port"] == 2525
    code, _, err = run("add", "mx1", "other.example.com")
    assert code == 3 and "already exists" in err
    assert run("update", "mx1", "--set", "timeout_s=7.5")[0] == 0
    assert items(ddb, tables["TargetsTable"])["mx1"]["timeout_s"] == 7.5  # a float, stored
    assert run("disable", "mx1")[0] == 0
    code, out, _ = run("list")
    assert out.splitlines()[1].split() == [
        "mx1",
        "mx1.example.com:2525",
        "explicit",
        "2m",
        "no",
        "env=prod",
    ]
    assert run("remove", "mx1")[0] == 0
    assert items(ddb, tables["TargetsTable"]) == {}
    code, _, err = run("update", "mx1", "--set", "port=25")
    assert code == 3 and "no target 'mx1'" in err


def test_remove_deletes_state_and_leaves_results_to_their_ttl(
    run: Run, ddb: Any, tables: dict[str, str], stack: str
) -> None:
    assert run("add", "mx1", "mx1.example.com", stack=True)[0] == 0
    ddb.put_item(
        TableName=tables["StateTable"],
        Item={"target_id": {"S": "mx1"}, "status": {"S": "down"}, "version": {"N": "3"}},
    )
    ddb.put_item(
        TableName=tables["ResultsTable"],
        Item={
            "target_id": {"S": "mx1"},
            "ts": {"S": "2026-11-25T10:00:00Z"},
            "expires_at": {"N": "1"},
        },
    )
    code, out, _ = run("remove", "mx1", stack=True)
    assert code == 0 and "removed mx1" in out
    assert items(ddb, tables["TargetsTable"]) == {}
    assert items(ddb, tables["StateTable"]) == {}  # a re-added mx1 starts as pending
    assert ddb.scan(TableName=tables["ResultsTable"])["Count"] == 1  # expires by TTL


def test_stack_outputs_name_the_tables(
    run: Run, ddb: Any, tables: dict[str, str], stack: str
) -> None:
    assert run("add", "mx1", "mx1.example.com", stack=True)[0] == 0
    assert "mx1" in items(ddb, tables["TargetsTable"])
    code, out, _ = run("list", "--json", stack=True)
    assert code == 0 and [t["target_id"] for t in json.loads(out)] == ["mx1"]


def test_unknown_stack_is_one_line_exit_3(
    session: boto3.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["targets", "list", "--stack", "no-such-stack"])
    err = capsys.readouterr().err
    assert code == 3 and "--stack no-such-stack" in err and len(err.strip().splitlines()) == 1


def test_missing_table_is_one_line_exit_1(
    session: boto3.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["targets", "list", "--table", "nope"])
    err = capsys.readouterr().err
    assert code == 1 and "ResourceNotFoundException" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--interval-s", "30"], "interval_s"),
        (["--login", "--username", "u", "--password-ref", "env:PW"], "password_ref"),
        (["--login", "--username", "u", "--password-ref", "file:mx1"], "password_ref"),
    ],
)
def test_aws_limits_apply_with_table(
    run: Run, ddb: Any, tables: dict[str, str], options: list[str], field: str
) -> None:
    code, _, err = run("add", "mx1", "mx1.example.com", *options)
    assert code == 3 and f"error: {field}:" in err
    assert items(ddb, tables["TargetsTable"]) == {}


def test_import_applies_aws_limits_to_every_item(
    run: Run, ddb: Any, tables: dict[str, str], tmp_path: Any
) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            [
                {"target_id": "a", "host": "a.example.com", "interval_s": 30},
                {"target_id": "b", "host": "b.example.com"},
                {"target_id": "c", "host": "c.example.com", "interval_s": 59},
            ]
        )
    )
    code, _, err = run("import", str(path))
    assert code == 3
    assert "item 1 (a): interval_s:" in err and "item 3 (c): interval_s:" in err
    assert items(ddb, tables["TargetsTable"]) == {}


# ---- import: resumable, idempotent, config only -------------------------------------------


@pytest.fixture
def batch_calls(session: boto3.Session) -> Iterator[list[int]]:
    """Counts BatchWriteItem calls (each entry: the number of put requests)."""
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(sum(len(v) for v in params["RequestItems"].values()))

    session.events.register("before-parameter-build.dynamodb.BatchWriteItem", count)
    yield calls
    session.events.unregister("before-parameter-build.dynamodb.BatchWriteItem", count)


def _file(tmp_path: Any, n: int, **extra: Any) -> tuple[Any, list[dict[str, Any]]]:
    data = [
        {"target_id": f"mx{i:04d}", "host": f"mx{i}.example.com", "tags": {"n": str(i)}} | extra
        for i in range(n)
    ]
    path = tmp_path / f"targets-{n}.yaml"
    path.write_text(json.dumps(data))
    return path, data


def test_dynamodb_import_interrupted_halfway_resumes_and_converges(
    run: Run, ddb: Any, tables: dict[str, str], tmp_path: Any, session: boto3.Session,
    batch_calls: list[int],
) -> None:  # fmt: skip
    path, data = _file(tmp_path, 200)

    # GIVEN the network fails on the 5th BatchWriteItem call (after 100 items)
    def fail_fifth(**_: Any) -> None:
        if len(batch_calls) == 5:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    session.events.register("before-call.dynamodb.BatchWriteItem", fail_fifth)
    try:
        code, _, err = run("import", str(path))
    finally:
        session.events.unregister("before-call.dynamodb.BatchWriteItem", fail_fifth)
    # THEN the import stops with a clear line and what was written stays
    assert code == 1
    assert (
        "stopped after 100 of 200 items were written" in err and "run the same command again" in err
    )
    assert len(items(ddb, tables["TargetsTable"])) == 100
    # WHEN it is run again THEN it writes only the rest and the table matches the file
    batch_calls.clear()
    code, out, _ = run("import", str(path))
    assert code == 0 and "100 new, 0 replaced, 100 unchanged" in out
    assert sum(batch_calls) == 100
    assert items(ddb, tables["TargetsTable"]) == {d["target_id"]: d for d in data}
    # AND a third run is a no-op: idempotent, not one write
    batch_calls.clear()
    code, out, _ = run("import", str(path))
    assert code == 0 and "0 new, 0 replaced, 200 unchanged" in out
    assert batch_calls == []


def test_dynamodb_import_retries_unprocessed_items(
    run: Run, ddb: Any, tables: dict[str, str], tmp_path: Any, session: boto3.Session,
    batch_calls: list[int],
) -> None:  # fmt: skip
    path, data = _file(tmp_path, 60)
    throttled = {"left": 3}

    # DynamoDB answers "throttled, nothing processed" three times (as it does under load).
    def throttle(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if throttled["left"] == 0:
            return None
        throttled["left"] -= 1
        response = AWSResponse("https://dynamodb.us-east-1.amazonaws.com", 200, {}, None)
        sent = json.loads(params["body"])  # the request as it would go on the wire
        return response, {"UnprocessedItems": sent["RequestItems"]}

    session.events.register("before-call.dynamodb.BatchWriteItem", throttle)
    try:
        code, out, _ = run("import", str(path))
    finally:
        session.events.unregister("before-call.dynamodb.BatchWriteItem", throttle)
    assert code == 0 and "60 new" in out
    assert len(batch_calls) == 3 + 3  # 3 batches, the first resent 3 times
    assert items(ddb, tables["TargetsTable"]) == {d["target_id"]: d for d in data}


def test_dynamodb_import_replaces_changed_items_and_never_touches_state(
    run: Run, ddb: Any, tables: dict[str, str], tmp_path: Any
) -> None:
    path, data = _file(tmp_path, 30)
    assert run("import", str(path))[0] == 0
    state = {"target_id": {"S": "mx0001"}, "status": {"S": "down"}, "version": {"N": "7"}}
    ddb.put_item(TableName=tables["StateTable"], Item=state)
    data[1]["port"] = 2525
    path.write_text(json.dumps(data))
    code, out, _ = run("import", str(path))
    assert code == 0 and "0 new, 1 replaced, 29 unchanged" in out
    assert items(ddb, tables["TargetsTable"])["mx0001"]["port"] == 2525
    # State lives apart and the import writes config only: untouched, none created.
    assert ddb.scan(TableName=tables["StateTable"])["Items"] == [state]


def test_dynamodb_import_shows_progress(run: Run, tmp_path: Any) -> None:
    path, _ = _file(tmp_path, 2500)
    code, out, err = run("import", str(path))
    assert code == 0 and "imported 2500 target(s)" in out
    lines = [line for line in err.splitlines() if line.startswith("import:")]
    assert lines == [
        "import: 1000/2500 processed",
        "import: 2000/2500 processed",
        "import: 2500/2500 processed",
    ]


def test_export_import_round_trip_on_dynamodb(
    run: Run, ddb: Any, tables: dict[str, str], tmp_path: Any
) -> None:
    run("add", "mx1", "mx1.example.com", "--dns-host", "192.0.2.1 mx1.example.com")
    run("add", "mx2", "[2001:db8::2]:465", "--encryption", "implicit", "--timeout-s", "2.5")
    code, exported, _ = run("export", "--format", "json")
    assert code == 0
    before = items(ddb, tables["TargetsTable"])
    for tid in list(before):
        run("remove", tid)
    path = tmp_path / "export.json"
    path.write_text(exported)
    assert run("import", str(path))[0] == 0
    assert items(ddb, tables["TargetsTable"]) == before
    assert run("export", "--format", "json")[1] == exported


# ---- passwords on AWS ------------------------------------------------------------------


@pytest.fixture
def resolver(session: boto3.Session) -> AwsSecretResolver:
    return AwsSecretResolver(
        prefix=PREFIX,
        ssm_client=boto3.client("ssm", region_name=REGION),
        secrets_client=boto3.client("secretsmanager", region_name=REGION),
    )


def test_password_goes_to_ssm_bound_to_the_host_and_only_the_ref_is_kept(
    run: Run, ddb: Any, tables: dict[str, str], stack: str, resolver: AwsSecretResolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MX_PW", PASSWORD)
    code, out, err = run(
        "add",
        "mx1",
        "mx1.example.com",
        "--username",
        "alice",
        "--password-env",
        "MX_PW",
        stack=True,
    )
    assert code == 0, err
    item = items(ddb, tables["TargetsTable"])["mx1"]
    assert item["password_ref"] == "ssm:/smtpwatch/mx1" and item["login"] is True
    param = boto3.client("ssm", region_name=REGION).get_parameter(Name="/smtpwatch/mx1")[
        "Parameter"
    ]
    assert param["Type"] == "SecureString"
    # What the probe Lambda reads: the password for this host, refused for any other.
    assert resolver.resolve("ssm:/smtpwatch/mx1", host="mx1.example.com") == PASSWORD
    with pytest.raises(SecretError):
        resolver.resolve("ssm:/smtpwatch/mx1", host="evil.example.net")
    shown = [run(a, *rest, stack=True) for a, *rest in (("show", "mx1"), ("list",), ("export",))]
    assert PASSWORD not in out + err + "".join(o + e for _, o, e in shown)
    assert PASSWORD not in json.dumps(item)


def test_password_in_secrets_manager(
    run: Run, ddb: Any, tables: dict[str, str], stack: str, resolver: AwsSecretResolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MX_PW", PASSWORD)
    code, _, err = run(
        "add", "mx2", "mx2.example.com", "--username", "bob", "--password-env", "MX_PW",
        "--secret-store", "secretsmanager", stack=True,
    )  # fmt: skip
    assert code == 0, err
    ref = items(ddb, tables["TargetsTable"])["mx2"]["password_ref"]
    assert ref == "secretsmanager:/smtpwatch/mx2"
    assert resolver.resolve(ref, host="mx2.example.com") == PASSWORD
    # Secret rotation through the CLI: storing again replaces the value.
    monkeypatch.setenv("MX_PW", PASSWORD + "-2")
    assert (
        run(
            "update",
            "mx2",
            "--password-env",
            "MX_PW",
            "--secret-store",
            "secretsmanager",
            stack=True,
        )[0]
        == 0
    )
    assert resolver.resolve(ref, host="mx2.example.com", refresh=True) == PASSWORD + "-2"


def test_unverified_target_gets_a_secret_that_allows_it_but_a_later_edit_does_not(
    run: Run, ddb: Any, tables: dict[str, str], stack: str, resolver: AwsSecretResolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MX_PW", PASSWORD)
    # A self-signed MX: the user stores the password for a tls_verify=false target.
    code, _, err = run(
        "add", "selfsigned", "mx3.example.com", "--no-tls-verify", "--username", "u",
        "--password-env", "MX_PW", stack=True,
    )  # fmt: skip
    assert code == 0 and "unverified" in err
    target = Target.from_item(items(ddb, tables["TargetsTable"])["selfsigned"], strict=False)[0]
    ref = str(target.password_ref)
    assert TargetSecretResolver(resolver, target).resolve(ref, host=target.host) == PASSWORD
    # A verified target whose table item is later edited to skip verification: refused.
    run(
        "add", "strict", "mx4.example.com", "--username", "u", "--password-env", "MX_PW", stack=True
    )
    assert run("update", "strict", "--no-tls-verify", stack=True)[0] == 0
    edited = Target.from_item(items(ddb, tables["TargetsTable"])["strict"], strict=False)[0]
    with pytest.raises(SecretError, match="allow_unverified"):
        TargetSecretResolver(resolver, edited).resolve(str(edited.password_ref), host=edited.host)


def test_remove_deletes_the_ssm_parameter_the_cli_created(
    run: Run, stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MX_PW", PASSWORD)
    run("add", "mx1", "mx1.example.com", "--username", "u", "--password-env", "MX_PW", stack=True)
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameters(Names=["/smtpwatch/mx1"])["Parameters"]
    assert run("remove", "mx1", stack=True)[0] == 0
    assert ssm.get_parameters(Names=["/smtpwatch/mx1"])["Parameters"] == []


# ---- the real process against a moto server on loopback --------------------------------


@pytest.fixture
def moto_endpoint(_dummy_aws_credentials: None) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_cli_process_manages_a_stack_end_to_end(moto_endpoint: str, tmp_path: Any) -> None:
    # GIVEN a deployed stack (tables from template.yaml, outputs as the template names them)
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint)
    names = create_tables(ddb, prefix="e2e")
    body = {
        "Resources": {"AlertTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TargetsTableName": {"Value": names["TargetsTable"]},
            "StateTableName": {"Value": names["StateTable"]},
            "ResultsTableName": {"Value": names["ResultsTable"]},
            "SecretsPrefix": {"Value": PREFIX},
        },
    }
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_endpoint)
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    env |= {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "MX_PW": PASSWORD,
    }

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smtpwatch", "targets", *args, "--stack", STACK],
            input=stdin, capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    # WHEN a user manages targets with the CLI
    outputs = [
        cli("add", "mx1", "mx1.example.com", "--username", "u", "--password-env", "MX_PW"),
        cli("import", "-", stdin=json.dumps([{"target_id": "mx2", "host": "mx2.example.com"}])),
        cli("disable", "mx2"),
        cli("list"),
        cli("show", "mx1", "--json"),
        cli("export", "--format", "json"),
    ]
    # THEN every command succeeds and the table holds what they said
    for done in outputs:
        assert done.returncode == 0, done.stderr
    assert "mx1.example.com:587" in outputs[3].stdout
    assert json.loads(outputs[4].stdout)["password_ref"] == "ssm:/smtpwatch/mx1"
    exported = {t["target_id"]: t for t in json.loads(outputs[5].stdout)}
    assert exported["mx2"] == {"target_id": "mx2", "host": "mx2.example.com", "enabled": False}
    assert items(ddb, names["TargetsTable"]) == exported
    removed = cli("remove", "mx2")
    assert removed.returncode == 0 and set(items(ddb, names["TargetsTable"])) == {"mx1"}
    # AND the password shows up nowhere
    assert PASSWORD not in "".join(o.stdout + o.stderr for o in [*outputs, removed])
    bad = cli("add", "mx3", "mx3.example.com", "--interval-s", "30")
    assert bad.returncode == 3 and "interval_s" in bad.stderr


def test_dynamodb_import_retries_unprocessed_lookups(
    run: Run, ddb: Any, tables: dict[str, str], tmp_path: Any, session: boto3.Session
) -> None:
    path, data = _file(tmp_path, 40)
    assert run("import", str(path))[0] == 0
    throttled = {"left": 2}

    # The existence check of a small file (BatchGetItem) is throttled twice.
    def throttle(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if throttled["left"] == 0:
            return None
        throttled["left"] -= 1
        sent = json.loads(params["body"])
        response = AWSResponse("https://dynamodb.us-east-1.amazonaws.com", 200, {}, None)
        return response, {"Responses": {}, "UnprocessedKeys": sent["RequestItems"]}

    session.events.register("before-call.dynamodb.BatchGetItem", throttle)
    try:
        code, out, _ = run("import", str(path))
    finally:
        session.events.unregister("before-call.dynamodb.BatchGetItem", throttle)
    assert throttled["left"] == 0
    assert code == 0 and "0 new, 0 replaced, 40 unchanged" in out
    assert items(ddb, tables["TargetsTable"]) == {d["target_id"]: d for d in data}
