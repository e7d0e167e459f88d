"""A first deploy answers three questions; every other parameter has a default.

GIVEN template.yaml, samconfig.toml and the deploy page WHEN a user deploys for the first
time THEN only the stack name, the alert address and the port-25 network are theirs to
choose, the console shows every parameter labelled in one of four groups, and every
parameter the config file or the documented commands name exists in the template.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
from template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
# The stack name is sam's own option; these parameters answer the other two questions.
QUESTIONS = {"AlertEmail", "SubnetIds", "SecurityGroupIds"}
GROUPS = ["Essentials", "Network (port 25, fixed egress address)", "Cost and retention", "Advanced"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _interface(template: dict[str, Any]) -> dict[str, Any]:
    interface: dict[str, Any] = template["Metadata"]["AWS::CloudFormation::Interface"]
    return interface


def _override_keys(overrides: str) -> list[str]:
    """Parameter names in a `--parameter-overrides` / `parameter_overrides` value."""
    return [word.split("=", 1)[0] for word in shlex.split(overrides)]


def test_only_the_three_questions_may_go_without_a_default(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params.keys() >= QUESTIONS
    without_default = sorted(name for name, spec in params.items() if "Default" not in spec)
    assert set(without_default) <= QUESTIONS, without_default
    # Left unanswered, the questions mean "no": no e-mail subscription, no VPC.
    conditions = template["Conditions"]
    assert params["AlertEmail"].get("Default", "") == ""
    assert conditions["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    for name in ("SubnetIds", "SecurityGroupIds"):
        assert params[name].get("Default", "") == ""
        assert {"Fn::Join": ["", {"Ref": name}]} in _nodes(conditions["UseVpc"])


def _nodes(node: Any) -> list[Any]:
    """Every dict or list nested in a condition, to find one sub-expression in it."""
    found: list[Any] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _nodes(value)
    elif isinstance(node, list):
        for value in node:
            found += _nodes(value)
    return found


def test_every_parameter_is_labelled_in_exactly_one_group(template: dict[str, Any]) -> None:
    interface = _interface(template)
    params = set(template["Parameters"])
    groups = interface["ParameterGroups"]
    assert [g["Label"]["default"] for g in groups] == GROUPS
    grouped = [name for g in groups for name in g["Parameters"]]
    assert sorted(grouped) == sorted(params), "each parameter in exactly one group"
    assert len(grouped) == len(set(grouped))
    labels = interface["ParameterLabels"]
    assert set(labels) == params
    for name, label in labels.items():
        assert isinstance(label["default"], str) and label["default"].strip(), name
    # The questions come first in the console: the essentials, then the network.
    assert set(groups[0]["Parameters"]) | set(groups[1]["Parameters"]) >= QUESTIONS


def test_samconfig_parses_and_names_only_template_parameters(template: dict[str, Any]) -> None:
    text = (ROOT / "samconfig.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    params = set(template["Parameters"])
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "smtpwatch"
    deploy = default["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    named: list[str] = []
    for env in config.values():
        if not isinstance(env, dict):
            continue
        for command in env.values():
            overrides = command.get("parameters", {}).get("parameter_overrides")
            if isinstance(overrides, list):
                overrides = " ".join(overrides)
            if overrides:
                named += _override_keys(overrides)
    # The commented examples and commands a reader copies count too: every Name= in it.
    named += re.findall(r"\b([A-Z][A-Za-z0-9]+)=", text)
    assert "AlertEmail" in named
    assert set(named) <= params, sorted(set(named) - params)


def _deploy_section() -> str:
    text = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    return text.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]


def test_the_deploy_page_starts_with_the_three_question_commands(
    template: dict[str, Any],
) -> None:
    section = _deploy_section()
    first_block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line.startswith("sam ")]
    assert commands[0] == "sam build"
    first_deploy = commands[1]
    assert first_deploy.startswith("sam deploy --stack-name ")
    assert _override_keys(first_deploy.split("--parameter-overrides ", 1)[1]) == ["AlertEmail"]
    port25 = [c for c in commands if "SubnetIds=" in c]
    assert port25, "the port-25 answer has its own command"
    assert set(_override_keys(port25[0].split("--parameter-overrides ", 1)[1])) == {
        "AlertEmail",
        "SubnetIds",
        "SecurityGroupIds",
    }
    page = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    params = set(template["Parameters"])
    regional = set(load_template(ROOT / "infra" / "probe-region.yaml")["Parameters"])
    # a command continued over several lines is one command
    for line in re.sub(r"\\\n\s*", " ", page).splitlines():
        if "--parameter-overrides " in line:
            command, overrides = line.split("--parameter-overrides ", 1)
            keys = _override_keys(overrides.split("#")[0])
            # a probe-region stack's command deploys that template (-t)
            assert set(keys) <= (regional if "probe-region" in command else params), line
