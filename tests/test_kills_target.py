"""The target model's errors as a user reads them: each names its field and says what
is wrong in words fixed here (the CLI prints ``field: message``), unknown attribute
names are listed, bounded and escaped with a "did you mean" hint, and a target shows
as ``host:port`` in alerts and logs."""

from __future__ import annotations

from typing import Any

import pytest

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import Target, check_aws_limits, parse_ehlo_name

MIN: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}


def _error(**fields: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        Target(**{**MIN, **fields})
    return caught.value


def _item_error(item: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        Target.from_item(item, strict=True)
    return caught.value


# ------------------------------------------------------------------ what the item is


def test_an_item_that_is_not_a_map_is_refused_as_the_target() -> None:
    for item in (["target_id", "mx1"], "mx1", None):
        error = _item_error(item)
        assert (error.field, error.reason) == (
            "target",
            "must be a map of attribute names to values",
        )
        assert str(error) == "target: must be a map of attribute names to values"


def test_an_attribute_name_that_is_not_a_string_is_shown_in_the_error() -> None:
    error = _item_error({**MIN, 7: "x"})
    assert (error.field, error.reason) == ("target", "attribute name 7 is not a string")
    lenient = pytest.raises(ConfigError, match=r"^target: attribute name \(1, 2\) is not")
    with lenient:
        Target.from_item({**MIN, (1, 2): "x"}, strict=False)


# ------------------------------------------------------------------ unknown attributes


def test_one_unknown_attribute_without_a_likely_meaning_gets_no_hint() -> None:
    error = _error(zzzz=1)
    assert (error.field, error.reason) == ("zzzz", "unknown attribute 'zzzz'")


def test_a_prefix_of_a_field_name_suggests_the_first_such_field() -> None:
    # too short for a close match: the fields that start with it and "_" are the hint
    error = _error(dns=1)
    assert (error.field, error.reason) == (
        "dns",
        "unknown attribute 'dns' (did you mean dns_mode?)",
    )
    error = _error(tls=True)
    assert error.reason == "unknown attribute 'tls' (did you mean tls_verify?)"


def test_the_closest_field_is_the_hint_for_a_misspelling() -> None:
    error = _error(timout=5)  # close to timeout_s
    assert error.reason == "unknown attribute 'timout' (did you mean timeout_s?)"


def test_several_unknown_attributes_are_listed_sorted_with_their_hints() -> None:
    error = _error(zzzz=1, prot=25)
    assert error.field == "prot"  # the first in order
    assert error.reason == "unknown attributes 'prot' (did you mean port?), 'zzzz'"


def test_more_than_five_unknown_attributes_are_cut_to_five_and_counted() -> None:
    names = {f"zz{i}": i for i in range(7)}
    error = _error(**names)
    assert error.reason == ("unknown attributes 'zz0', 'zz1', 'zz2', 'zz3', 'zz4' and 2 more")
    error = _error(**{f"zz{i}": i for i in range(6)})
    assert error.reason.endswith("'zz4' and 1 more")
    error = _error(**{f"zz{i}": i for i in range(5)})
    assert error.reason == "unknown attributes 'zz0', 'zz1', 'zz2', 'zz3', 'zz4'"


def test_an_unknown_name_is_named_as_typed_up_to_sixty_printable_characters() -> None:
    for name in ("x", "q" * 60):
        error = _error(**{name: 1})
        assert error.field == name
        assert error.reason == f"unknown attribute {name!r}"


def test_a_long_or_unprintable_unknown_name_is_quoted_and_cut() -> None:
    long = "q" * 61
    error = _error(**{long: 1})
    # the field as repr cut to 60 characters; the message quotes its first 60
    assert error.field == "'" + "q" * 58 + "…"
    assert error.reason == f"unknown attribute {'q' * 60!r}"
    very_long = "w" * 100
    error = _error(**{very_long: 1})
    assert error.field == "'" + "w" * 58 + "…"
    assert error.reason == f"unknown attribute {'w' * 60!r}"
    # a control character never reaches a terminal raw
    error = _item_error({**MIN, "zz\x1b[2J": 1})
    assert error.field == "'zz\\x1b[2J'"
    assert error.reason == "unknown attribute 'zz\\x1b[2J'"


def test_an_empty_attribute_name_is_reported_as_the_target() -> None:
    error = _item_error({**MIN, "": 1})
    assert (error.field, error.reason) == ("target", "unknown attribute ''")


# ------------------------------------------------------------------ rules between fields


def test_login_without_a_username_names_the_username() -> None:
    error = _error(login=True, password_ref="ssm:/smtp/mx1")
    assert (error.field, error.reason) == ("username", "is required when login is true")


def test_login_without_a_password_reference_names_it_and_its_forms() -> None:
    error = _error(login=True, username="monitor")
    assert error.field == "password_ref"
    # the forms it takes, as typed (other credential sources may be listed after them)
    assert error.reason.startswith(
        "is required when login is true (ssm:/path, secretsmanager:name, env:VAR or file:ID"
    )


def test_login_over_plain_text_names_the_switch_that_allows_it() -> None:
    error = _error(login=True, username="monitor", password_ref="ssm:/smtp/mx1", encryption="none")
    assert (error.field, error.reason) == (
        "allow_plaintext_auth",
        "encryption 'none' with login would send the password unencrypted; use explicit, "
        "implicit or auto, or set allow_plaintext_auth: true to allow it",
    )


def test_external_dns_without_nameservers_names_the_nameservers() -> None:
    error = _error(dns_mode="external")
    assert (error.field, error.reason) == (
        "nameservers",
        "dns_mode 'external' needs at least one nameserver (IP or [IP]:PORT)",
    )


# ------------------------------------------------------------------ the item form


def test_a_field_whose_value_equals_the_host_is_kept_in_the_item() -> None:
    # only the display name is left out when it is the host
    target = Target(
        **MIN, name="mx1.example.com", ehlo_name="mx1.example.com", username="mx1.example.com"
    )
    item = target.to_item()
    assert item == {
        "target_id": "mx1",
        "host": "mx1.example.com",
        "username": "mx1.example.com",
        "ehlo_name": "mx1.example.com",
    }
    assert Target.from_item(item, strict=True)[0] == target


# ------------------------------------------------------------------ how a target shows


def test_a_target_shows_as_host_and_port_with_an_ipv6_address_in_brackets() -> None:
    assert Target(**MIN).describe() == "mx1.example.com:587"
    assert Target(**MIN, encryption="implicit").describe() == "mx1.example.com:465"
    assert Target(**{**MIN, "host": "192.0.2.7"}, port=2525).describe() == "192.0.2.7:2525"
    assert Target(**{**MIN, "host": "2001:db8::25"}, port=25).describe() == "[2001:db8::25]:25"


def test_targets_that_differ_in_identity_spread_over_hash_buckets() -> None:
    # a dict or set of ten thousand targets (the dispatcher's tick) stays a hash lookup
    targets = [Target(target_id=f"t{i}", host=f"mx{i}.example.com") for i in range(50)]
    assert len({hash(t) for t in targets}) == 50
    assert hash(Target(**MIN)) == hash(Target(**MIN, tags={"team": "mail"}))


# ------------------------------------------------------------------ options and AWS limits


def test_an_ehlo_name_option_is_validated_as_the_target_field() -> None:
    assert parse_ehlo_name("monitor.example.com") == "monitor.example.com"
    assert parse_ehlo_name("[192.0.2.1]") == "[192.0.2.1]"
    with pytest.raises(ConfigError) as caught:
        parse_ehlo_name("not a name")
    assert caught.value.field == "ehlo_name"


@pytest.mark.parametrize(
    ("ref", "scheme"),
    [("file:mx1", "file"), ("file:mx1:prod", "file"), ("env:SMTP_PASSWORD", "env")],
)
def test_a_local_only_password_reference_is_refused_on_aws_by_its_scheme(
    ref: str, scheme: str
) -> None:
    target = Target(**MIN, login=True, username="monitor", password_ref=ref)
    with pytest.raises(ConfigError) as caught:
        check_aws_limits(target)
    assert (caught.value.field, caught.value.reason) == (
        "password_ref",
        f"{scheme}: references work only locally; on AWS use ssm:/path or secretsmanager:name",
    )


# ------------------------------------------------------------------ password or token


def _token(**fields: Any) -> dict[str, Any]:
    token = {"login": True, "username": "monitor@example.com", "token_ref": "ssm:/oauth/mx1"}
    return token | fields


def test_a_token_source_and_a_password_together_are_refused_naming_the_token() -> None:
    error = _error(**_token(password_ref="ssm:/smtp/mx1"))
    assert (error.field, error.reason) == ("token_ref", "cannot be used together with password_ref")


def test_a_token_login_tries_the_oauth_mechanisms_unless_told_otherwise() -> None:
    assert Target(**MIN, **_token()).auth_methods == ("XOAUTH2", "OAUTHBEARER")
    chosen = Target(**MIN, **_token(auth_methods=["OAUTHBEARER"]))
    assert chosen.auth_methods == ("OAUTHBEARER",)
    # SIMPLE (no AUTH offered: the login step passes) sends no credential at all
    simple = Target(**MIN, **_token(auth_methods=["XOAUTH2", "SIMPLE"]))
    assert simple.auth_methods == ("XOAUTH2", "SIMPLE")


def test_a_password_mechanism_with_a_token_source_is_refused_naming_each() -> None:
    error = _error(**_token(auth_methods=["PLAIN", "XOAUTH2", "LOGIN"]))
    assert (error.field, error.reason) == (
        "auth_methods",
        "PLAIN, LOGIN would send the access token as a password; with token_ref use "
        "XOAUTH2, OAUTHBEARER",
    )


def test_an_oauth_mechanism_without_a_token_source_is_refused_naming_each() -> None:
    login = {"login": True, "username": "monitor", "password_ref": "ssm:/smtp/mx1"}
    error = _error(**login, auth_methods=["OAUTHBEARER", "PLAIN", "XOAUTH2"])
    assert (error.field, error.reason) == ("auth_methods", "OAUTHBEARER, XOAUTH2 needs a token_ref")
