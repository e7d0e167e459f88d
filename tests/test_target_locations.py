"""A target's locations, quorum and alert_on_partial: validated like every other field
(a refusal names the field), stored only when not the default, and given on the command
line; a target has at most 6 tags on input, while a stored item with 7 (an earlier
version allowed them) is still read and probed."""

from __future__ import annotations

from typing import Any

import pytest

from smtpwatch.cli.target_options import FIELD_OPTIONS
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import Target

BASE: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}
SEVEN_TAGS = {f"k{i}": "v" for i in range(7)}


def refusal(**fields: Any) -> tuple[str, str]:
    with pytest.raises(ConfigError) as caught:
        Target(**BASE, **fields)
    return caught.value.field, caught.value.reason


def test_the_defaults_are_every_location_a_majority_and_no_partial_alert() -> None:
    target = Target(**BASE)
    assert (target.locations, target.quorum, target.alert_on_partial) == ((), 0, False)
    # the defaults are not stored: an item written before these fields reads the same
    assert not {"locations", "quorum", "alert_on_partial"} & set(target.to_item())


def test_locations_are_names_in_the_given_order_and_stored_as_a_list() -> None:
    # GIVEN locations as a comma-separated text (the CLI's form) or a list
    for given in ("eu-west-1, us-east-1", ["eu-west-1", " us-east-1 "]):
        fields: dict[str, Any] = {"locations": given, "quorum": "2", "alert_on_partial": "true"}
        target = Target(**BASE, **fields)
        # THEN they are kept in the order given, trimmed
        assert target.locations == ("eu-west-1", "us-east-1")
        assert (target.quorum, target.alert_on_partial) == (2, True)
        item = target.to_item()
        assert item["locations"] == ["eu-west-1", "us-east-1"]
        assert (item["quorum"], item["alert_on_partial"]) == (2, True)
        # AND the item reads back as the same target
        assert Target.from_item(item, strict=True)[0] == target


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"locations": ["us-east-1", "us-east-1"]}, "locations", "'us-east-1' is named twice"),
        ({"locations": ["x" * 65]}, "locations", "is too long (at most 64 characters)"),
        ({"locations": ["a\nb"]}, "locations", "must not contain control characters"),
        ({"locations": ["us-east-1", " "]}, "locations", "a location name must not be empty"),
        ({"locations": [1]}, "locations", "1 is not a location name"),
        ({"locations": {"us-east-1": 1}}, "locations", "must be a list of strings"),
        (
            {"locations": [f"r{i}" for i in range(17)]},
            "locations",
            "at most 16 locations (17 given)",
        ),
        ({"quorum": 17}, "quorum", "17 is out of range; allowed: 0 (a majority) or 1 to 16"),
        ({"quorum": -1}, "quorum", "-1 is out of range; allowed: 0 (a majority) or 1 to 16"),
        ({"quorum": 1.5}, "quorum", "is not a whole number"),
        (
            {"locations": ["us-east-1", "eu-west-1"], "quorum": 3},
            "quorum",
            "3 is more than the 2 locations named; allowed: 0 (a majority) or 1 to 2",
        ),
        ({"alert_on_partial": "sometimes"}, "alert_on_partial", "must be true or false"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_a_bad_value_is_refused_naming_the_field(
    fields: dict[str, Any], field: str, reason: str
) -> None:
    got_field, got_reason = refusal(**fields)
    assert got_field == field
    assert reason in got_reason


def test_sixteen_locations_and_a_quorum_up_to_their_number_are_allowed() -> None:
    names = tuple(f"region-{i}" for i in range(16))
    assert Target(**BASE, locations=names, quorum=16).quorum == 16
    # without locations named, the quorum is checked against the deployed ones later
    assert Target(**BASE, quorum=16).quorum == 16


def test_the_cli_gives_each_new_field_an_option_from_the_table() -> None:
    options = {opt.field: opt for opt in FIELD_OPTIONS}
    assert options["locations"].flags == ("--locations",)
    assert options["quorum"].flags == ("--quorum",)
    assert options["alert_on_partial"].flags == ("--alert-on-partial",)
    assert options["alert_on_partial"].kind == "bool"
    assert "majority" in options["quorum"].help


# ---- tags: 6 on input, 7 still read from a stored item ------------------------------


def test_seven_tags_are_refused_on_input() -> None:
    assert refusal(tags=SEVEN_TAGS) == (
        "tags",
        "at most 6 keys (they become SNS message attributes)",
    )
    with pytest.raises(ConfigError, match="at most 6 keys"):
        Target.from_item({**BASE, "tags": SEVEN_TAGS}, strict=True)


def test_a_tag_named_locations_failed_is_refused_as_reserved() -> None:
    field, reason = refusal(tags={"locations_failed": "0"})
    assert field == "tags"
    assert "'locations_failed' is reserved" in reason


def test_a_stored_item_with_seven_tags_still_reads_and_keeps_them() -> None:
    # GIVEN an item an earlier version stored with 7 tags (one named locations_failed)
    tags = {**{f"k{i}": "v" for i in range(6)}, "locations_failed": "x"}
    target, unknown = Target.from_item({**BASE, "tags": tags}, strict=False)
    # THEN it is read as it is (the probe and the dispatcher read items so)
    assert (target.tags, unknown) == (tags, [])
    # AND a copy that leaves the tags alone keeps them; one that sets tags is input
    assert target.replace(enabled=False).tags == tags
    with pytest.raises(ConfigError, match="at most 6 keys"):
        target.replace(tags={**tags, "k9": "v"})
    # AND eight tags were never allowed
    with pytest.raises(ConfigError, match="at most 6 keys"):
        Target.from_item({**BASE, "tags": {**tags, "k8": "v"}}, strict=False)


def test_a_stored_item_is_otherwise_validated_as_input() -> None:
    with pytest.raises(ConfigError) as caught:
        Target.from_item({**BASE, "locations": ["a", "a"]}, strict=False)
    assert caught.value.field == "locations"
