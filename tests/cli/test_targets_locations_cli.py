"""`smtpwatch targets add|update` with a target's locations, quorum and
alert_on_partial: stored as given, refused naming the field when they contradict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.local.sqlite_store import SqliteStore


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def stored(cli: Cli, target_id: str) -> dict[str, object]:
    with SqliteStore(cli.db) as store:
        item = store.get_item(target_id)
    assert item is not None
    return item


def test_add_and_update_store_locations_quorum_and_alert_on_partial(cli: Cli) -> None:
    # WHEN a target is added with two locations, a quorum of 2 and partial alerts
    added = cli(
        "add", "mx1", "mx1.example.com", "--locations", "us-east-1,eu-west-1",
        "--quorum", "2", "--alert-on-partial",
    )  # fmt: skip
    # THEN they are stored as given
    assert added.returncode == 0, added.stderr
    item = stored(cli, "mx1")
    assert (item["locations"], item["quorum"], item["alert_on_partial"]) == (
        ["us-east-1", "eu-west-1"],
        2,
        True,
    )
    shown = json.loads(cli("show", "mx1", "--json").stdout)
    assert shown["locations"] == ["us-east-1", "eu-west-1"]
    # WHEN the locations are set as JSON and the partial alerts turned off
    updated = cli(
        "update", "mx1", "--set", 'locations=["ap-south-1", "eu-west-1", "us-east-1"]',
        "--no-alert-on-partial", "--quorum", "3",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    item = stored(cli, "mx1")
    assert item["locations"] == ["ap-south-1", "eu-west-1", "us-east-1"]
    assert item["quorum"] == 3 and "alert_on_partial" not in item  # back to the default


def test_a_quorum_above_the_locations_named_is_refused_naming_it(cli: Cli) -> None:
    result = cli("add", "mx1", "mx1.example.com", "--locations", "us-east-1", "--quorum", "2")
    assert result.returncode == 3
    assert "quorum" in result.stderr and "more than the 1 locations named" in result.stderr
    if cli.db.exists():  # nothing stored
        with SqliteStore(cli.db) as store:
            assert store.get_item("mx1") is None


def test_a_location_named_twice_and_a_seventh_tag_are_refused(cli: Cli) -> None:
    twice = cli("add", "mx1", "mx1.example.com", "--locations", "us-east-1,us-east-1")
    assert twice.returncode == 3 and "locations" in twice.stderr and "twice" in twice.stderr
    tags = [f"--tag=k{i}=v" for i in range(7)]
    seven = cli("add", "mx1", "mx1.example.com", *tags)
    assert seven.returncode == 3 and "at most 6" in seven.stderr
    reserved = cli("add", "mx1", "mx1.example.com", "--tag", "locations_failed=1")
    assert reserved.returncode == 3 and "reserved" in reserved.stderr
