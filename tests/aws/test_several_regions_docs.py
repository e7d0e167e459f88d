"""The deploy page's walk-through for three regions matches the templates it deploys.

GIVEN docs/aws.md ("Several regions"), template.yaml, infra/probe-region.yaml and
infra/network.yaml THEN every output the commands read exists in the stack they read it
from, every parameter they pass exists in the template they deploy, the probe-region
stack gets every parameter it has no default for, the built template is the one
deployed, the regions agree from the network to ProbeRegions to the allow-list, and the
page's table lists every parameter of the probe-region stack.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def section() -> str:
    text = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    return text.split("\n## Several regions\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def commands(section: str) -> list[str]:
    """Every shell line of the section's code blocks, continuations joined."""
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    joined = re.sub(r" *\\\n\s*", " ", "".join(blocks))
    return [line.strip() for line in joined.splitlines() if line.strip()]


def _template(name: str) -> dict[str, Any]:
    return load_template(ROOT / name)


def _overrides(command: str) -> dict[str, str]:
    words = shlex.split(command.split("--parameter-overrides ", 1)[1])
    return dict(word.split("=", 1) for word in words)


def _option(command: str, option: str) -> str:
    words = shlex.split(command)
    return words[words.index(option) + 1]


def _loop_regions(commands: list[str], body: str) -> list[str]:
    """The regions of the ``for REGION in ...; do`` loop whose body holds ``body``."""
    for i, line in enumerate(commands):
        found = re.fullmatch(r"for REGION in ([a-z0-9 -]+); do", line)
        if found and any(body in later for later in commands[i + 1 : i + 3]):
            return found.group(1).split()
    raise AssertionError(f"no loop runs {body!r}")


def test_every_output_read_is_one_the_stack_has(commands: list[str]) -> None:
    home_outputs = set(_template("template.yaml")["Outputs"])
    network_outputs = set(_template("infra/network.yaml")["Outputs"])
    text = "\n".join(commands)
    # the two helpers read the home stack's and a region's network stack's outputs
    assert "--stack-name smtpwatch --query" in text
    assert "--stack-name smtpwatch-network --query" in text
    home = re.findall(r"\$\(home (\w+)\)", text)
    net = re.findall(r"\$\(net \S+ (\w+)\)", text)
    assert home and set(home) <= home_outputs, set(home) - home_outputs
    assert net and set(net) <= network_outputs, set(net) - network_outputs
    assert "EgressIp" in net  # the allow-list addresses


def test_each_deploy_passes_only_parameters_of_the_template_it_deploys(
    commands: list[str],
) -> None:
    home = set(_template("template.yaml")["Parameters"])
    regional = _template("infra/probe-region.yaml")["Parameters"]
    deploys = [c for c in commands if c.startswith("sam deploy")]
    assert len(deploys) == 3  # the home stack, each probe region, ProbeRegions
    for command in deploys:
        given = _overrides(command)
        if "-t" in shlex.split(command):
            assert set(given) <= set(regional), command
            # every parameter without a default is given
            required = {name for name, spec in regional.items() if "Default" not in spec}
            assert required <= set(given), required - set(given)
        else:
            assert set(given) <= home, command


def test_the_probe_region_template_is_built_then_deployed_from_its_build(
    commands: list[str],
) -> None:
    (build,) = [c for c in commands if c.startswith("sam build -t")]
    assert _option(build, "-t") == "infra/probe-region.yaml"
    (deploy,) = [c for c in commands if c.startswith("sam deploy -t")]
    assert _option(deploy, "-t") == f"{_option(build, '--build-dir')}/template.yaml"
    # its own stack per region: never samconfig.toml's default stack name
    assert _option(deploy, "--stack-name") == "smtpwatch-probe-$REGION"
    assert _option(deploy, "--region") == "$REGION"


def test_the_regions_agree_from_the_network_to_probe_regions_and_the_allow_list(
    commands: list[str],
) -> None:
    deploys = [c for c in commands if c.startswith("sam deploy")]
    home_deploy = next(c for c in deploys if "AlertEmail=" in c)
    home_region = _option(home_deploy, "--region")
    probe_regions = _overrides(next(c for c in deploys if "ProbeRegions=" in c))["ProbeRegions"]
    probe = probe_regions.split(",")
    assert len(probe) == 2 and home_region not in probe
    assert _option(next(c for c in deploys if "ProbeRegions=" in c), "--region") == home_region
    regional = next(c for c in deploys if c.startswith("sam deploy -t"))
    assert _overrides(regional)["HomeRegion"] == home_region
    assert _overrides(regional)["HomeStackName"] == _option(home_deploy, "--stack-name")
    # the probe-region loop deploys exactly ProbeRegions, in its order
    assert _loop_regions(commands, "sam deploy -t") == probe
    # a network and an allow-list address for every location, the home one first
    locations = [home_region, *probe]
    assert _loop_regions(commands, "infra/network.yaml") == locations
    assert _loop_regions(commands, "EgressIp") == locations


def test_the_page_lists_every_parameter_of_the_probe_region_stack(section: str) -> None:
    regional = set(_template("infra/probe-region.yaml")["Parameters"])
    table = [line for line in section.splitlines() if line.startswith("| `")]
    named = set(re.findall(r"`(\w+)`", " ".join(row.split(" | ")[0] for row in table)))
    assert regional <= named, regional - named
    assert named <= regional, named - regional


def test_probe_regions_is_in_the_home_stacks_parameter_table() -> None:
    page = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    params = page.split("\n## Parameters\n", 1)[1].split("\n## ", 1)[0]
    assert "| `ProbeRegions` | *(empty)* |" in params
    assert "ProbeRegions" in _template("template.yaml")["Parameters"]


def test_each_probe_region_gets_the_home_stacks_settings(commands: list[str]) -> None:
    """A probe region's function votes and decides slots: the walk-through passes it the
    home stack's value of every setting its probe function's environment takes."""
    region = _template("infra/probe-region.yaml")
    env = region["Resources"]["ProbeFunction"]["Properties"]["Environment"]["Variables"]
    # a setting reaches the environment as a Ref or through a condition on it
    uses = str(env) + str(region["Conditions"])
    text = "\n".join(commands)
    assert '--stack-name smtpwatch --query "Stacks[0].Parameters' in text
    (deploy,) = [c for c in commands if c.startswith("sam deploy -t")]
    given = _overrides(deploy)
    for name in (
        "ResultRetentionDays",
        "PassingResultSeconds",
        "DegradedShare",
        "DetailedMetrics",
        "LogLevel",
        "EnableTracing",
    ):
        assert name in uses, name  # a setting of the regional function
        assert given.get(name) == f"$(setting {name})", name
