"""The DynamoDB backend: tables named by ``--stack NAME``'s outputs or by ``--table``.

boto3 is imported only here and only when a command chose this backend, so the local
commands never load it.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from smtpwatch.cli.backend import Backend
from smtpwatch.cli.main import UsageError

__all__ = ["DEFAULT_PASSING_RESULT_S", "MAX_PASSING_RESULT_S", "open_dynamodb", "stack_outputs"]

# Output keys we look for in the stack (the template's names first; then any output
# whose key mentions the table, so a renamed output still works).
_OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "targets": ("TargetsTableName", "TargetsTable"),
    "states": ("StateTableName", "StateTable"),
    "results": ("ResultsTableName", "ResultsTable"),
    "topic": ("AlertTopicArn", "AlertTopic"),
    "secrets_prefix": ("SecretsPrefix",),
    "passing_result_s": ("PassingResultSeconds",),
}

# template.yaml's PassingResultSeconds default: what a stack deployed before the stack
# had that output stores (and the assumption for bare --table names); and its maximum.
DEFAULT_PASSING_RESULT_S = 3600
MAX_PASSING_RESULT_S = 86400


def stack_outputs(stack: str, region: str | None = None) -> dict[str, str]:
    """The CloudFormation stack's outputs as {OutputKey: OutputValue}."""
    return _describe(stack, region)[0]


def _describe(stack: str, region: str | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """(the stack's outputs, its locations: its region, then its ProbeRegions)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cfn = boto3.client("cloudformation", region_name=region)
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        raise UsageError(f"--stack {stack}: {msg}") from None
    except BotoCoreError as exc:
        raise UsageError(f"--stack {stack}: {exc}") from None
    if not stacks:
        raise UsageError(f"--stack {stack}: no such stack")
    found = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    params = {p.get("ParameterKey"): p.get("ParameterValue") for p in found.get("Parameters", [])}
    # The stack's id is an ARN naming its region: arn:aws:cloudformation:REGION:...
    arn = str(found.get("StackId") or "").split(":")
    home = arn[3] if len(arn) > 3 and arn[3] else str(cfn.meta.region_name or "")
    # The region names in ProbeRegions' value: "eu-west-1,ap-southeast-2" (moto writes
    # a list's value as "['eu-west-1', 'ap-southeast-2']"; the names are the same).
    extra = _REGION.findall(str(params.get("ProbeRegions") or ""))
    return outputs, tuple(dict.fromkeys(r for r in [home, *extra] if r))


_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")


def _pick_output(outputs: dict[str, str], what: str) -> str | None:
    for key in _OUTPUT_KEYS[what]:
        if key in outputs:
            return outputs[key]
    if what == "passing_result_s":
        return None  # no loose match: a guessed output would silently skew uptime
    stem = _OUTPUT_KEYS[what][-1].lower()
    for key, value in outputs.items():
        if stem in key.lower():
            return value
    return None


def open_dynamodb(args: argparse.Namespace, need: set[str]) -> Backend:
    """The backend of ``--stack``/``--table`` (``need``: the stores the command uses)."""
    region = getattr(args, "region", None)
    topic: str | None = None
    prefix: str | None = None
    override: int | None = getattr(args, "passing_result_seconds", None)
    passing = DEFAULT_PASSING_RESULT_S if override is None else override
    locations: tuple[str, ...] | None = None
    if args.stack:
        outputs, locations = _describe(args.stack, region)
        names = {w: _pick_output(outputs, w) for w in ("targets", "states", "results")}
        topic = _pick_output(outputs, "topic")
        prefix = _pick_output(outputs, "secrets_prefix")
        if override is None:
            passing = _passing_output(args.stack, _pick_output(outputs, "passing_result_s"))
        description = f"DynamoDB (stack {args.stack})"
        missing = [w for w in sorted(need) if not names.get(w)]
        if missing:
            raise UsageError(
                f"--stack {args.stack}: its outputs name no {'/'.join(missing)} table "
                f"(outputs: {', '.join(sorted(outputs)) or 'none'})"
            )
    else:
        names = {
            "targets": args.table,
            "states": getattr(args, "state_table", None),
            "results": getattr(args, "results_table", None),
        }
        description = f"DynamoDB (table {args.table})"
        option = {"states": "--state-table", "results": "--results-table"}
        missing = [option[w] for w in ("states", "results") if w in need and not names[w]]
        if missing:
            raise UsageError(f"--table also needs {' and '.join(missing)} for this command")

    import boto3

    from smtpwatch.adapters import dynamodb

    client = boto3.client("dynamodb", region_name=region)
    targets = dynamodb.DynamoTargetStore(client, names["targets"]) if names["targets"] else None
    states = dynamodb.DynamoStateStore(client, names["states"]) if names["states"] else None
    results = dynamodb.DynamoResultStore(client, names["results"]) if names["results"] else None
    return Backend(
        kind="dynamodb",
        description=description,
        targets=targets if targets is not None else _Missing("targets", "--table"),
        states=states if states is not None else _Missing("state", "--state-table"),
        results=results if results is not None else _Missing("results", "--results-table"),
        topic_arn=topic,
        secrets_prefix=prefix,
        region=region,
        passing_result_s=passing,
        locations=locations,
    )


def _passing_output(stack: str, value: str | None) -> int:
    """The stack's PassingResultSeconds output; the template default when the stack
    predates that output."""
    if value is None:
        return DEFAULT_PASSING_RESULT_S
    try:
        seconds = int(value) if len(value) <= 12 else -1
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_PASSING_RESULT_S:
        raise UsageError(
            f"--stack {stack}: output PassingResultSeconds {value!r} is not a number of "
            "seconds (give --passing-result-seconds SECONDS)"
        )
    return seconds


class _Missing:
    """Stands in for a table the user did not name; any use is a usage error."""

    def __init__(self, what: str, option: str) -> None:
        self._what = what
        self._option = option

    def __getattr__(self, name: str) -> Any:
        raise UsageError(f"no DynamoDB {self._what} table given (use --stack or {self._option})")
