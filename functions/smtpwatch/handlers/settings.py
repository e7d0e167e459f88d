"""Each Lambda function's environment, read into its own typed settings object.

``load_probe_settings()`` and ``load_dispatcher_settings()`` run on a function's first
invocation (its ``_runtime()``), not at import; a bad value raises one message naming
the variable. Names are the contract with template.yaml. ``SMTPWATCH_TRACING`` is not
here: the Tracer switch reads it at import (``handlers.observability``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "DispatcherSettings",
    "ProbeSettings",
    "load_dispatcher_settings",
    "load_probe_settings",
    "parse_region",
    "require",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
# An AWS region name (us-east-1, us-gov-west-1, ap-southeast-4): a location on AWS.
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
# The home location plus these: at most 16 locations (core.locations.MAX_LOCATIONS).
MAX_PROBE_REGIONS = 15
# A Lambda function name is at most 64 characters: <prefix><region> must fit.
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,49}")
_N = TypeVar("_N", int, float)


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """The probe function's environment."""

    targets_table: str
    state_table: str
    results_table: str
    alert_topic_arn: str
    secrets_prefix: str
    ehlo_name: str | None
    result_retention_days: int
    # A passing check that changes nothing stores its result once per this many
    # seconds (0: every check); service.check explains. Template: PassingResultSeconds.
    passing_result_every_s: int
    # Lifts the loopback/link-local guard: never set by the template; tests and development only.
    allow_loopback: bool
    # The template sets it from its HasVpc condition: a function outside a VPC cannot
    # reach port 25 (AWS blocks it), and Lambda exposes no variable that tells us.
    in_vpc: bool
    # The probes' monitor-degraded gate (docs/design.md#monitor-degraded).
    degraded_share: float
    degraded_min_probes: int
    # A probe-region stack's function: the tables, topic and secrets are in this region
    # (SMTPWATCH_HOME_REGION); None in the home stack: its own region.
    home_region: str | None = None
    # How a relay invokes this function once per event (as the dispatcher's invoke_mode).
    invoke_mode: str = "boto3"

    @property
    def result_retention_s(self) -> int:
        return self.result_retention_days * 86_400


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    """The dispatcher function's environment."""

    targets_table: str
    state_table: str
    # Optional here: without a topic the dispatcher publishes no alert.
    alert_topic_arn: str
    probe_function_name: str
    # Bounded invoke pool and monitor-degraded gating (docs/design.md#monitor-degraded).
    dispatch_workers: int
    degraded_share: float
    degraded_min_probes: int
    # "direct": signed HTTP POSTs (DirectLambdaInvoker); "boto3": the SDK's invoke.
    invoke_mode: str
    # The locations beyond the home region, in the home stack's ProbeRegions order, and
    # their functions' common name prefix (<stack>-probe-): the function of region r
    # is <prefix><r>. Empty: the home region only, exactly as without locations.
    probe_regions: tuple[str, ...] = ()
    probe_function_prefix: str = ""
    # With probe regions the sweep decides expired slots: it stores their verdicts.
    results_table: str = ""
    result_retention_days: int = 30
    passing_result_every_s: int = 3600

    @property
    def result_retention_s(self) -> int:
        return self.result_retention_days * 86_400

    def regional_function_name(self, region: str) -> str:
        """The probe-region stack's function name for ``region``."""
        return f"{self.probe_function_prefix}{region}"


def load_probe_settings(env: Mapping[str, str] | None = None) -> ProbeSettings:
    """Read the probe's environment. Missing names are empty strings: ``require``
    names the ones the function cannot do without."""
    e = os.environ if env is None else env
    return ProbeSettings(
        targets_table=e.get("TARGETS_TABLE", ""),
        state_table=e.get("STATE_TABLE", ""),
        results_table=e.get("RESULTS_TABLE", ""),
        alert_topic_arn=e.get("ALERT_TOPIC_ARN", ""),
        secrets_prefix=(e.get("SECRETS_PREFIX") or "").strip(),
        ehlo_name=_ehlo_name(e),
        result_retention_days=_int(e, "RESULT_RETENTION_DAYS", 30, 1, 3650),
        passing_result_every_s=_int(e, "PASSING_RESULT_SECONDS", 3600, 0, 86_400),
        allow_loopback=(e.get("SMTPWATCH_ALLOW_LOOPBACK") or "").strip() == "1",
        in_vpc=_flag(e, "SMTPWATCH_IN_VPC"),
        degraded_share=_degraded_share(e),
        degraded_min_probes=_degraded_min_probes(e),
        home_region=_home_region(e),
        invoke_mode=_invoke_mode(e),
    )


def load_dispatcher_settings(env: Mapping[str, str] | None = None) -> DispatcherSettings:
    """Read the dispatcher's environment (missing names: as ``load_probe_settings``)."""
    e = os.environ if env is None else env
    return DispatcherSettings(
        targets_table=e.get("TARGETS_TABLE", ""),
        state_table=e.get("STATE_TABLE", ""),
        alert_topic_arn=e.get("ALERT_TOPIC_ARN", ""),
        probe_function_name=e.get("PROBE_FUNCTION_NAME", ""),
        dispatch_workers=_int(e, "SMTPWATCH_DISPATCH_WORKERS", 64, 1, 512),
        degraded_share=_degraded_share(e),
        degraded_min_probes=_degraded_min_probes(e),
        invoke_mode=_invoke_mode(e),
        probe_regions=_probe_regions(e),
        probe_function_prefix=_probe_function_prefix(e),
        results_table=e.get("RESULTS_TABLE", ""),
        result_retention_days=_int(e, "RESULT_RETENTION_DAYS", 30, 1, 3650),
        passing_result_every_s=_int(e, "PASSING_RESULT_SECONDS", 3600, 0, 86_400),
    )


