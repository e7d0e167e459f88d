"""The locations' environment: probe regions, their function names, the home region.

GIVEN the variables the templates set (or a mistyped one) WHEN a function reads its
settings THEN it gets the locations in order, or one ConfigError naming the variable;
and a client made for a region signs for that region whatever the process default is.
"""

from __future__ import annotations

import pytest

from smtpwatch.adapters.aws_clients import Clients
from smtpwatch.adapters.lambda_invoker import probe_payload
from smtpwatch.core.errors import ConfigError
from smtpwatch.handlers.settings import load_dispatcher_settings, load_probe_settings

BASE = {"AWS_REGION": "us-east-1", "SMTPWATCH_PROBE_FUNCTION_PREFIX": "smtpwatch-probe-"}


def test_probe_regions_are_read_in_order_with_their_function_names() -> None:
    s = load_dispatcher_settings(BASE | {"SMTPWATCH_PROBE_REGIONS": "eu-west-1, ap-southeast-2"})
    assert s.probe_regions == ("eu-west-1", "ap-southeast-2")
    assert s.regional_function_name("eu-west-1") == "smtpwatch-probe-eu-west-1"


def test_no_probe_regions_is_the_home_region_alone() -> None:
    # What the home stack sets without ProbeRegions: an empty list, no prefix needed.
    for env in ({}, {"SMTPWATCH_PROBE_REGIONS": ""}, {"SMTPWATCH_PROBE_REGIONS": " "}):
        s = load_dispatcher_settings(env)
        assert s.probe_regions == ()


@pytest.mark.parametrize(
    ("regions", "why"),
    [
        ("eu-west-1,eu_west_2", "'eu_west_2' is not a region name"),
        ("eu-west-1,,us-west-2", "'' is not a region name"),
        ("eu-west-1,eu-west-1", "eu-west-1 is listed twice"),
        ("us-east-1", "us-east-1 is the home region"),
        (",".join(f"eu-west-{i}" for i in range(1, 17)), "16 regions: at most 15"),
    ],
)
def test_a_bad_probe_region_list_names_the_variable(regions: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_dispatcher_settings(BASE | {"SMTPWATCH_PROBE_REGIONS": regions})
    assert info.value.field == "SMTPWATCH_PROBE_REGIONS"
    assert why in str(info.value)


def test_probe_regions_need_the_function_prefix() -> None:
    with pytest.raises(ConfigError) as info:
        load_dispatcher_settings({"SMTPWATCH_PROBE_REGIONS": "eu-west-1"})
    assert info.value.field == "SMTPWATCH_PROBE_FUNCTION_PREFIX"
    with pytest.raises(ConfigError) as info:
        load_dispatcher_settings(
            {"SMTPWATCH_PROBE_REGIONS": "eu-west-1", "SMTPWATCH_PROBE_FUNCTION_PREFIX": "a b"}
        )
    assert info.value.field == "SMTPWATCH_PROBE_FUNCTION_PREFIX"


def test_a_regional_probe_reads_its_home_region() -> None:
    assert load_probe_settings({}).home_region is None
    assert load_probe_settings({"SMTPWATCH_HOME_REGION": "us-east-1"}).home_region == "us-east-1"
    with pytest.raises(ConfigError) as info:
        load_probe_settings({"SMTPWATCH_HOME_REGION": "home"})
    assert info.value.field == "SMTPWATCH_HOME_REGION"


def test_clients_for_a_region_use_that_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    home = Clients(region="us-east-1")
    assert home("dynamodb").meta.region_name == "us-east-1"  # the home tables
    assert home("lambda", "ap-southeast-2").meta.region_name == "ap-southeast-2"
    assert "ap-southeast-2" in home("lambda", "ap-southeast-2").meta.endpoint_url
    assert home("lambda", "ap-southeast-2") is home("lambda", "ap-southeast-2")
    assert Clients()("sns").meta.region_name == "eu-west-1"  # the environment's


def test_a_vote_travels_in_the_probe_event() -> None:
    import json

    vote = {"locations": ["us-east-1", "eu-west-1"], "deadline": "2026-11-25T15:08:30Z"}
    target = {"target_id": {"S": "mx1"}, "host": {"S": "mx.example.com"}}
    event = json.loads(probe_payload("mx1", "2026-11-25T15:00:00Z", target, "tick-1", vote))
    assert event == {
        "target_id": "mx1",
        "scheduled_at": "2026-11-25T15:00:00Z",
        "correlation_id": "tick-1",
        "vote": vote,
        "target": target,
    }
    # Without a vote the event is exactly today's.
    assert "vote" not in json.loads(probe_payload("mx1", "2026-11-25T15:00:00Z"))
