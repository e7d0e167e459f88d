"""infra/probe-region.yaml: one more location's probe function, wired to the home stack.

GIVEN the home stack deployed in us-east-1 with ProbeRegions=eu-west-1 and the
probe-region template translated by samtranslator and deployed in eu-west-1 with the
home stack's outputs (moto) THEN the regional function is named as the home dispatcher
will invoke it, runs the probe handler, and reaches the home region's tables, topic and
secrets; its role grants what the home probe's does, on the home region's resources only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from template_tables import TEMPLATE as HOME_TEMPLATE
from template_tables import load_template
from test_template import CODE_BUCKET, CODE_KEY, REGION, ROOT, Stack, _upload_code

PROBE_REGION = "eu-west-1"
TEMPLATE = ROOT / "infra" / "probe-region.yaml"
HOME_STACK = "smtpwatch"


def translate_region(region: str = PROBE_REGION) -> dict[str, Any]:
    """The probe-region template as `sam deploy` would send it (code at an s3:// URI)."""
    sam = copy.deepcopy(load_template(TEMPLATE))
    sam["Resources"]["ProbeFunction"]["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    # the tracing layer, built like the code
    sam["Resources"]["TracingLayer"]["Properties"]["ContentUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    session = boto3.session.Session(region_name=region)
    translated: dict[str, Any] = Translator({}, Parser(), boto_session=session).translate(
        sam, parameter_values={}, get_managed_policy_map=lambda: {}
    )
    return translated


def region_parameters(home: Stack, **extra: str) -> dict[str, str]:
    """The probe-region stack's parameters, from the home stack's outputs."""
    return {
        "HomeStackName": HOME_STACK,
        "HomeRegion": REGION,
        "TargetsTableName": home.outputs["TargetsTableName"],
        "StateTableName": home.outputs["StateTableName"],
        "ResultsTableName": home.outputs["ResultsTableName"],
        "AlertTopicArn": home.outputs["AlertTopicArn"],
        "SecretsPrefix": home.outputs["SecretsPrefix"],
        **extra,
    }


def deploy_region(
    name: str, parameters: dict[str, str], region: str = PROBE_REGION
) -> dict[str, Any]:
    cfn = boto3.client("cloudformation", region_name=region)
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(translate_region(region)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    desc: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE", desc.get("StackStatusReason")
    return desc


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[Stack, dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws(config={"lambda": {"use_docker": False}}):
            _upload_code()
            home = Stack(HOME_STACK, {"ProbeRegions": PROBE_REGION})
            regional = deploy_region(f"{HOME_STACK}-probe", region_parameters(home))
            yield home, regional


def _home_function(home: Stack, logical_id: str) -> dict[str, Any]:
    lam = boto3.client("lambda", region_name=REGION)
    config: dict[str, Any] = lam.get_function(FunctionName=home.physical(logical_id))[
        "Configuration"
    ]
    return config


def test_the_regional_function_is_named_as_the_home_dispatcher_invokes_it(
    deployed: tuple[Stack, dict[str, Any]],
) -> None:
    home, regional = deployed
    env = _home_function(home, "DispatcherFunction")["Environment"]["Variables"]
    assert env["SMTPWATCH_PROBE_REGIONS"] == PROBE_REGION
    name = env["SMTPWATCH_PROBE_FUNCTION_PREFIX"] + PROBE_REGION
    assert name == f"{HOME_STACK}-probe-{PROBE_REGION}"
    # Every location's function follows the convention, the home one too (its relay
    # invokes itself by that name).
    assert env["PROBE_FUNCTION_NAME"] == env["SMTPWATCH_PROBE_FUNCTION_PREFIX"] + REGION
    # It exists in the probe region, and only there.
    fn = boto3.client("lambda", region_name=PROBE_REGION).get_function(FunctionName=name)
    config = fn["Configuration"]
    assert config["FunctionArn"].startswith(f"arn:aws:lambda:{PROBE_REGION}:")
    assert config["Handler"] == "smtpwatch.handlers.probe.handler"
    assert config["Runtime"] == "python3.13"
    assert config["Timeout"] >= 300 + 120 + 300
    with pytest.raises(
        boto3.client("lambda", region_name=REGION).exceptions.from_code("ResourceNotFoundException")
    ):
        boto3.client("lambda", region_name=REGION).get_function(FunctionName=name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in regional["Outputs"]}
    assert outputs["ProbeFunctionName"] == name
    assert outputs["Location"] == PROBE_REGION


def test_the_regional_function_uses_the_home_regions_tables_topic_and_secrets(
    deployed: tuple[Stack, dict[str, Any]],
) -> None:
    home, _ = deployed
    lam = boto3.client("lambda", region_name=PROBE_REGION)
    env = lam.get_function(FunctionName=f"{HOME_STACK}-probe-{PROBE_REGION}")["Configuration"][
        "Environment"
    ]["Variables"]
    home_probe = _home_function(home, "ProbeFunction")["Environment"]["Variables"]
    assert env["SMTPWATCH_HOME_REGION"] == REGION
    shared = (
        "TARGETS_TABLE",
        "STATE_TABLE",
        "RESULTS_TABLE",
        "ALERT_TOPIC_ARN",
        "SECRETS_PREFIX",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    )
    assert {k: env[k] for k in shared} == {k: home_probe[k] for k in shared}
    for key in ("RESULT_RETENTION_DAYS", "PASSING_RESULT_SECONDS", "SMTPWATCH_DEGRADED_SHARE"):
        assert str(env[key]) == str(home_probe[key]), key
    assert env["SMTPWATCH_IN_VPC"] == "false"
    assert "SMTPWATCH_ALLOW_LOOPBACK" not in env
    # The home probe reads its own region's tables: no home-region variable there.
    assert "SMTPWATCH_HOME_REGION" not in home_probe


def test_a_home_stack_without_probe_regions_invokes_only_its_own_probe(
    deployed: tuple[Stack, dict[str, Any]],
) -> None:
    solo = Stack("smtpwatch-solo")
    env = _home_function(solo, "DispatcherFunction")["Environment"]["Variables"]
    assert env["SMTPWATCH_PROBE_REGIONS"] == ""
    home = load_template()
    grant = next(
        s
        for s in home["Resources"]["DispatcherRole"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"
        ]
        if s["Sid"] == "InvokeRegionalProbes"
    )
    # Without ProbeRegions the statement names the home probe again: nothing more.
    condition, regional, alone = grant["Resource"]["Fn::If"]
    assert condition == "HasProbeRegions"
    assert alone == {"Fn::GetAtt": ["ProbeFunction", "Arn"]}
    assert regional["Fn::Sub"].endswith(
        ":lambda:*:${AWS::AccountId}:function:${AWS::StackName}-probe-*"
    )
    assert home["Conditions"]["HasProbeRegions"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ProbeRegions"}]}, ""]}]
    }


# --------------------------------------------------------------------------- static


@pytest.fixture(scope="module")
def region_cfn() -> dict[str, Any]:
    return translate_region()


def _statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = cfn["Resources"][role]["Properties"]
    assert "ManagedPolicyArns" not in props
    return [s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_regional_role_grants_the_home_probes_actions_on_home_resources_only(
    region_cfn: dict[str, Any],
) -> None:
    from test_template import translate

    home = {
        s["Sid"]: (sorted(_actions(s)), s.get("Condition"))
        for s in _statements(translate(), "ProbeRole")
    }
    regional = {
        s["Sid"]: (sorted(_actions(s)), s.get("Condition"))
        for s in _statements(region_cfn, "ProbeRole")
    }
    # The same grants (the home probe's failure queue is the only one left out) ...
    assert {k: v for k, v in home.items() if k != "FailureDestination"}.keys() == regional.keys()
    for sid, (actions, condition) in regional.items():
        assert actions == home[sid][0], sid
        if sid not in ("DecryptSecretsViaService",):
            assert condition == home[sid][1], sid
    # ... each on the home region's resource: an ARN naming ${HomeRegion}, the home
    # topic, the function's own log group, or "*" for what AWS cannot scope (switched).
    for statement in _statements(region_cfn, "ProbeRole"):
        resource = statement["Resource"]
        assert all("*" not in a.split(":", 1)[1] for a in _actions(statement)), statement
        if resource == "*":
            assert statement["Effect"]["Fn::If"][1:] == ["Allow", "Deny"], statement
        elif statement["Sid"] == "PublishAlerts":
            assert resource == {"Ref": "AlertTopicArn"}
        elif statement["Sid"] == "WriteOwnLogs":
            assert resource == {"Fn::GetAtt": ["ProbeLogGroup", "Arn"]}
        elif statement["Sid"] == "RelayToItself":  # its own function, in its own region
            assert resource["Fn::Sub"].endswith(
                ":lambda:${AWS::Region}:${AWS::AccountId}:function:${HomeStackName}-probe-${AWS::Region}"
            )
        else:
            assert ":${HomeRegion}:${AWS::AccountId}:" in resource["Fn::Sub"], statement
            assert statement["Effect"] == "Allow"
    claim = next(s for s in _statements(region_cfn, "ProbeRole") if s["Sid"] == "ClaimSlots")
    assert claim["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#slot#*"]}}
    votes = next(s for s in _statements(region_cfn, "ProbeRole") if s["Sid"] == "ReadVotes")
    assert votes["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#vote#*"]}}
    kms = next(
        s for s in _statements(region_cfn, "ProbeRole") if s["Sid"] == "DecryptSecretsViaService"
    )
    via = kms["Condition"]["StringEquals"]["kms:ViaService"]
    assert [v["Fn::Sub"] for v in via] == [
        "ssm.${HomeRegion}.amazonaws.com",
        "secretsmanager.${HomeRegion}.amazonaws.com",
    ]


def test_the_regional_function_matches_the_home_probe(region_cfn: dict[str, Any]) -> None:
    props = region_cfn["Resources"]["ProbeFunction"]["Properties"]
    assert props["FunctionName"] == {"Fn::Sub": "${HomeStackName}-probe-${AWS::Region}"}
    assert props["Architectures"] == ["arm64"]
    assert props["Runtime"] == "python3.13"
    assert props["Handler"] == "smtpwatch.handlers.probe.handler"
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "ProbeLogGroup"}
    config = region_cfn["Resources"]["ProbeFunctionEventInvokeConfig"]["Properties"]
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 60)
    # The longest home stack name still makes a valid function name (64 characters).
    params = region_cfn["Parameters"]
    longest = 1 + int(params["HomeStackName"]["AllowedPattern"].split("{0,")[1].split("}")[0])
    assert longest + len("-probe-") + len("ap-southeast-4") <= 64


