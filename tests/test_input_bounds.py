"""Bounds on input at the model and document level: zone ids, control characters, the
bounded YAML/JSON reader and maintenance times. (The CLI's side of the same bounds is
tests/cli/test_input_bounds_cli.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.cli.documents import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    DocumentError,
    load_document,
)
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import Target

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


# ---- the model: a stored item is held to the CLI's rules -----------------------------


@pytest.mark.parametrize(
    "host", ["fe80::1%\x00", "fe80::1%\x1b[31m", "fe80::1%" + "e" * 16, "[fe80::1%\x07]"]
)
def test_a_stored_item_with_a_bad_zone_id_is_a_config_error(host: str) -> None:
    # A table item (strict=False, as the dispatcher and the probe Lambda read it)
    with pytest.raises(ConfigError) as caught:
        Target.from_item({"target_id": "z", "host": host}, strict=False)
    assert caught.value.field == "host"
    assert "\x00" not in str(caught.value) and "\x1b" not in str(caught.value)


@pytest.mark.parametrize("zone", ["eth0", "en0", "wlp3s0.100", "br-lan_1", "4294967295"])
def test_usual_zone_ids_are_kept(zone: str) -> None:
    target, _ = Target.from_item({"target_id": "z", "host": f"fe80::1%{zone}"}, strict=False)
    assert target.host == f"fe80::1%{zone}"


def test_an_ehlo_address_literal_has_no_zone_id() -> None:
    with pytest.raises(ConfigError, match="ehlo_name"):
        Target(target_id="z", host="mx.example.com", ehlo_name="[IPv6:fe80::1%eth0]")
    with pytest.raises(ConfigError, match="ehlo_name"):
        Target(target_id="z", host="mx.example.com", ehlo_name="fe80::1%eth0")


@pytest.mark.parametrize("bad", ["\x1b]0;owned\x07", "\x00", "\x9b2J", "\u202e"])
def test_a_ca_bundle_with_control_characters_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="ca_bundle"):
        Target(target_id="z", host="mx.example.com", ca_bundle=f"# comment {bad}\n{PEM}")


def test_a_ca_bundle_keeps_its_line_breaks_tabs_and_unicode_comments() -> None:
    text = f"# Issuer: CN=NetLock Arany (Class Gold) Főtanúsítvány\r\n#\tnote\n{PEM}"
    target = Target(target_id="z", host="mx.example.com", ca_bundle=text)
    assert target.ca_bundle is not None and "Főtanúsítvány" in target.ca_bundle


def test_an_unknown_attribute_with_control_characters_is_named_escaped() -> None:
    with pytest.raises(ConfigError) as caught:
        Target.from_item({"target_id": "z", "host": "mx.example.com", "a\x1b[2J": 1}, strict=True)
    assert "\x1b" not in caught.value.field and "\x1b" not in str(caught.value)


# ---- the bounded document reader ------------------------------------------------------


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_nesting_up_to_the_bound_is_read_and_one_more_is_refused(fmt: str) -> None:
    assert load_document(nested(MAX_DEPTH), fmt) is not None
    with pytest.raises(DocumentError, match=f"nested more than {MAX_DEPTH} deep"):
        load_document(nested(MAX_DEPTH + 1), fmt)


def test_aliases_up_to_the_bound_are_expanded_and_one_node_more_is_refused() -> None:
    # An anchor of 1 + 99 scalars (100 nodes) used 100 times adds 10,000 nodes.
    anchor = "[" + ", ".join(["x"] * 99) + "]"
    ok = f"a: &a {anchor}\nb: [{', '.join(['*a'] * (MAX_ALIAS_NODES // 100))}]\n"
    data = load_document(ok, "yaml")
    assert len(data["b"]) == 100 and data["b"][0] is data["a"]
    with pytest.raises(DocumentError, match="aliases expand to more than 10,000 nodes") as caught:
        load_document(ok.replace("b: [", "b: [x, *a, "), "yaml")
    assert caught.value.line == 2


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(DocumentError, match="contains itself"):
        load_document("- &a [x, *a]\n", "yaml")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6000), st.sampled_from(["json", "yaml"]), st.booleans())
def test_integers_are_read_up_to_the_digit_bound(digits: int, fmt: str, negative: bool) -> None:
    literal = ("-" if negative else "") + "9" * digits
    text = f'[{{"target_id": "a", "port": {literal}}}]'
    if len(literal) <= MAX_INT_DIGITS:
        assert load_document(text, fmt)[0]["port"] == int(literal)
        return
    with pytest.raises(DocumentError) as caught:
        load_document(text, fmt)
    assert str(caught.value).startswith(f"item 1: port: an integer of {digits} digits")


@pytest.mark.parametrize(
    "text",
    ["- !!int abc\n", "- !!float x\n", "- !!bool maybe\n", "- 2026-02-30\n", "- !!timestamp 9\n"],
)
def test_a_yaml_scalar_that_cannot_be_converted_is_a_yaml_error_with_its_line(
    text: str,
) -> None:
    import yaml

    with pytest.raises(yaml.MarkedYAMLError) as caught:
        load_document("- ok\n" + text, "yaml")
    assert caught.value.problem_mark is not None and caught.value.problem_mark.line == 1


def test_a_document_error_names_the_item_and_the_field_under_targets() -> None:
    text = json.dumps({"targets": [{"target_id": "a"}, {"tags": {"x": [[[]]]}}]})
    text = text.replace("[[[]]]", nested(MAX_DEPTH))
    with pytest.raises(DocumentError) as caught:
        load_document(text, "json")
    assert str(caught.value) == f"item 2: tags: nested more than {MAX_DEPTH} deep"
    assert caught.value.describe(items=False) == f"nested more than {MAX_DEPTH} deep"


def test_a_key_with_control_characters_is_named_escaped() -> None:
    text: dict[str, Any] = {"a\x1b[2J": int("9" * 50)}
    with pytest.raises(DocumentError) as caught:
        load_document(json.dumps([text]), "json")
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)


# ---- maintenance times -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-01T00:00:00Z", "9999-12-31T23:00:00-12:00"),  # past datetime's end in UTC
        ("0001-01-01T00:00:00+01:00", "2026-01-01T00:00:00Z"),  # before its start
        ("1969-12-31T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "9000-01-01T00:00:00Z"),
    ],
)
def test_a_one_off_window_out_of_range_is_a_config_error(start: str, end: str) -> None:
    from datetime import datetime

    for window in (
        {"start": start, "end": end},
        {"start": datetime.fromisoformat(start), "end": datetime.fromisoformat(end)},
    ):
        item: dict[str, Any] = {"target_id": "m", "host": "mx.example.com"}
        with pytest.raises(ConfigError, match="out of range") as caught:
            Target.from_item(item | {"maintenance": [window]}, strict=True)
        assert caught.value.field == "maintenance"


# ---- durations and numeric options ----------------------------------------------------

duration_text = st.builds(
    lambda digits, fraction, unit, pad: f"{pad}{digits}{fraction}{unit}{pad}",
    st.integers(0, 10**40).map(str) | st.text("0123456789", min_size=1, max_size=400),
    st.sampled_from(["", ".5", ".000001", ".1234567"]),
    st.sampled_from(["s", "sec", "m", "min", "h", "d", "w", "D", "y", ""]),
    st.sampled_from(["", " "]),
)


@settings(max_examples=300, deadline=None)
@given(duration_text | st.text(max_size=40))
def test_since_is_a_time_in_range_or_one_usage_error(text: str) -> None:
    from datetime import UTC, datetime, timedelta

    from smtpwatch.cli.main import UsageError
    from smtpwatch.cli.option_values import MAX_SINCE_DAYS, parse_duration, parse_since

    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    try:
        since = parse_since(text, now=now)
    except UsageError as exc:
        assert str(exc).startswith("--since: ") and "\n" not in str(exc)
        return
    assert datetime(1970, 1, 1, tzinfo=UTC) <= since < datetime(9000, 1, 1, tzinfo=UTC)
    seconds = parse_duration(text, option="--since", max_days=MAX_SINCE_DAYS)
    if seconds is not None:  # a duration: never more than the bound back
        assert since == now - timedelta(seconds=seconds)
        assert seconds <= MAX_SINCE_DAYS * 86400


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.sampled_from(["nan", "NaN", "-inf", "Infinity", "1e308", "1e999", "-0", "0x10"])
    | st.integers(-(10**30), 10**30).map(str)
    | st.text(max_size=20)
)
def test_a_numeric_option_is_finite_and_in_range_or_refused(text: str) -> None:
    import argparse
    import math

    from smtpwatch.cli.option_values import bounded_number

    for low_open in (False, True):
        parse = bounded_number(0, 36500, low_open=low_open)
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert repr(text[:40]) in str(exc)
            continue
        assert math.isfinite(value) and value <= 36500
        assert value > 0 if low_open else value >= 0