def require(settings: ProbeSettings | DispatcherSettings, *names: str) -> None:
    """Raise one message naming every missing variable (a deployment error)."""
    missing = [n for n in names if not getattr(settings, n.lower())]
    if missing:
        raise RuntimeError("missing environment variable(s): " + ", ".join(missing))


# The monitor-degraded gate: the probes hold alerts by it, the dispatcher settles its
# episodes by it, so both read the same variables with the same defaults.
def _degraded_share(env: Mapping[str, str]) -> float:
    return _float(env, "SMTPWATCH_DEGRADED_SHARE", 0.5, 0.0, 1.0)


def _degraded_min_probes(env: Mapping[str, str]) -> int:
    return _int(env, "SMTPWATCH_DEGRADED_MIN_PROBES", 5, 1, 1_000_000)


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in _TRUE


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _number(env, name, default, lo, hi, int, "an integer")


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _number(env, name, default, lo, hi, float, "a number")


def _number(
    env: Mapping[str, str],
    name: str,
    default: _N,
    lo: _N,
    hi: _N,
    parse: Callable[[str], _N],
    expected: str,
) -> _N:
    """``name``'s value parsed and within ``lo..hi``, or ``default`` when unset or blank."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r}: expected {expected}") from None
    if not lo <= value <= hi:
        raise ValueError(f"environment variable {name}={value}: expected {lo}..{hi}")
    return value


def _ehlo_name(env: Mapping[str, str]) -> str | None:
    """EHLO_NAME checked as a target's ehlo_name: it is sent as it is, so a line break
    would be a command of its own."""
    raw = (env.get("EHLO_NAME") or "").strip()
    if not raw:
        return None
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.target import parse_ehlo_name

    try:
        return parse_ehlo_name(raw)
    except ConfigError as exc:
        raise ValueError(f"environment variable EHLO_NAME: {exc.reason}") from None


def _invoke_mode(env: Mapping[str, str]) -> str:
    """``SMTPWATCH_INVOKE_MODE`` = direct | boto3 | auto (default). ``auto`` is direct
    inside Lambda or when ``AWS_ENDPOINT_URL`` names an endpoint, else boto3 — so an
    SDK-level mock (moto's ``mock_aws``) always sees the invokes — and boto3 behind an
    https:// proxy, which the direct invoker cannot speak to."""
    raw = (env.get("SMTPWATCH_INVOKE_MODE") or "auto").strip().lower()
    if raw not in ("auto", "direct", "boto3"):
        raise ValueError(f"SMTPWATCH_INVOKE_MODE={raw!r}: expected auto, direct or boto3")
    if raw != "auto":
        return raw
    proxy = env.get("HTTPS_PROXY") or env.get("https_proxy") or ""
    if proxy.strip().lower().startswith("https://"):
        return "boto3"
    if env.get("AWS_LAMBDA_FUNCTION_NAME") or env.get("AWS_ENDPOINT_URL"):
        return "direct"
    return "boto3"


def parse_region(name: str, value: str) -> str:
    """An AWS region name (a location on AWS); ``ConfigError`` names ``name``."""
    from smtpwatch.core.errors import ConfigError

    text = value.strip()
    if not _REGION.fullmatch(text):
        raise ConfigError(name, f"{text[:40]!r} is not a region name such as eu-west-1")
    return text


def _home_region(env: Mapping[str, str]) -> str | None:
    raw = (env.get("SMTPWATCH_HOME_REGION") or "").strip()
    return parse_region("SMTPWATCH_HOME_REGION", raw) if raw else None


def _probe_regions(env: Mapping[str, str]) -> tuple[str, ...]:
    """``SMTPWATCH_PROBE_REGIONS``: comma-separated region names, in order, each once, at
    most ``MAX_PROBE_REGIONS``, none the dispatcher's own region (the home location)."""
    from smtpwatch.core.errors import ConfigError

    name = "SMTPWATCH_PROBE_REGIONS"
    raw = (env.get(name) or "").strip()
    if not raw:
        return ()
    regions = tuple(parse_region(name, part) for part in raw.split(","))
    if len(regions) > MAX_PROBE_REGIONS:
        raise ConfigError(name, f"{len(regions)} regions: at most {MAX_PROBE_REGIONS}")
    seen: set[str] = set()
    for region in regions:
        if region in seen:
            raise ConfigError(name, f"{region} is listed twice")
        seen.add(region)
    home = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if home in seen:
        raise ConfigError(name, f"{home} is the home region: list only the others")
    return regions


def _probe_function_prefix(env: Mapping[str, str]) -> str:
    """``SMTPWATCH_PROBE_FUNCTION_PREFIX``, needed (and checked) only with probe regions."""
    from smtpwatch.core.errors import ConfigError

    name = "SMTPWATCH_PROBE_FUNCTION_PREFIX"
    raw = (env.get(name) or "").strip()
    if not raw:
        if (env.get("SMTPWATCH_PROBE_REGIONS") or "").strip():
            raise ConfigError(name, "must be set with SMTPWATCH_PROBE_REGIONS")
        return ""
    if not _PREFIX.fullmatch(raw):
        raise ConfigError(name, f"{raw[:60]!r}: expected 1 to 49 of A-Z a-z 0-9 _ -")
    return raw