def test_every_regional_parameter_is_labelled_and_grouped() -> None:
    sam = load_template(TEMPLATE)
    interface = sam["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [n for g in interface["ParameterGroups"] for n in g["Parameters"]]
    assert sorted(grouped) == sorted(sam["Parameters"])
    assert set(interface["ParameterLabels"]) == set(sam["Parameters"])
    # A probe region is not the home region (the home probe is that location).
    (rule,) = sam["Rules"]["AnotherRegionThanHome"]["Assertions"]
    assert rule["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "HomeRegion"}, {"Ref": "AWS::Region"}]}]
    }


# The home probe's variables that name a resource (the regional function gets the home
# stack's outputs instead) or this region's network (its own subnets and EHLO name).
_NOT_SETTINGS = {"SECRETS_PREFIX", "EHLO_NAME", "SMTPWATCH_IN_VPC"}
_CONSTRAINTS = ("Type", "Default", "MinValue", "MaxValue", "AllowedValues", "AllowedPattern")


def _refs(expr: Any, conditions: dict[str, Any]) -> set[str]:
    """The names an expression Refs, through the conditions its Fn::If names."""
    if isinstance(expr, list):
        return set().union(*(_refs(e, conditions) for e in expr)) if expr else set()
    if not isinstance(expr, dict):
        return set()
    found: set[str] = set()
    for key, value in expr.items():
        if key == "Ref":
            found.add(value)
        elif key == "Fn::If":
            found |= _refs(conditions[value[0]], conditions) | _refs(value[1:], conditions)
        elif key == "Condition":
            found |= _refs(conditions[value], conditions)
        else:
            found |= _refs(value, conditions)
    return found


def test_every_home_probe_setting_is_a_regional_parameter_with_the_same_default() -> None:
    """A regional probe votes and decides slots too: it must run with the home stack's
    settings, each from a parameter with the home one's default, constraints and label."""
    home = load_template(HOME_TEMPLATE)
    region = load_template(TEMPLATE)
    home_env = {
        **home["Globals"]["Function"]["Environment"]["Variables"],
        **home["Resources"]["ProbeFunction"]["Properties"]["Environment"]["Variables"],
    }
    region_env = region["Resources"]["ProbeFunction"]["Properties"]["Environment"]["Variables"]
    labels = {
        name: t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]
        for name, t in (("home", home), ("region", region))
    }
    settings = []
    for name, expr in home_env.items():
        refs = _refs(expr, home["Conditions"])
        if name in _NOT_SETTINGS or refs - set(home["Parameters"]):
            continue  # a resource name or the stack's own name
        settings.append(name)
        assert region_env.get(name) == expr, name
        for param in refs:
            want = {k: v for k, v in home["Parameters"][param].items() if k in _CONSTRAINTS}
            got = {k: v for k, v in region["Parameters"][param].items() if k in _CONSTRAINTS}
            assert got == want, (name, param)
            assert labels["region"][param] == labels["home"][param], param
        for cond in _conditions(expr):
            assert region["Conditions"][cond] == home["Conditions"][cond], cond
    # The settings a slot's decision and its stored results depend on are among them.
    assert {
        "RESULT_RETENTION_DAYS",
        "PASSING_RESULT_SECONDS",
        "SMTPWATCH_DEGRADED_SHARE",
        "SMTPWATCH_METRICS",
    } <= set(settings)


def _conditions(expr: Any) -> set[str]:
    if isinstance(expr, list):
        return set().union(*(_conditions(e) for e in expr)) if expr else set()
    if not isinstance(expr, dict):
        return set()
    found = {expr["Fn::If"][0]} if "Fn::If" in expr else set()
    return found | _conditions(list(expr.values()))
