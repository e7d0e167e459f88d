"""The field options of `smtpwatch targets add|update` come from the Target field table."""

from __future__ import annotations

import argparse

import pytest

from smtpwatch.cli import target_options
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.target_options import (
    FIELD_OPTIONS,
    add_field_options,
    field_values,
    set_values,
)
from smtpwatch.core.target_fields import FIELDS


def test_every_field_but_id_and_host_has_one_option_in_the_table_order() -> None:
    assert [opt.field for opt in FIELD_OPTIONS] == [s.name for s in FIELDS if not s.required]
    flags = [flag for opt in FIELD_OPTIONS for flag in opt.flags]
    assert len(flags) == len(set(flags))


def test_bool_fields_are_on_off_options_and_the_others_take_values() -> None:
    kinds = {spec.name: spec.kind for spec in FIELDS}
    for opt in FIELD_OPTIONS:
        assert (opt.kind == "bool") == (kinds[opt.field] == "bool"), opt.field


def test_options_parse_to_raw_field_values() -> None:
    parser = argparse.ArgumentParser()
    add_field_options(parser, update=True)
    args = parser.parse_args(
        ["--no-tls-verify", "--tag", "env=prod", "--nameserver", "::1", "--timeout-s", "30"]
    )
    assert field_values(args) == {
        "tls_verify": False,
        "tags": {"env": "prod"},
        "nameservers": ["::1"],
        "timeout_s": "30",
    }
    assert args.set_values == [] and args.unset == []


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("login=yes", {"login": "true"}),
        ("notify_recovery=OFF", {"notify_recovery": "false"}),
        ("name=yes", {"name": "yes"}),  # bool words only for bool fields
        ("timeout_s=", {"timeout_s": None}),  # empty: the default
        ("tags=a=1, b=2", {"tags": {"a": "1", "b": "2"}}),
        ('tags={"a": "1"}', {"tags": {"a": "1"}}),
        ('auth_methods=["PLAIN"]', {"auth_methods": ["PLAIN"]}),
        ("auth_methods=PLAIN,LOGIN", {"auth_methods": "PLAIN,LOGIN"}),
        ("dns_hosts=127.0.0.1 a;127.0.0.2 b", {"dns_hosts": ["127.0.0.1 a", "127.0.0.2 b"]}),
        ('maintenance={"days": "sun"}', {"maintenance": {"days": "sun"}}),
    ],
)
def test_set_reads_words_lists_and_maps_by_the_fields_kind(pair: str, expected: object) -> None:
    assert set_values([pair]) == expected


def test_set_without_field_equals_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^--set 'timeout_s': expected FIELD=VALUE"):
        set_values(["timeout_s"])


def test_the_cli_metadata_names_only_fields_of_the_table() -> None:
    # A misspelt key would silently leave its field with the generic option.
    assert set(target_options._CLI) <= {spec.name for spec in FIELDS if not spec.required}
