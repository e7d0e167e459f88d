"""Two stacks in one account share no metric, dimension, alarm or dashboard.

GIVEN the translated template deployed twice in moto (staging and prod) WHEN each
stack's functions emit their EMF documents with the environment the stack gave them,
and each stack's alarms are created as CloudFormation would (moto's CloudFormation
skips alarms: their properties are resolved against the stack's own resources here)
THEN every custom metric, every dimension value and every alarm belongs to one stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from real_output import function_env, upload_code
from test_template import REGION, Stack, translate

from conftest import LambdaContext
from smtpwatch.handlers.observability import make_metrics

STACKS = ("smtpwatch-staging", "smtpwatch-prod")


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Stack]]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws(config={"lambda": {"use_docker": False}}):
            upload_code()
            yield {name: Stack(name) for name in STACKS}


def emitted_metrics(
    env: dict[str, str], names: list[str], monkeypatch: pytest.MonkeyPatch
) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric, dimensions) of the EMF document the handlers' Metrics write
    under ``env`` (the function's deployed environment)."""
    for key in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "SMTPWATCH_METRICS"):
        monkeypatch.setenv(key, env[key])
    metrics = make_metrics()
    try:
        for name in names:
            metrics.add_metric(name=name, unit="Count", value=1)
        doc: dict[str, Any] = dict(metrics.serialize_metric_set())
    finally:
        metrics.clear_metrics()
    out: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
        for dims in directive["Dimensions"]:
            dim_values = tuple((d, str(doc[d])) for d in dims)
            for metric in directive["Metrics"]:
                out.add((directive["Namespace"], metric["Name"], dim_values))
    return out


