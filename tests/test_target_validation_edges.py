"""Target fields at their limits and the exact message a refused value gets: what a
user typing a target reads. Fixed vectors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target_validators import (
    validate_auth_methods,
    validate_ca_bundle,
    validate_dns_hosts,
    validate_ehlo_name,
    validate_host,
    validate_nameservers,
    validate_password_ref,
    validate_remind_every,
    validate_tags,
    validate_target_id,
)
from smtpwatch.testing.servers import Certificates

DOTS = "no leading/trailing or double '.', no 'AWS.' or 'Amazon.' prefix"
KEY_CHARS = "1-128 of letters, digits, _ - . (an SNS message attribute name)"
PEM_HINT = (
    "must be PEM text with at least one -----BEGIN CERTIFICATE----- block "
    "(the file's content, not its path)"
)


def refused(validate: Any, value: Any) -> str:
    with pytest.raises(ConfigError) as info:
        validate(value)
    return str(info.value)


# ---- target_id ----------------------------------------------------------------------


def test_a_target_id_of_128_characters_is_the_longest() -> None:
    assert validate_target_id("a" * 128) == "a" * 128
    assert validate_target_id("  mx-1.example:25@x_y  ") == "mx-1.example:25@x_y"
    assert refused(validate_target_id, "a" * 129).startswith("target_id: 'aaaa")
    assert refused(validate_target_id, "a" * 129).endswith(
        "is not allowed: start with a letter or digit, then up to 127 of "
        "letters, digits and . _ : @ -"
    )


@pytest.mark.parametrize("value", [None, "", "   ", 5])
def test_a_missing_target_id_says_what_is_allowed(value: Any) -> None:
    assert refused(validate_target_id, value) == (
        "target_id: is required (letters, digits and . _ : @ -)"
    )


def test_a_missing_host_says_what_is_expected() -> None:
    assert refused(validate_host, "  ") == "host: is required (a host name or an IP address)"


# ---- auth_methods -------------------------------------------------------------------


def test_auth_methods_are_read_in_any_spelling_once_each_in_order() -> None:
    assert validate_auth_methods("plain, cram_md5;LOGIN plain") == ("PLAIN", "CRAM-MD5", "LOGIN")
    # the spec's "SSL/TLS" entry is the STARTTLS fallback, always on: dropped
    assert validate_auth_methods(["SSL/TLS", "login", ""]) == ("LOGIN",)


def test_auth_methods_refusals_name_the_choices() -> None:
    choices = "CRAM-MD5, LOGIN, PLAIN, XOAUTH2, OAUTHBEARER, SIMPLE"
    assert refused(validate_auth_methods, ["GSSAPI"]) == (
        f"auth_methods: 'GSSAPI' is not supported; choose from {choices}"
    )
    assert refused(validate_auth_methods, ["STARTTLS"]) == (
        f"auth_methods: names no usable method; choose from {choices}"
    )
    assert refused(validate_auth_methods, 5) == (
        "auth_methods: must be a list such as ['CRAM-MD5', 'LOGIN', 'PLAIN']"
    )
    assert refused(validate_auth_methods, [5]) == "auth_methods: 5 is not a method name"


# ---- password_ref -------------------------------------------------------------------


def test_a_password_reference_keeps_its_kind_in_lower_case() -> None:
    assert validate_password_ref(" SSM:/mail/mx1 ") == "ssm:/mail/mx1"
    assert validate_password_ref("env:SMTP_PASSWORD") == "env:SMTP_PASSWORD"


def test_a_password_typed_where_its_reference_goes_is_never_echoed() -> None:
    allowed = "ssm:/path, secretsmanager:name, env:VAR or file:ID"
    message = refused(validate_password_ref, "hunter2-secret")
    assert message == (
        f"password_ref: must be a reference: {allowed} (the password itself does not go here)"
    )
    assert refused(validate_password_ref, 12345) == (
        f"password_ref: must be a reference ({allowed}), never the password"
    )
    assert refused(validate_password_ref, "ENV:1abc") == (
        "password_ref: malformed env reference; expected env:VARIABLE"
    )


# ---- nameservers, dns_hosts, ca_bundle ----------------------------------------------


def test_ten_nameservers_at_most_and_repeats_count_once() -> None:
    ten = [f"192.0.2.{i}" for i in range(1, 11)]
    assert len(validate_nameservers(ten)) == 10
    assert len(validate_nameservers("192.0.2.1, 192.0.2.1")) == 1
    assert refused(validate_nameservers, [*ten, "192.0.2.11"]) == "nameservers: at most 10 entries"


def test_two_hundred_dns_hosts_lines_at_most() -> None:
    lines = [f"192.0.2.{i % 250 + 1} h{i}.example" for i in range(200)]
    assert len(validate_dns_hosts(lines)) == 200
    assert refused(validate_dns_hosts, [*lines, "192.0.2.9 h200.example"]) == (
        "dns_hosts: at most 200 lines"
    )


def test_a_ca_bundle_is_certificates_only(certs: Certificates) -> None:
    pem = certs.ca_pem
    assert validate_ca_bundle("\n" + pem + "\n\n") == pem.strip() + "\n"
    assert refused(validate_ca_bundle, pem + "-----BEGIN PRIVATE KEY-----\nx\n") == (
        "ca_bundle: contains a private key; give only CA certificates"
    )
    assert refused(validate_ca_bundle, pem + "\x1b[2J") == (
        "ca_bundle: must not contain control characters (PEM is lines of text)"
    )
    assert refused(validate_ca_bundle, "/etc/ssl/ca.pem") == f"ca_bundle: {PEM_HINT}"
    assert refused(validate_ca_bundle, 5) == (
        "ca_bundle: must be PEM text (-----BEGIN CERTIFICATE----- ...)"
    )


def test_a_ca_bundle_of_300000_characters_is_the_longest(certs: Certificates) -> None:
    pem = certs.ca_pem.strip() + "\n"
    longest = pem + " " * (300_000 - len(pem))
    assert validate_ca_bundle(longest) == pem
    assert refused(validate_ca_bundle, longest + " ") == (
        "ca_bundle: is too long (at most 300000 characters)"
    )


# ---- ehlo_name ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("mx.example.com.", "mx.example.com"),
        ("192.0.2.1", "[192.0.2.1]"),
        ("[192.0.2.1]", "[192.0.2.1]"),
        ("2001:DB8::1", "[IPv6:2001:db8::1]"),
        ("[ipv6:2001:db8:0::1]", "[IPv6:2001:db8::1]"),
    ],
)
def test_an_ehlo_name_is_a_host_name_or_an_address_literal(value: str, name: str) -> None:
    assert validate_ehlo_name(value) == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 64, "is too long"),
        ("[IPv6:fe80::1%eth0]", "an address literal has no zone id ('%...')"),
        (
            "[192.0.2.300]",
            "'[192.0.2.300]' is not a host name or an address literal like [192.0.2.1] / "
            "[IPv6:2001:db8::1]",
        ),
        (
            "[IPv6:nope]",
            "'[IPv6:nope]' is not a host name or an address literal like [192.0.2.1] / "
            "[IPv6:2001:db8::1]",
        ),
        (5, "must be a host name or an address literal like [192.0.2.1]"),
    ],
)
def test_a_bad_ehlo_name_says_why(value: Any, message: str) -> None:
    assert refused(validate_ehlo_name, value) == f"ehlo_name: {message}"


def test_an_ehlo_name_of_255_characters_is_judged_as_a_name_and_256_is_too_long() -> None:
    name = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63
    assert len(name) == 255
    # too long for DNS (253), but not for the length check: judged as a name
    assert refused(validate_ehlo_name, name).endswith(
        "is not a host name or an address literal like [192.0.2.1] / [IPv6:2001:db8::1]"
    )
    assert refused(validate_ehlo_name, name + "d") == "ehlo_name: is too long"


# ---- tags ---------------------------------------------------------------------------


def test_six_tags_at_most_on_input_and_a_stored_item_with_seven_still_reads() -> None:
    # locations_failed took the seventh SNS message attribute a tag had
    six = {f"k{i}": "v" for i in range(6)}
    assert validate_tags(six) == six
    seven = {**six, "k6": "v"}
    assert refused(validate_tags, seven) == (
        "tags: at most 6 keys (they become SNS message attributes)"
    )
    # a stored item may hold what an earlier version allowed: 7, never 8
    assert validate_tags(seven, stored=True) == seven
    assert refused(lambda tags: validate_tags(tags, stored=True), {**seven, "k7": "v"}) == (
        "tags: at most 6 keys (they become SNS message attributes)"
    )


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            {"a b": "v"},
            f"key 'a b' is not allowed: {KEY_CHARS}",
        ),
        (
            {".a": "v"},
            f"key '.a' is not allowed: {DOTS}",
        ),
        (
            {"a.": "v"},
            f"key 'a.' is not allowed: {DOTS}",
        ),
        (
            {"a..b": "v"},
            f"key 'a..b' is not allowed: {DOTS}",
        ),
        (
            {"Amazon.x": "v"},
            f"key 'Amazon.x' is not allowed: {DOTS}",
        ),
        (
            {"aws.x": "v"},
            f"key 'aws.x' is not allowed: {DOTS}",
        ),
        ({"status": "v"}, "key 'status' is reserved (event, status, target_id, locations_failed)"),
        (
            {"locations_failed": "0"},
            "key 'locations_failed' is reserved (event, status, target_id, locations_failed)",
        ),
        ({"team": ""}, "value of 'team' is empty (SNS refuses empty attributes)"),
        ({"team": "x" * 257}, "value of 'team' must be one line of at most 256 characters"),
        ({"team": "a\nb"}, "value of 'team' must be one line of at most 256 characters"),
        ({"team": 2.5}, "value of 'team' must be a string"),
        ({"team": ["x"]}, "value of 'team' must be a string"),
        (["team"], "must be a map of string keys to string values"),
    ],
)
def test_a_refused_tag_says_why(tags: Any, message: str) -> None:
    assert refused(validate_tags, tags) == f"tags: {message}"


def test_tag_values_are_one_trimmed_line_and_whole_numbers_read_as_digits() -> None:
    assert validate_tags(
        {
            "team": " mail ",
            "n": 5,
            "d": Decimal("42.0"),
            "e": Decimal("1E+1"),
            "f": 7.0,
        }
    ) == {"team": "mail", "n": "5", "d": "42", "e": "10", "f": "7"}
    assert validate_tags({"x": "y" * 256, "k" * 128: "v"}) == {"x": "y" * 256, "k" * 128: "v"}
    assert refused(validate_tags, {"flag": True}) == "tags: value of 'flag' must be a string"


# ---- remind_every_s -----------------------------------------------------------------


def test_a_reminder_period_is_never_or_one_minute_to_thirty_days() -> None:
    assert validate_remind_every(0) == 0
    assert validate_remind_every(60) == 60
    assert validate_remind_every(30 * 86400) == 30 * 86400
    assert refused(validate_remind_every, 59) == (
        "remind_every_s: 59 is too short; allowed: 0 (never) or 60 to 2592000"
    )
    assert refused(validate_remind_every, 1) == (
        "remind_every_s: 1 is too short; allowed: 0 (never) or 60 to 2592000"
    )


# ---- the field is named in every refusal, and blanks and sets are read ----------------


def test_refusals_from_shared_parsers_name_the_field() -> None:
    assert refused(validate_nameservers, 5) == (
        "nameservers: must be a list of strings (or one string)"
    )
    assert refused(validate_nameservers, ["not a server"]).startswith("nameservers: ")
    assert refused(validate_dns_hosts, ["not-an-ip host.example"]).startswith("dns_hosts: ")
    assert refused(validate_remind_every, "soon") == "remind_every_s: 'soon' is not a number"
    assert refused(validate_remind_every, 30 * 86400 + 1) == (
        "remind_every_s: 2592001 is out of range; allowed: 0 (never) or 60 to 2592000"
    )


def test_blank_and_dropped_entries_are_skipped_not_the_end_of_the_list() -> None:
    assert validate_auth_methods(["", "LOGIN"]) == ("LOGIN",)
    assert validate_auth_methods(["STARTTLS", "PLAIN"]) == ("PLAIN",)
    assert [ns.ip for ns in validate_nameservers(["", "192.0.2.1"])] == ["192.0.2.1"]


def test_one_parsed_value_and_sets_are_accepted() -> None:
    (ns,) = validate_nameservers("192.0.2.53")
    assert validate_nameservers(ns) == (ns,)
    (entry,) = validate_dns_hosts(["192.0.2.1 a.example"])
    assert validate_dns_hosts(entry) == (entry,)
    entries = validate_dns_hosts({"192.0.2.2 b.example", "192.0.2.1 a.example"})
    assert [e.ip for e in entries] == ["192.0.2.1", "192.0.2.2"]


def test_a_secrets_manager_arn_keeps_its_colons_and_a_bare_kind_is_no_reference() -> None:
    arn = "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:smtp-AbCdEf"
    assert validate_password_ref(arn) == arn
    assert refused(validate_password_ref, "ssm") == (
        "password_ref: must be a reference: ssm:/path, secretsmanager:name, env:VAR or file:ID"
        " (the password itself does not go here)"
    )


def test_only_the_final_dot_of_an_ehlo_name_is_dropped() -> None:
    assert validate_ehlo_name("relayX.") == "relayX"
