"""functions/requirements.txt (what `sam build` bundles) stays in step with pyproject.toml.

The Lambda artifact is built from requirements.txt, the tests run against pyproject's
dependencies: a package added to one and not the other works in tests and breaks in
Lambda (or the reverse). What the handlers need at run time is the base install plus
the `aws` extra. Each pin must satisfy pyproject's range; each of those dependencies
must be bundled unless the Lambda runtime provides it or only the CLI uses it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# Dependencies deliberately not bundled, and why (keep in step with requirements.txt).
NOT_BUNDLED = {
    "boto3": "provided by the python3.13 Lambda runtime",
    "pyyaml": "CLI only (targets import/export); no handler imports it",
}


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    return project


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    reqs = (Requirement(line) for line in lines)
    return {canonicalize_name(r.name): r for r in reqs}


def _pyproject() -> dict[str, Requirement]:
    """The handlers' run-time dependencies: the base install and the aws extra."""
    project = _project()
    aws = project["optional-dependencies"]["aws"]
    return _requirements(project["dependencies"]) | _requirements(aws)


def _lambda_requirements() -> dict[str, Requirement]:
    out = {}
    for raw in (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


def test_every_bundled_package_is_a_project_dependency_with_a_compatible_pin() -> None:
    project = _pyproject()
    for name, req in _lambda_requirements().items():
        assert name in project, f"{name} is bundled for Lambda but not in pyproject.toml"
        (spec,) = req.specifier  # exactly one: an == pin, so every build is the same
        assert spec.operator == "==", f"{req}: pin an exact version"
        assert project[name].specifier.contains(spec.version), (
            f"{req} does not satisfy pyproject.toml's {project[name]}"
        )


def test_every_runtime_dependency_is_bundled_or_deliberately_left_out() -> None:
    bundled = _lambda_requirements()
    for name in _pyproject():
        assert name in bundled or name in NOT_BUNDLED, (
            f"{name} is a runtime dependency in pyproject.toml but missing from "
            "functions/requirements.txt (add it, or explain in NOT_BUNDLED)"
        )
    for name in NOT_BUNDLED:
        assert name not in bundled, f"{name} is listed as not bundled but is in requirements.txt"


def test_powertools_is_bundled_without_the_tracer_extra() -> None:
    # The [tracer] extra brings the X-Ray SDK and its own botocore: a ~39 MB artifact.
    assert _lambda_requirements()["aws-lambda-powertools"].extras == set()


def test_the_aws_packages_are_in_the_aws_extra_not_the_base_install() -> None:
    # `pip install smtpwatch` (probe, local mode) must not pull ~40 MB of AWS SDK.
    project = _project()
    base = _requirements(project["dependencies"])
    aws = _requirements(project["optional-dependencies"]["aws"])
    assert {"boto3", "aws-lambda-powertools"} <= set(aws)
    assert not {"boto3", "botocore", "aws-lambda-powertools"} & set(base)
