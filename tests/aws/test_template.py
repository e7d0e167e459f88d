"""template.yaml deploys into an emulated account and wires every part to the others.

GIVEN the SAM template translated by samtranslator (as `sam deploy` does) WHEN moto's
CloudFormation creates the stack THEN tables, topic, queue, functions, the schedule
rule and the invoke permission exist and every environment variable names the
resource it should. Static tests on the parsed template cover what moto does not
model (IAM scoping, async-invoke settings, alarms, log configuration).
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from template_tables import create_tables, load_template

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CODE_BUCKET = "smtpwatch-test-code"
CODE_KEY = "functions.zip"

# Environment names the handlers read (team brief "AWS names"); both functions.
COMMON_ENV = {
    "TARGETS_TABLE",
    "STATE_TABLE",
    "RESULTS_TABLE",
    "ALERT_TOPIC_ARN",
    "SECRETS_PREFIX",
    "EHLO_NAME",
    "RESULT_RETENTION_DAYS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "SMTPWATCH_TRACING",
    "SMTPWATCH_DEGRADED_SHARE",
}


# --------------------------------------------------------------------------- helpers


def translate(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """SAM → plain CloudFormation, with the code at an s3:// URI (no `sam package`)."""
    sam = copy.deepcopy(template if template is not None else load_template())
    sam["Globals"]["Function"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    for resource in sam["Resources"].values():  # the tracing layer, built like the code
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    session = boto3.session.Session(region_name=REGION)
    translated: dict[str, Any] = Translator({}, Parser(), boto_session=session).translate(
        sam, parameter_values={}, get_managed_policy_map=lambda: {}
    )
    return translated


def _upload_code() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("smtpwatch/__init__.py", "")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buf.getvalue())


class Stack:
    """A created stack: its physical resources and outputs."""

    def __init__(self, name: str, parameters: dict[str, str] | None = None) -> None:
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(translate()),
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
            ],
            Capabilities=["CAPABILITY_IAM"],
        )
        desc = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert desc["StackStatus"] == "CREATE_COMPLETE", desc.get("StackStatusReason")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
        self.resources = {
            r["LogicalResourceId"]: r
            for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
        }

    def physical(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["PhysicalResourceId"])


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        # Dummy credentials: nothing may ever reach a real AWS endpoint.
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(name, value)
        with mock_aws(config={"lambda": {"use_docker": False}}):
            _upload_code()
            yield


@pytest.fixture(scope="module")
def stack(aws: None) -> Stack:
    return Stack("smtpwatch", {"AlertEmail": "ops@example.com"})


def _function(stack: Stack, logical_id: str) -> dict[str, Any]:
    lam = boto3.client("lambda", region_name=REGION)
    config: dict[str, Any] = lam.get_function(FunctionName=stack.physical(logical_id))[
        "Configuration"
    ]
    return config


def _env(stack: Stack, logical_id: str) -> dict[str, str]:
    env: dict[str, str] = _function(stack, logical_id)["Environment"]["Variables"]
    return env


# --------------------------------------------------------------------------- deployed


def test_tables_have_the_contract_keys_and_on_demand_billing(stack: Stack) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    keys = {}
    for logical_id in ("TargetsTable", "StateTable", "ResultsTable"):
        table = ddb.describe_table(TableName=stack.physical(logical_id))["Table"]
        keys[logical_id] = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert keys == {
        "TargetsTable": [("target_id", "HASH")],
        "StateTable": [("target_id", "HASH")],
        "ResultsTable": [("target_id", "HASH"), ("ts", "RANGE")],
    }
    # TTL: moto's CloudFormation ignores TimeToLiveSpecification; see the static test
    # and test_test_tables_follow_the_template.


def test_functions_run_the_named_handlers_on_python313_arm64(stack: Stack) -> None:
    dispatcher = _function(stack, "DispatcherFunction")
    probe = _function(stack, "ProbeFunction")
    assert dispatcher["Handler"] == "smtpwatch.handlers.dispatcher.handler"
    assert probe["Handler"] == "smtpwatch.handlers.probe.handler"
    for config in (dispatcher, probe):
        assert config["Runtime"] == "python3.13"
    # Architectures (arm64): moto's CloudFormation drops it; see the static test.
    # timeout_s (300) + recheck_delay_s (120) + the re-check probe (300) fit in it.
    assert probe["Timeout"] >= 300 + 120 + 300
    assert probe["MemorySize"] == 128  # the cheapest for network-bound work (bench/cost.py)


