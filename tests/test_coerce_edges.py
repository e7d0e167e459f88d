"""How typed values become field values: numbers in every accepted spelling (DynamoDB
Decimals, numeric text), the range edges, booleans, choices, one-line text, lists, and
the exact message for each refusal. Fixed vectors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smtpwatch.core.coerce import (
    is_empty,
    show,
    string_list,
    to_bool,
    to_choice,
    to_float,
    to_int,
    to_number,
    to_text,
)
from smtpwatch.core.errors import ConfigError


def refused(fn: Any, *args: Any) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "number"),
    [(7, Decimal(7)), (2.5, Decimal("2.5")), (Decimal("1e2"), Decimal(100)), (" 42 ", Decimal(42))],
)
def test_numbers_in_every_accepted_spelling(value: Any, number: Decimal) -> None:
    assert to_number("port", value) == number


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a number, not true/false"),
        (float("inf"), "must be a finite number"),
        (float("nan"), "must be a finite number"),
        (Decimal("NaN"), "must be a finite number"),
        ("Infinity", "must be a finite number"),
        ("twelve", "'twelve' is not a number"),
        ("1" * 41, "'11111111111111111111'… is not a number"),
        ([5], "must be a number"),
    ],
)
def test_what_is_not_a_number_says_so(value: Any, message: str) -> None:
    assert refused(to_number, "port", value) == f"port: {message}"


def test_forty_characters_of_digits_are_still_read() -> None:
    assert to_number("n", "1" * 40) == Decimal("1" * 40)


def test_whole_numbers_in_range_including_both_ends() -> None:
    assert to_int("port", 1, 1, 65535) == 1
    assert to_int("port", "1", 1, 65535) == 1
    assert to_int("port", "65535", 1, 65535) == 65535
    assert to_int("port", Decimal("587"), 1, 65535) == 587
    assert to_int("port", 25.0, 1, 65535) == 25
    assert refused(to_int, "port", 0, 1, 65535) == (
        "port: 0 is out of range; allowed: a whole number from 1 to 65535"
    )
    assert refused(to_int, "port", "65536", 1, 65535) == (
        "port: 65536 is out of range; allowed: a whole number from 1 to 65535"
    )
    assert refused(to_int, "port", 2.5, 1, 65535) == (
        "port: 2.5 is not a whole number; allowed: a whole number from 1 to 65535"
    )
    assert refused(to_int, "remind", 5, 60, 120, "0 (never) or 60 to 120") == (
        "remind: 5 is out of range; allowed: 0 (never) or 60 to 120"
    )


def test_huge_numbers_are_shown_short() -> None:
    assert refused(to_int, "n", Decimal("1e999999"), 0, 10) == (
        "n: 1E+999999 is out of range; allowed: a whole number from 0 to 10"
    )
    big = Decimal("12345678901234567890.123456789")
    assert refused(to_int, "n", big, 0, 10) == (
        "n: 12345678901234567890.12… is out of range; allowed: a whole number from 0 to 10"
    )
    assert refused(to_int, "n", Decimal(10**18 - 1), 0, 10) == (
        "n: 999999999999999999 is out of range; allowed: a whole number from 0 to 10"
    )
    assert refused(to_int, "n", Decimal("1E+18"), 0, 10) == (
        "n: 1E+18 is out of range; allowed: a whole number from 0 to 10"
    )
    assert refused(to_int, "n", Decimal("123456789012345678901.12"), 0, 10) == (
        "n: 123456789012345678901.12 is out of range; allowed: a whole number from 0 to 10"
    )
    assert refused(to_int, "n", Decimal("1234567890123456789.12345"), 0, 10) == (
        "n: 1234567890123456789.123… is out of range; allowed: a whole number from 0 to 10"
    )


def test_fractional_numbers_in_range_including_both_ends() -> None:
    assert to_float("timeout_s", 1, 1.0, 120.0) == 1.0
    assert to_float("timeout_s", "120", 1.0, 120.0) == 120.0
    assert to_float("timeout_s", Decimal("0.5"), 0.5, 1.0) == 0.5
    assert refused(to_float, "timeout_s", "0.99", 1.0, 120.0) == (
        "timeout_s: 0.99 is out of range; allowed: 1 to 120"
    )
    assert refused(to_float, "timeout_s", 120.5, 1.0, 120.0) == (
        "timeout_s: 120.5 is out of range; allowed: 1 to 120"
    )
    assert refused(to_float, "timeout_s", True, 1.0, 120.0) == (
        "timeout_s: must be a number, not true/false"
    )


@pytest.mark.parametrize(("value", "flag"), [(True, True), (" TRUE ", True), ("false", False)])
def test_booleans(value: Any, flag: bool) -> None:
    assert to_bool("enabled", value) is flag


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_anything_else_is_not_a_boolean(value: Any) -> None:
    assert refused(to_bool, "enabled", value) == "enabled: must be true or false"


def test_choices_ignore_case_read_dashes_as_underscores_and_map_aliases() -> None:
    choices = ("device_cached", "non_cached")
    assert to_choice("dns_mode", " Non-Cached ", choices, {}) == "non_cached"
    assert to_choice("dns_mode", "nc", choices, {"nc": "non_cached"}) == "non_cached"
    assert refused(to_choice, "dns_mode", "other", choices, {}) == (
        "dns_mode: 'other' is not allowed; choose one of: device_cached, non_cached"
    )
    assert refused(to_choice, "dns_mode", 5, choices, {}) == (
        "dns_mode: 5 is not allowed; choose one of: device_cached, non_cached"
    )


def test_text_is_one_stripped_line_up_to_its_limit() -> None:
    assert to_text("name", "  Main MX  ", 7) == "Main MX"
    assert refused(to_text, "name", "x" * 8, 7) == "name: is too long (at most 7 characters)"
    assert refused(to_text, "name", "a\u202eb", 7) == (
        "name: must not contain control characters or line breaks"
    )
    assert refused(to_text, "name", 5, 7) == "name: must be a string"


def test_shown_values_are_bounded() -> None:
    assert show("x" * 10) == "'xxxxxxxxxx'"
    assert show("x" * 38) == "'" + "x" * 38 + "'"  # 40 characters: whole
    assert show("x" * 39) == "'" + "x" * 38 + "…"
    assert show("abc", limit=4) == "'ab…"


def test_lists_from_text_sets_and_sequences() -> None:
    assert string_list("x", "a, b ,,c", split=r"\s*,\s*") == ["a", "b", "c"]
    assert string_list("x", {"b", "a"}, split=",") == ["a", "b"]
    # a set mixing types (a hand-written item) is ordered by text, never a TypeError
    assert string_list("x", {"b", 1}, split=",") == [1, "b"]
    assert string_list("x", ("a",), split=",") == ["a"]
    with pytest.raises(ConfigError) as info:
        string_list("x", 5, split=",")
    assert str(info.value) == "x: must be a list of strings (or one string)"


@pytest.mark.parametrize(
    ("value", "empty"),
    [(None, True), (" ", True), ([], True), ({}, True), (0, False), ("a", False), ([0], False)],
)
def test_what_counts_as_not_given(value: Any, empty: bool) -> None:
    assert is_empty(value) is empty