def resolve(value: Any, stack: Stack, cfn: dict[str, Any], name: str) -> Any:
    """``value`` with Ref/GetAtt resolved as CloudFormation would for ``stack``."""
    if isinstance(value, list):
        return [resolve(v, stack, cfn, name) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        ref = value["Ref"]
        if ref == "AWS::StackName":
            return name
        if ref in cfn["Parameters"]:
            return cfn["Parameters"][ref]["Default"]
        return stack.physical(ref)
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"].replace("${AWS::StackName}", name)
        assert "${" not in text, text
        return text
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        assert (logical_id, attribute) == ("FailureQueue", "QueueName"), value
        return stack.physical(logical_id).rsplit("/", 1)[-1]
    return {k: resolve(v, stack, cfn, name) for k, v in value.items()}


def create_alarms(stack: Stack, name: str) -> list[str]:
    """The stack's alarms, put as CloudFormation would (under the template's names)."""
    cfn = translate()
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    names = []
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resolve(resource["Properties"], stack, cfn, name)
        alarm_name = props.pop("AlarmName")
        assert name in alarm_name, logical_id
        for key in ("EvaluationPeriods", "DatapointsToAlarm", "Period"):
            if key in props:
                props[key] = int(props[key])
        cloudwatch.put_metric_alarm(AlarmName=alarm_name, **props)
        names.append(alarm_name)
    return names


@pytest.fixture(scope="module")
def alarms(deployed: dict[str, Stack]) -> dict[str, list[str]]:
    return {name: create_alarms(stack, name) for name, stack in deployed.items()}


def test_each_stacks_functions_name_their_own_service(deployed: dict[str, Stack]) -> None:
    for name, stack in deployed.items():
        for fn in ("DispatcherFunction", "ProbeFunction"):
            env = function_env(stack, fn)
            assert env["POWERTOOLS_SERVICE_NAME"] == name, (name, fn)


def test_two_stacks_emit_no_common_metric_or_dimension_value(
    deployed: dict[str, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["DispatchFailed", "Dispatched", "ProbeSuccess", "TotalMs", "CertDaysLeft"]
    per_stack = {
        name: emitted_metrics(
            function_env(stack, "DispatcherFunction") | {"SMTPWATCH_METRICS": "all"},
            names,
            monkeypatch,
        )
        for name, stack in deployed.items()
    }
    staging, prod = (per_stack[n] for n in STACKS)
    assert staging and prod
    assert not staging & prod
    # The dimension values differ too, not only the full metric identities.
    values = {n: {v for _, _, dims in m for _, v in dims} for n, m in per_stack.items()}
    assert values == {n: {n} for n in STACKS}
    # The probe function of a stack writes under the same identities as its dispatcher.
    for name, stack in deployed.items():
        env = function_env(stack, "ProbeFunction") | {"SMTPWATCH_METRICS": "all"}
        probe = emitted_metrics(env, names, monkeypatch)
        assert probe == per_stack[name]


def test_each_alarm_watches_only_its_own_stacks_metrics(
    deployed: dict[str, Stack], alarms: dict[str, list[str]]
) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    assert not set(alarms[STACKS[0]]) & set(alarms[STACKS[1]])
    described = {
        a["AlarmName"]: a
        for page in cloudwatch.get_paginator("describe_alarms").paginate()
        for a in page["MetricAlarms"]
    }
    for name, own in alarms.items():
        other = next(n for n in STACKS if n != name)
        for alarm_name in own:
            alarm = described[alarm_name]
            # WHEN the other stack emits the metric this alarm watches, with its dimensions
            values = {d["Value"] for d in alarm["Dimensions"]}
            assert values, alarm_name
            # THEN no dimension value of this alarm is one of the other stack's
            other_stack = deployed[other]
            other_values = {other} | {
                str(r["PhysicalResourceId"]) for r in other_stack.resources.values()
            }
            other_values |= {v.rsplit("/", 1)[-1] for v in other_values}
            assert not values & other_values, (alarm_name, values)
    # and no two alarms of the two stacks watch the same metric (namespace, name, dimensions)
    watched = {
        name: {
            (a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"], sort_keys=True))
            for a in (described[n] for n in own)
        }
        for name, own in alarms.items()
    }
    assert len(watched[STACKS[0]]) == len(alarms[STACKS[0]])
    assert not watched[STACKS[0]] & watched[STACKS[1]]


def test_the_custom_metric_alarm_fires_on_its_own_stacks_failures_only(
    deployed: dict[str, Stack], alarms: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    staging = deployed[STACKS[0]]
    # GIVEN the DispatchFailed metric as staging's dispatcher emits it
    ((namespace, metric, dims),) = emitted_metrics(
        function_env(staging, "DispatcherFunction"), ["DispatchFailed"], monkeypatch
    )
    dimensions = [{"Name": k, "Value": v} for k, v in dims]
    # THEN the one alarm watching it is staging's (moto's describe_alarms_for_metric
    # ignores dimensions: matched here on the full identity)
    described = cloudwatch.describe_alarms(AlarmNames=alarms[STACKS[0]] + alarms[STACKS[1]])
    found = [
        a["AlarmName"]
        for a in described["MetricAlarms"]
        if (a["Namespace"], a["MetricName"], a["Dimensions"]) == (namespace, metric, dimensions)
    ]
    assert found == [f"{STACKS[0]}-dispatch-failed"]
    assert dimensions == [{"Name": "service", "Value": STACKS[0]}]


# Every custom metric the dispatcher and the probe can emit (handlers and observability).
ALL_METRICS = [
    "Due", "Dispatched", "DispatchFailed", "Malformed", "AlertsResent", "DispatchMs",
    "ProbeSuccess", "TotalMs", "DnsMs", "ConnectMs", "BannerMs", "EhloMs", "StarttlsMs",
    "TlsMs", "EhloTlsMs", "AuthMs", "QuitMs", "CertDaysLeft", "BadEvent", "CheckSkipped",
]  # fmt: skip


def test_by_default_only_what_an_alarm_watches_is_a_custom_metric(
    deployed: dict[str, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stack deployed with the defaults
    stack = deployed[STACKS[0]]
    cfn = translate()
    alarmed = {
        r["Properties"]["MetricName"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and not r["Properties"]["Namespace"].startswith("AWS/")
    }
    assert alarmed == {"DispatchFailed"}
    for fn in ("DispatcherFunction", "ProbeFunction"):
        env = function_env(stack, fn)
        assert env["SMTPWATCH_METRICS"] == "alarms"
        # THEN its functions declare those metrics and no other (each costs $0.30/month)
        declared = {metric for _, metric, _ in emitted_metrics(env, ALL_METRICS, monkeypatch)}
        assert declared == alarmed, fn
    # WHEN DetailedMetrics is true THEN every metric is declared again
    detailed = Stack("smtpwatch-detailed", {"DetailedMetrics": "true"})
    env = function_env(detailed, "ProbeFunction")
    assert env["SMTPWATCH_METRICS"] == "all"
    declared = {metric for _, metric, _ in emitted_metrics(env, ALL_METRICS, monkeypatch)}
    assert declared == set(ALL_METRICS)


def test_a_figure_that_is_no_metric_stays_a_field_of_the_same_line(
    deployed: dict[str, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = function_env(deployed[STACKS[0]], "ProbeFunction")
    for key in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "SMTPWATCH_METRICS"):
        monkeypatch.setenv(key, env[key])
    metrics = make_metrics()
    try:
        metrics.add_metric(name="ProbeSuccess", unit="Count", value=1)
        metrics.add_metric(name="TotalMs", unit="Milliseconds", value=12.5)
        metrics.add_metadata(key="target_id", value="mx1")
        doc = dict(metrics.serialize_metric_set())
    finally:
        metrics.clear_metrics()
    # no metric left: no EMF block at all (CloudWatch extracts nothing, bills nothing)
    assert doc == {"service": STACKS[0], "target_id": "mx1", "ProbeSuccess": 1, "TotalMs": 12.5}


def test_no_cold_start_metric_unless_every_metric_is_asked_for(
    deployed: dict[str, Stack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = function_env(deployed[STACKS[0]], "ProbeFunction")
    for key in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "SMTPWATCH_METRICS"):
        monkeypatch.setenv(key, env[key])
    ctx: Any = LambdaContext()  # what Powertools reads of Lambda's context
    capsys.readouterr()
    make_metrics().provider.add_cold_start_metric(ctx)
    assert capsys.readouterr().out == ""  # a metric of its own (function_name): opt-in
    monkeypatch.setenv("SMTPWATCH_METRICS", "all")
    make_metrics().provider.add_cold_start_metric(ctx)
    assert '"ColdStart"' in capsys.readouterr().out