def test_environment_of_both_functions_names_the_stacks_own_resources(stack: Stack) -> None:
    topic_arn = stack.physical("AlertTopic")
    expected = {
        "TARGETS_TABLE": stack.physical("TargetsTable"),
        "STATE_TABLE": stack.physical("StateTable"),
        "RESULTS_TABLE": stack.physical("ResultsTable"),
        "ALERT_TOPIC_ARN": topic_arn,
        "SECRETS_PREFIX": "/smtpwatch/",
        "EHLO_NAME": "",
        "RESULT_RETENTION_DAYS": "30",
        "POWERTOOLS_SERVICE_NAME": "smtpwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Smtpwatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SMTPWATCH_TRACING": "false",
        "SMTPWATCH_DEGRADED_SHARE": "0.5",
    }
    for logical_id in ("DispatcherFunction", "ProbeFunction"):
        env = _env(stack, logical_id)
        # str(): moto passes Number parameters through as numbers, CloudFormation as text.
        assert {k: str(env.get(k)) for k in COMMON_ENV} == expected, logical_id
        assert "SMTPWATCH_ALLOW_LOOPBACK" not in env  # never set by the template: tests only
    # The names resolve to real resources of the stack.
    sns = boto3.client("sns", region_name=REGION)
    assert topic_arn in {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    ddb = boto3.client("dynamodb", region_name=REGION)
    assert set(ddb.list_tables()["TableNames"]) >= {
        expected["TARGETS_TABLE"],
        expected["STATE_TABLE"],
        expected["RESULTS_TABLE"],
    }


def test_dispatcher_invokes_the_stacks_probe_function(stack: Stack) -> None:
    probe_name = stack.physical("ProbeFunction")
    assert _env(stack, "DispatcherFunction")["PROBE_FUNCTION_NAME"] == probe_name
    # The probe reads its own name from AWS_LAMBDA_FUNCTION_NAME (a self-reference
    # would be a circular dependency).
    assert "PROBE_FUNCTION_NAME" not in _env(stack, "ProbeFunction")
    assert _env(stack, "ProbeFunction")["SMTPWATCH_IN_VPC"] == "false"


def test_schedule_rule_ticks_every_minute_into_the_dispatcher(stack: Stack) -> None:
    events = boto3.client("events", region_name=REGION)
    rule_name = stack.physical("DispatcherFunctionTick")
    rule = events.describe_rule(Name=rule_name)
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    dispatcher_arn = _function(stack, "DispatcherFunction")["FunctionArn"]
    assert [t["Arn"] for t in targets] == [dispatcher_arn]


def test_events_may_invoke_the_dispatcher_only_from_the_rule(stack: Stack) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    policy = json.loads(lam.get_policy(FunctionName=stack.physical("DispatcherFunction"))["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    rule_arn = boto3.client("events", region_name=REGION).describe_rule(
        Name=stack.physical("DispatcherFunctionTick")
    )["Arn"]
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule_arn


def test_outputs_name_the_created_resources(stack: Stack) -> None:
    assert stack.outputs == {
        "TargetsTableName": stack.physical("TargetsTable"),
        "StateTableName": stack.physical("StateTable"),
        "ResultsTableName": stack.physical("ResultsTable"),
        "AlertTopicArn": stack.physical("AlertTopic"),
        "DispatcherFunctionName": stack.physical("DispatcherFunction"),
        "ProbeFunctionName": stack.physical("ProbeFunction"),
        "FailureQueueUrl": stack.physical("FailureQueue"),
        "SecretsPrefix": "/smtpwatch/",
        "PassingResultSeconds": "3600",
    }


def test_parameters_reach_the_functions(aws: None) -> None:
    stack = Stack(
        "smtpwatch-params",
        {
            "SecretsPrefix": "/mail/monitor/",
            "EhloName": "monitor.example.com",
            "ResultRetentionDays": "7",
            "LogLevel": "WARNING",
            "EnableTracing": "true",
            "ProbeMemorySize": "512",
            "ScheduleExpression": "rate(2 minutes)",
        },
    )
    probe = _function(stack, "ProbeFunction")
    env = probe["Environment"]["Variables"]
    assert env["SECRETS_PREFIX"] == "/mail/monitor/"
    assert env["EHLO_NAME"] == "monitor.example.com"
    assert str(env["RESULT_RETENTION_DAYS"]) == "7"
    assert env["POWERTOOLS_LOG_LEVEL"] == "WARNING"
    assert env["SMTPWATCH_TRACING"] == "true"  # TracingConfig: moto drops it; static test
    assert probe["MemorySize"] == 512
    rule = boto3.client("events", region_name=REGION).describe_rule(
        Name=stack.physical("DispatcherFunctionTick")
    )
    assert rule["ScheduleExpression"] == "rate(2 minutes)"


def test_probe_joins_the_vpc_only_when_subnets_and_groups_are_given(aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (2, 3)
    ]
    group = ec2.create_security_group(GroupName="probe", Description="probe", VpcId=vpc)
    stack = Stack(
        "smtpwatch-vpc",
        {"SubnetIds": ",".join(subnets), "SecurityGroupIds": group["GroupId"]},
    )
    probe = _function(stack, "ProbeFunction")
    assert sorted(probe["VpcConfig"]["SubnetIds"]) == sorted(subnets)
    assert probe["VpcConfig"]["SecurityGroupIds"] == [group["GroupId"]]
    assert probe["Environment"]["Variables"]["SMTPWATCH_IN_VPC"] == "true"
    # The dispatcher only talks to AWS APIs and stays outside the VPC.
    assert not _function(stack, "DispatcherFunction").get("VpcConfig", {}).get("SubnetIds")


# --------------------------------------------------------------------------- static


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translate()


def _statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline policies."""
    props = cfn["Resources"][role]["Properties"]
    assert "ManagedPolicyArns" not in props  # managed policies are not least-privilege
    return [s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _sid(cfn: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    (statement,) = [s for s in _statements(cfn, role) if s.get("Sid") == sid]
    return statement


# Actions AWS offers no resource-level permission for: the only place "*" may appear,
# and only allowed under the parameter that needs them.
UNSCOPABLE = {
    "TracingEnabled": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    "UseVpc": {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    },
}


@pytest.mark.parametrize("role", ["DispatcherRole", "ProbeRole"])
def test_iam_statements_are_scoped_to_resources(cfn: dict[str, Any], role: str) -> None:
    for statement in _statements(cfn, role):
        actions = _actions(statement)
        assert all("*" not in a.split(":", 1)[1].rstrip("*") for a in actions), statement
        if statement["Resource"] == "*":
            # GIVEN an unscopable action THEN it is allowed only when its feature is on.
            condition, allow, deny = statement["Effect"]["Fn::If"]
            assert (allow, deny) == ("Allow", "Deny")
            assert set(actions) <= UNSCOPABLE[condition], statement
        else:
            assert statement["Effect"] == "Allow"


def test_only_the_probe_reads_secrets_and_only_under_the_prefix(cfn: dict[str, Any]) -> None:
    def secret_actions(role: str) -> set[str]:
        return {
            a
            for s in _statements(cfn, role)
            for a in _actions(s)
            if a.startswith(("ssm:", "secretsmanager:", "kms:Decrypt"))
        }

    assert secret_actions("DispatcherRole") <= {"kms:Decrypt"}  # only the topic key
    ssm = _sid(cfn, "ProbeRole", "ReadSecretsUnderPrefix")
    assert _actions(ssm) == ["ssm:GetParameter", "ssm:ListTagsForResource"]
    assert ssm["Resource"]["Fn::Sub"].endswith(":parameter${SecretsPrefix}*")
    sm = _sid(cfn, "ProbeRole", "ReadSecretManagerSecretsUnderPrefix")
    assert _actions(sm) == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert sm["Resource"]["Fn::Sub"].endswith(":secret:${SecretsPrefix}*")
    # Customer-key decryption only on behalf of SSM / Secrets Manager.
    kms = _sid(cfn, "ProbeRole", "DecryptSecretsViaService")
    via = kms["Condition"]["StringEquals"]["kms:ViaService"]
    assert sorted(v["Fn::Sub"].split(".")[0] for v in via) == ["secretsmanager", "ssm"]
    # The prefix parameter cannot widen the grant to every parameter or secret.
    prefix = cfn["Parameters"]["SecretsPrefix"]
    assert prefix["Default"] == "/smtpwatch/"
    assert prefix["AllowedPattern"].startswith("^/") and prefix["AllowedPattern"].endswith("/)*$")


def test_each_role_reaches_only_what_its_function_uses(cfn: dict[str, Any]) -> None:
    def grants(role: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for s in _statements(cfn, role):
            res = s["Resource"]
            key = json.dumps(res, sort_keys=True)
            out.setdefault(key, set()).update(_actions(s))
        return out

    def arn(logical_id: str) -> str:
        return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, sort_keys=True)

    probe = grants("ProbeRole")
    dispatcher = grants("DispatcherRole")
    # item reads only (one BatchGetItem per check with its state): never scans all targets
    assert probe[arn("TargetsTable")] == {"dynamodb:GetItem", "dynamodb:BatchGetItem"}
    assert "dynamodb:Scan" in dispatcher[arn("TargetsTable")]
    assert not any(
        a.startswith(("dynamodb:Put", "dynamodb:Update", "dynamodb:Delete"))
        for a in dispatcher[arn("TargetsTable")] | probe[arn("TargetsTable")]
    )
    assert dispatcher[arn("ProbeFunction")] == {"lambda:InvokeFunction"}
    # The probe invokes nothing but itself (a relay, with ProbeRegions), by its name then.
    own = json.dumps(
        {
            "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}"
            ":function:${AWS::StackName}-probe-${AWS::Region}"
        },
        sort_keys=True,
    )
    assert {k: v for k, v in probe.items() if any(a.startswith("lambda:") for a in v)} == {
        own: {"lambda:InvokeFunction"}
    }
    name = cfn["Resources"]["ProbeFunction"]["Properties"]["FunctionName"]
    assert name == {
        "Fn::If": [
            "HasProbeRegions",
            {"Fn::Sub": "${AWS::StackName}-probe-${AWS::Region}"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert probe[arn("FailureQueue")] == {"sqs:SendMessage"}
    topic = json.dumps({"Ref": "AlertTopic"})
    assert probe[topic] == dispatcher[topic] == {"sns:Publish"}
    # Logs only into the function's own log group.
    assert probe[arn("ProbeLogGroup")] == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert dispatcher[arn("DispatcherLogGroup")] == {"logs:CreateLogStream", "logs:PutLogEvents"}


def test_functions_log_to_their_own_group_with_retention_and_no_platform_lines(
    cfn: dict[str, Any],
) -> None:
    resources = cfn["Resources"]
    for fn, group in (
        ("DispatcherFunction", "DispatcherLogGroup"),
        ("ProbeFunction", "ProbeLogGroup"),
    ):
        logging = resources[fn]["Properties"]["LoggingConfig"]
        assert logging["LogGroup"] == {"Ref": group}
        assert logging["LogFormat"] == "JSON"
        assert logging["SystemLogLevel"] == {"Ref": "PlatformLogLevel"}
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert cfn["Parameters"]["LogRetentionDays"]["Default"] == 14
    # No START/END/REPORT lines to pay for at every check unless asked for.
    assert cfn["Parameters"]["PlatformLogLevel"]["Default"] == "WARN"


def test_tracing_follows_the_parameter_and_defaults_off(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["EnableTracing"]["Default"] == "false"
    assert cfn["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "EnableTracing"}, "true"]}
    for fn in ("DispatcherFunction", "ProbeFunction"):
        mode = cfn["Resources"][fn]["Properties"]["TracingConfig"]["Mode"]
        assert mode == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    for role in ("DispatcherRole", "ProbeRole"):
        xray = _sid(cfn, role, "SendTraces")
        assert xray["Effect"] == {"Fn::If": ["TracingEnabled", "Allow", "Deny"]}


def test_functions_are_arm64_python313_from_one_code_asset(cfn: dict[str, Any]) -> None:
    for fn in ("DispatcherFunction", "ProbeFunction"):
        props = cfn["Resources"][fn]["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == "python3.13"
        assert props["Code"] == {"S3Bucket": CODE_BUCKET, "S3Key": CODE_KEY}


def test_probe_invocations_are_not_retried_and_failures_go_to_the_queue(
    cfn: dict[str, Any],
) -> None:
    config = cfn["Resources"]["ProbeFunctionEventInvokeConfig"]["Properties"]
    assert config["FunctionName"] == {"Ref": "ProbeFunction"}
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 60
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailureQueue", "Arn"]
    }
    dispatcher = cfn["Resources"]["DispatcherFunctionEventInvokeConfig"]["Properties"]
    assert dispatcher["MaximumRetryAttempts"] == 0


def test_the_monitor_alarms_on_its_own_failures_into_the_topic(cfn: dict[str, Any]) -> None:
    alarms = {
        k: r["Properties"]
        for k, r in cfn["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    watched = {
        (a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"][0]["Value"]))
        for a in alarms.values()
    }
    assert watched >= {
        ("AWS/Lambda", "Invocations", json.dumps({"Ref": "DispatcherFunction"})),
        ("AWS/Lambda", "Errors", json.dumps({"Ref": "ProbeFunction"})),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["FailureQueue", "QueueName"]}),
        ),
    }
    silent = alarms["DispatcherNotRunningAlarm"]
    assert silent["TreatMissingData"] == "breaching"  # no data = the schedule stopped
    assert silent["ComparisonOperator"] == "LessThanThreshold" and silent["Threshold"] == 1
    assert silent["Period"] == 60
    assert cfn["Parameters"]["DispatcherAlarmMinutes"]["Default"] == 3
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]


def test_alert_topic_key_lets_cloudwatch_alarms_publish(cfn: dict[str, Any]) -> None:
    topic = cfn["Resources"]["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["TopicEncrypted", {"Ref": "AlertTopicKey"}, {"Ref": "AWS::NoValue"}]
    }
    policy = cfn["Resources"]["AlertTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    services = {json.dumps(s["Principal"]) for s in policy}
    assert json.dumps({"Service": "cloudwatch.amazonaws.com"}) in services


def test_user_data_survives_stack_deletion(cfn: dict[str, Any]) -> None:
    for table in ("TargetsTable", "StateTable"):
        resource = cfn["Resources"][table]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
        props = resource["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
    for table in ("ResultsTable", "StateTable"):
        ttl = cfn["Resources"][table]["Properties"]["TimeToLiveSpecification"]
        assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    assert cfn["Parameters"]["ResultRetentionDays"]["Default"] == 30


def test_test_tables_follow_the_template(aws: None) -> None:
    """The tables other tests build (template_tables.create_tables) carry the template's
    keys and TTL, so the handlers' tests run against the deployed shape."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    names = create_tables(ddb, prefix="helper")
    ttl = {
        logical_id: ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        for logical_id, name in names.items()
    }
    assert ttl["ResultsTable"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    # State: only bookkeeping items (tick counters) carry expires_at.
    assert ttl["StateTable"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert ttl["TargetsTable"]["TimeToLiveStatus"] == "DISABLED"  # user config never expires
    results = ddb.describe_table(TableName=names["ResultsTable"])["Table"]
    assert [k["AttributeName"] for k in results["KeySchema"]] == ["target_id", "ts"]


# --------------------------------------------------------------------------- network stack


@pytest.fixture(scope="module")
def network() -> dict[str, Any]:
    # Static: moto's CloudFormation has no Fn::Cidr; cfn-lint and checkov check the rest.
    return load_template(ROOT / "infra" / "network.yaml")


def test_probe_security_group_allows_only_smtp_dns_and_https_out(network: dict[str, Any]) -> None:
    group = network["Resources"]["ProbeSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group  # nothing may connect to the probes
    egress = {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]}
    assert egress == {
        ("tcp", 25, 25),
        ("tcp", 465, 465),
        ("tcp", 587, 587),
        ("udp", 53, 53),
        ("tcp", 53, 53),
        ("tcp", 443, 443),
    }


def test_private_subnets_leave_through_one_nat_gateway_with_a_kept_address(
    network: dict[str, Any],
) -> None:
    res = network["Resources"]
    assert res["PrivateDefaultRoute"]["Properties"]["NatGatewayId"] == {"Ref": "NatGateway"}
    assert res["PublicDefaultRoute"]["Properties"]["GatewayId"] == {"Ref": "InternetGateway"}
    for subnet in ("PrivateSubnetA", "PrivateSubnetB"):
        assoc = res[f"{subnet}Routes"]["Properties"]
        assert assoc == {"SubnetId": {"Ref": subnet}, "RouteTableId": {"Ref": "PrivateRouteTable"}}
    nats = [r for r in res.values() if r["Type"] == "AWS::EC2::NatGateway"]
    assert len(nats) == 1  # one egress address to allow-list and to get port 25 opened for
    # The address is what remote allow-lists and the PTR record name: it survives the stack.
    assert res["NatAddress"]["DeletionPolicy"] == "Retain"
    assert res["NatGateway"]["Properties"]["AllocationId"] == {
        "Fn::If": [
            "NewAddress",
            {"Fn::GetAtt": ["NatAddress", "AllocationId"]},
            {"Ref": "ExistingAllocationId"},
        ]
    }


def test_network_outputs_fit_the_main_stacks_parameters(network: dict[str, Any]) -> None:
    outputs = network["Outputs"]
    assert outputs["SubnetIds"]["Value"] == {
        "Fn::Join": [",", [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]]
    }
    assert outputs["SecurityGroupId"]["Value"] == {"Ref": "ProbeSecurityGroup"}
    assert outputs["EgressIp"]["Value"] == {"Ref": "NatAddress"}
    main = load_template()["Parameters"]
    assert main["SubnetIds"]["Type"] == main["SecurityGroupIds"]["Type"] == "CommaDelimitedList"


# Client calls in the Lambda code (functions/smtpwatch minus cli/, local/, testing/) and
# the IAM action each needs. CLI-only calls (targets import/remove, secret storage) run
# with the operator's credentials, not the functions' roles.
_CALL = re.compile(
    r"\.(get_item|put_item|update_item|delete_item|scan|query|batch_write_item"
    r"|batch_get_item|transact_write_items|publish|invoke|list_tags_for_resource"
    r"|describe_secret|get_secret_value|get_parameters?)\("
)
# (query: DynamoResultStore.iter_results/latest, read by `history`/`status --stack`;
# delete_item: targets remove — the dispatcher's own DeleteItem has its test below.)
_CLI_ONLY = {
    ("targets.py", "batch_write_item"),
    ("targets.py", "delete_item"),
    ("results.py", "query"),
}
_SERVICE = {
    "sns.py": "sns",
    "lambda_invoker.py": "lambda",
}


def _lambda_code_actions() -> set[str]:
    actions: set[str] = set()
    package = ROOT / "functions" / "smtpwatch"
    for path in [*package.glob("handlers/*.py"), *package.glob("adapters/**/*.py")]:
        if path.name == "secret_store.py":  # writes secrets for the CLI
            continue
        text = path.read_text(encoding="utf-8")
        in_dynamodb = path.parent.name == "dynamodb"
        for op in set(_CALL.findall(text)):
            if in_dynamodb and (path.name, op) in _CLI_ONLY:
                continue
            service = "dynamodb" if in_dynamodb else _SERVICE.get(path.name)
            if op in ("list_tags_for_resource", "get_parameter", "get_parameters"):
                service = "ssm"
            elif op in ("describe_secret", "get_secret_value"):
                service = "secretsmanager"
            if service is None:
                continue
            actions.add(f"{service}:" + "".join(w.title() for w in op.split("_")))
        if "ssm_client" in text or "_ssm.get(" in text:  # Powertools Parameters
            actions.add("ssm:GetParameter")
        if "_sm.get(" in text:
            actions.add("secretsmanager:GetSecretValue")
    return actions


def test_the_roles_grant_every_call_the_lambda_code_makes(cfn: dict[str, Any]) -> None:
    granted = {
        a
        for role in ("DispatcherRole", "ProbeRole")
        for st in _statements(cfn, role)
        if st["Effect"] == "Allow"
        for a in _actions(st)
    }
    used = _lambda_code_actions()
    assert {
        "dynamodb:PutItem",
        "lambda:Invoke",
        "sns:Publish",
        "ssm:GetParameter",
    } <= used  # scanner works
    used = {"lambda:InvokeFunction" if a == "lambda:Invoke" else a for a in used}
    assert used <= granted, f"calls without a grant: {sorted(used - granted)}"


def test_the_dispatcher_may_delete_the_first_dispatch_stub_it_releases_after_a_failed_invoke(
    cfn: dict[str, Any],
) -> None:
    # GIVEN the dispatcher releases a new target's first-dispatch stub (DeleteItem on the
    # state table) when the invoke failed, so the next tick dispatches it as new again
    bookkeeping = ROOT / "functions/smtpwatch/adapters/dynamodb/bookkeeping.py"
    source = bookkeeping.read_text(encoding="utf-8")
    release = source.split("def release_first_dispatch", 1)[1].split("\n    def ", 1)[0]
    assert ".delete_item(" in release
    # THEN its role may do that on the state table (and only there)
    state = _sid(cfn, "DispatcherRole", "ReadWriteState")
    assert state["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert "dynamodb:DeleteItem" in _actions(state)
    targets = _sid(cfn, "DispatcherRole", "ReadTargets")
    assert "dynamodb:DeleteItem" not in _actions(targets)


def test_the_monitor_alarms_when_the_dispatcher_cannot_invoke_probes(cfn: dict[str, Any]) -> None:
    # GIVEN invokes that fail (throttled, the probe function's permission or name broken):
    # the dispatcher run itself succeeds and nothing reaches FailureQueue, so without
    # its own alarm no target would be probed and nobody told
    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    alarms = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "DispatchFailed"
    ]
    # THEN an alarm watches the dispatcher's DispatchFailed metric (EMF, as Powertools
    # names it: the stack's namespace and the service dimension) into the topic
    assert len(alarms) == 1, alarms
    (alarm,) = alarms
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "GreaterThanThreshold",
        0,
    )
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    source = (ROOT / "functions/smtpwatch/handlers/dispatcher.py").read_text(encoding="utf-8")
    assert 'name="DispatchFailed"' in source


def test_the_probe_may_only_add_results_not_read_the_history(cfn: dict[str, Any]) -> None:
    # GIVEN the probe code never reads the results table (the conditional PutItem is
    # its redelivery dedupe; readers are the CLI with the operator's credentials)
    package = ROOT / "functions" / "smtpwatch"
    for path in [*package.glob("handlers/*.py"), *package.glob("service/check.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"results\.(latest|has_result|iter_results)\(", text), path
    # THEN its role may put result items on that table, and read nothing of it but a
    # slot's votes (Query on "#vote#<target>" keys only, which no target id can be)
    statements = [
        s
        for s in _statements(cfn, "ProbeRole")
        if s["Resource"] == {"Fn::GetAtt": ["ResultsTable", "Arn"]}
    ]
    assert sorted(_actions(s)[0] for s in statements) == ["dynamodb:PutItem", "dynamodb:Query"]
    for statement in statements:
        assert len(_actions(statement)) == 1
        if _actions(statement) == ["dynamodb:Query"]:
            assert statement["Condition"] == {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#vote#*"]}
            }
        else:
            assert "Condition" not in statement


def test_the_dispatcher_may_only_scan_the_targets_table(cfn: dict[str, Any]) -> None:
    # GIVEN the dispatcher reads targets only by Scan (the probe reads its one item)
    source = (ROOT / "functions/smtpwatch/service/dispatch.py").read_text(encoding="utf-8")
    assert "self._targets.iter_items_and_wire()" in source
    assert not re.search(r"self\._targets\.(get_item|iter_raw_items|put_items)", source)
    # THEN its role may scan that table and nothing else
    assert _actions(_sid(cfn, "DispatcherRole", "ReadTargets")) == ["dynamodb:Scan"]
