"""DynamoDB tables for tests, built from template.yaml's own properties.

Tests that create tables by hand drift from the infrastructure (a renamed key, a
missing TTL); these helpers read the key schema, attribute definitions, billing mode,
indexes and TTL from the template, so a test fails when code and template disagree.

Works with any boto3 DynamoDB client: moto's ``mock_aws`` or DynamoDB Local.

    from template_tables import create_tables   # tests/aws is on sys.path under pytest
    names = create_tables(boto3.client("dynamodb", region_name="us-east-1"))
    names["TargetsTable"]  # -> "smtpwatch-test-TargetsTable"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "TABLES",
    "TEMPLATE",
    "create_table",
    "create_tables",
    "load_template",
    "table_env",
    "table_properties",
]

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TABLES = ("TargetsTable", "StateTable", "ResultsTable")

# Properties that create_table accepts as they are written in the template.
_CREATE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "ProvisionedThroughput",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !Sub, !If ...)
    into their long form ({"Ref": ...}, {"Fn::Sub": ...})."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml parsed, intrinsic functions in long form."""
    with path.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=_CfnLoader)  # a SafeLoader subclass: no object tags
    assert isinstance(doc, dict)
    return doc


def table_properties(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``Properties`` of one ``AWS::DynamoDB::Table`` resource in the template."""
    doc = template if template is not None else load_template()
    resource = doc["Resources"][logical_id]
    if resource["Type"] != "AWS::DynamoDB::Table":
        raise ValueError(f"{logical_id} is a {resource['Type']}, not a DynamoDB table")
    props = resource["Properties"]
    assert isinstance(props, dict)
    return props


def create_table(
    client: Any, logical_id: str, table_name: str, template: dict[str, Any] | None = None
) -> str:
    """Create ``table_name`` with the template's properties for ``logical_id``, wait
    until it is active, and switch TTL on as the template does. Returns the name."""
    props = table_properties(logical_id, template)
    kwargs: dict[str, Any] = {"TableName": table_name}
    kwargs.update({key: props[key] for key in _CREATE_KEYS if key in props})
    sse = props.get("SSESpecification")
    if sse:  # CloudFormation spells the flag SSEEnabled, the API Enabled
        kwargs["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))} | {
            key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse
        }
    client.create_table(**kwargs)
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    return table_name


def create_tables(
    client: Any, prefix: str = "smtpwatch-test", tables: tuple[str, ...] = TABLES
) -> dict[str, str]:
    """Create the stack's tables (all three by default) as ``{prefix}-{LogicalId}``.
    Returns ``{logical id: table name}``; pass the names to the stores or set them as
    the TARGETS_TABLE / STATE_TABLE / RESULTS_TABLE environment variables."""
    template = load_template()
    return {
        logical_id: create_table(client, logical_id, f"{prefix}-{logical_id}", template)
        for logical_id in tables
    }


def table_env(names: dict[str, str]) -> dict[str, str]:
    """The Lambda environment variables that name the tables, as the template sets them."""
    return {
        "TARGETS_TABLE": names["TargetsTable"],
        "STATE_TABLE": names["StateTable"],
        "RESULTS_TABLE": names["ResultsTable"],
    }
