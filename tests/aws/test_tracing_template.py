"""The X-Ray SDK reaches the functions only with EnableTracing=true, through the tracing
layer (infra/tracing-layer), and never through the artifact every function carries.

Static checks of template.yaml, of its translation and of the layer's build files, then
the stack deployed into moto's CloudFormation both ways: no layer without tracing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from template_tables import load_template
from test_template import REGION, Stack, _upload_code, translate

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("DispatcherFunction", "ProbeFunction", "ChatForwarderFunction")
ATTACHED = {"Fn::If": ["TracingEnabled", [{"Ref": "TracingLayer"}], {"Ref": "AWS::NoValue"}]}


def _pins(path: Path) -> dict[str, Requirement]:
    out = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """An emulated account holding the code (test_template's), dummy credentials."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws(config={"lambda": {"use_docker": False}}):
            _upload_code()
            yield


def test_the_tracing_layer_exists_only_with_tracing_on(sam: dict[str, Any]) -> None:
    layer = sam["Resources"]["TracingLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Condition"] == "TracingEnabled"
    assert sam["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "EnableTracing"}, "true"]}
    assert sam["Parameters"]["EnableTracing"]["Default"] == "false"
    # Built for the functions' runtime and CPU.
    glob = sam["Globals"]["Function"]
    assert layer["Properties"]["CompatibleRuntimes"] == [glob["Runtime"]]
    assert layer["Properties"]["CompatibleArchitectures"] == glob["Architectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    # Every function gets it with tracing on, none without (Globals, not overridden).
    assert glob["Layers"] == ATTACHED
    for name, resource in sam["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert "Layers" not in resource.get("Properties", {}), name


def test_the_layer_is_built_from_pins_without_botocore_for_arm64(sam: dict[str, Any]) -> None:
    content = ROOT / sam["Resources"]["TracingLayer"]["Properties"]["ContentUri"]
    pins = _pins(content / "requirements.txt")
    assert set(pins) == {"aws-xray-sdk", "wrapt"}
    for req in pins.values():
        (spec,) = req.specifier
        assert spec.operator == "==", f"{req}: pin an exact version"
    # The SDK the tests run with is the one the layer ships: the pin is in dev's range.
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["dev"]
    (sdk_range,) = [Requirement(r) for r in dev if Requirement(r).name == "aws-xray-sdk"]
    (sdk_pin,) = pins["aws-xray-sdk"].specifier
    assert sdk_range.specifier.contains(sdk_pin.version)
    # sam build runs the Makefile's build-<LogicalId> target: no dependencies (botocore
    # would shadow the runtime's), aarch64 wheels only, under python/ of the layer.
    makefile = (content / "Makefile").read_text(encoding="utf-8")
    (recipe,) = re.findall(r"^build-TracingLayer:\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    command = " ".join(recipe.replace("\\\n", " ").split())
    for option in (
        "--no-deps",
        "--only-binary=:all:",
        "--platform manylinux2014_aarch64",
        "--python-version 3.13",
        '--target "$(ARTIFACTS_DIR)/python"',
    ):
        assert option in command, option


def test_a_probe_regions_function_gets_the_same_layer_under_the_same_condition(
    sam: dict[str, Any],
) -> None:
    region = load_template(ROOT / "infra" / "probe-region.yaml")
    home_layer = sam["Resources"]["TracingLayer"]
    layer = region["Resources"]["TracingLayer"]
    assert layer["Condition"] == "TracingEnabled"
    assert region["Conditions"]["TracingEnabled"] == sam["Conditions"]["TracingEnabled"]
    assert layer["Metadata"] == home_layer["Metadata"]
    # One build directory for both stacks (ContentUri is relative to each template).
    here = (ROOT / "infra" / layer["Properties"]["ContentUri"]).resolve()
    assert here == (ROOT / home_layer["Properties"]["ContentUri"]).resolve()
    props = {k: v for k, v in layer["Properties"].items() if k != "ContentUri"}
    assert props == {k: v for k, v in home_layer["Properties"].items() if k != "ContentUri"}
    assert region["Resources"]["ProbeFunction"]["Properties"]["Layers"] == ATTACHED


def test_the_artifact_every_function_carries_has_no_xray_sdk() -> None:
    bundled = _pins(ROOT / "functions" / "requirements.txt")
    assert "aws-xray-sdk" not in bundled
    assert bundled["aws-lambda-powertools"].extras == set()  # no [tracer] extra either


def _layer_ids(resources: dict[str, Any], type_key: str) -> list[str]:
    """Logical ids of the Lambda layers: SAM names the translated one TracingLayer<hash>
    (a new version per change of its content)."""
    return [k for k, r in resources.items() if r[type_key] == "AWS::Lambda::LayerVersion"]


def test_translated_functions_carry_the_layer_only_under_the_condition() -> None:
    cfn = translate()
    (layer,) = _layer_ids(cfn["Resources"], "Type")
    assert layer.startswith("TracingLayer")
    assert cfn["Resources"][layer]["Condition"] == "TracingEnabled"
    attached = {"Fn::If": ["TracingEnabled", [{"Ref": layer}], {"Ref": "AWS::NoValue"}]}
    for fn in FUNCTIONS:
        assert cfn["Resources"][fn]["Properties"]["Layers"] == attached, fn


@pytest.mark.parametrize("tracing", ["false", "true"])
def test_a_deployed_stack_attaches_the_layer_only_with_tracing(aws: None, tracing: str) -> None:
    stack = Stack(f"smtpwatch-tracing-{tracing}", {"EnableTracing": tracing})
    lam = boto3.client("lambda", region_name=REGION)
    layers = {
        fn: [layer["Arn"] for layer in config.get("Layers", [])]
        for fn in ("DispatcherFunction", "ProbeFunction")
        for config in [lam.get_function(FunctionName=stack.physical(fn))["Configuration"]]
    }
    created = _layer_ids(stack.resources, "ResourceType")
    if tracing == "false":
        assert created == []
        assert layers == {"DispatcherFunction": [], "ProbeFunction": []}
    else:
        # moto's CloudFormation lists the layer but does not publish it (no physical id)
        # nor attach it: the wiring is the translated template's test above.
        assert [layer.startswith("TracingLayer") for layer in created] == [True]
