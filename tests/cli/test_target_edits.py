"""The rules of `smtpwatch targets add|update|enable|disable`, without argparse or a store.

Each test gives the stored item and the fields as the options read them, and checks the
item that would be stored (through the ``Target`` model where the default matters) or
the one-line error a user sees.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from smtpwatch.cli.main import UsageError
from smtpwatch.cli.target_edits import (
    apply_update,
    check_one_port,
    existing,
    new_item,
    parse_host_argument,
    require_change,
    unknown_attributes,
    validate,
    with_enabled,
    with_password_ref,
)
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target_fields import DEFAULTS

STORED: dict[str, Any] = {
    "target_id": "mx1",
    "host": "mx.example.com",
    "timeout_s": 30,
    "encryption": "implicit",
    "port": 2465,
    "tags": {"env": "prod", "team": "mail"},
}


def _ref(target_id: str) -> str:
    return f"file:{target_id}"


# -- update ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["timeout_s", "encryption", "tags"])
def test_unset_returns_a_field_to_its_default(field: str) -> None:
    item = apply_update(STORED, {}, [field])
    assert field not in item
    assert getattr(validate(item, aws=False), field) == DEFAULTS[field]


def test_unset_port_returns_to_the_port_of_the_encryption() -> None:
    target = validate(apply_update(STORED, {}, ["port"]), aws=False)
    assert target.port is None
    assert target.effective_port == 465  # implicit TLS


def test_set_and_unset_in_one_update() -> None:
    item = apply_update(STORED, {"timeout_s": "45", "name": "primary"}, ["encryption"])
    target = validate(item, aws=False)
    assert (target.timeout_s, target.name, target.encryption) == (45.0, "primary", "explicit")


def test_an_update_of_an_unknown_target_fails_naming_it() -> None:
    with pytest.raises(UsageError) as caught:
        existing(None, "ghost")
    assert str(caught.value) == (
        "no target 'ghost' (see `smtpwatch targets list`; add it with `smtpwatch targets add`)"
    )


def test_a_stored_target_is_returned_as_stored() -> None:
    assert existing(STORED, "mx1") is STORED


def test_unset_of_an_unknown_field_fails_naming_it_with_a_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        apply_update(STORED, {}, ["timout_s"])
    assert str(caught.value) == "timout_s: unknown attribute 'timout_s' (did you mean timeout_s?)"


def test_the_host_cannot_be_unset() -> None:
    with pytest.raises(UsageError, match=r"^--unset host: host is required$"):
        apply_update(STORED, {}, ["host"])


@pytest.mark.parametrize(("fields", "unset"), [({"target_id": "mx2"}, []), ({}, ["target_id"])])
def test_the_target_id_cannot_change(fields: dict[str, Any], unset: list[str]) -> None:
    with pytest.raises(UsageError, match=r"target_id cannot change \(export, edit and import"):
        apply_update(STORED, fields, unset)


def test_a_new_host_with_a_port_sets_both() -> None:
    item = apply_update(STORED, {"host": "mx2.example.com:2525"}, [])
    assert (item["host"], item["port"]) == ("mx2.example.com", 2525)


def test_a_new_host_without_a_port_keeps_the_stored_port() -> None:
    assert apply_update(STORED, {"host": "mx2.example.com"}, [])["port"] == 2465


def test_a_port_in_the_host_and_another_in_port_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        apply_update(STORED, {"host": "mx2.example.com:2525", "port": "25"}, [])
    assert str(caught.value) == "--port: 25 conflicts with port 2525 in HOST:PORT; give one"


def test_the_same_port_in_the_host_and_in_port_is_taken() -> None:
    item = apply_update(STORED, {"host": "mx2.example.com:2525", "port": "2525"}, [])
    assert validate(item, aws=False).port == 2525


def test_a_bad_port_value_is_left_to_the_model_to_name() -> None:
    check_one_port(2525, {"port": "not-a-port"})  # no conflict claimed
    with pytest.raises(ConfigError, match=r"^port: "):
        validate(apply_update(STORED, {"port": "not-a-port"}, []), aws=False)


@pytest.mark.parametrize("edit", ["update", "add"])
def test_nameservers_without_a_dns_mode_mean_external(edit: str) -> None:
    fields = {"nameservers": ["127.0.0.1:5353"]}
    if edit == "update":
        item = apply_update(STORED, fields, [])
    else:
        item = new_item("mx1", "mx.example.com", None, fields, password_given=False)
    assert item["dns_mode"] == "external"
    assert validate(item, aws=False).dns_mode == "external"


def test_nameservers_with_another_dns_mode_are_refused_by_the_model() -> None:
    item = apply_update(STORED, {"nameservers": ["127.0.0.1"], "dns_mode": "ttl_cached"}, [])
    assert item["dns_mode"] == "ttl_cached"
    with pytest.raises(ConfigError):
        validate(item, aws=False)


def test_tag_options_change_single_tags_and_an_empty_value_drops_one() -> None:
    item = apply_update(
        STORED, {"tags": {"team": "ops", "env": "", "new": "1"}}, [], merge_tags=True
    )
    assert item["tags"] == {"team": "ops", "new": "1"}


def test_set_tags_replaces_every_tag() -> None:
    item = apply_update(STORED, {"tags": {"team": "ops"}}, [])
    assert item["tags"] == {"team": "ops"}


def test_unknown_stored_attributes_are_dropped_and_state_attributes_kept() -> None:
    current = {**STORED, "colour": "red", "Zone": 1, "status": "UP"}
    assert unknown_attributes(current) == ["Zone", "colour"]
    item = apply_update(current, {"timeout_s": 60}, [])
    assert "colour" not in item and "Zone" not in item
    assert item["status"] == "UP"


def test_an_invalid_stored_item_is_fixed_by_the_update() -> None:
    current = {**STORED, "timeout_s": "soon"}
    assert validate(apply_update(current, {"timeout_s": "60"}, []), aws=False).timeout_s == 60


def test_apply_update_changes_neither_the_stored_item_nor_the_fields() -> None:
    current = copy.deepcopy(STORED)
    fields = {"host": "mx2.example.com:2525", "tags": {"env": ""}, "nameservers": ["::1"]}
    given = copy.deepcopy(fields)
    apply_update(current, fields, ["timeout_s"], merge_tags=True)
    assert current == STORED and fields == given


def test_an_update_with_nothing_to_change_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^nothing to change: give --set FIELD=VALUE"):
        require_change({}, [], password_given=False)


@pytest.mark.parametrize(
    ("fields", "unset", "password"),
    [({"name": "x"}, [], False), ({}, ["name"], False), ({}, [], True)],
)
def test_a_field_an_unset_or_a_password_is_a_change(
    fields: dict[str, Any], unset: list[str], password: bool
) -> None:
    require_change(fields, unset, password_given=password)


# -- add ---------------------------------------------------------------------------


def test_add_takes_the_port_from_host_port() -> None:
    item = new_item("mx1", "mx.example.com", 2525, {}, password_given=False)
    assert item == {"target_id": "mx1", "host": "mx.example.com", "port": 2525}


def test_add_refuses_a_port_in_host_port_that_differs_from_port() -> None:
    with pytest.raises(UsageError, match=r"^--port: 25 conflicts with port 2525"):
        new_item("mx1", "mx.example.com", 2525, {"port": 25}, password_given=False)


@pytest.mark.parametrize("field", ["target_id", "host"])
def test_add_takes_id_and_host_only_as_arguments(field: str) -> None:
    with pytest.raises(UsageError, match=r"^give TARGET_ID and HOST\[:PORT\] as arguments"):
        new_item("mx1", "mx.example.com", None, {field: "x"}, password_given=False)


def test_add_refuses_a_host_port_with_a_bad_port_naming_the_argument() -> None:
    with pytest.raises(UsageError) as caught:
        parse_host_argument("mx.example.com:0")
    assert str(caught.value) == "HOST[:PORT]: 0 is out of range (1-65535)"


def test_add_with_a_username_and_a_reference_means_log_in() -> None:
    fields = {"username": "u", "password_ref": "env:P"}
    item = new_item("mx1", "mx.example.com", None, fields, password_given=False)
    assert item["login"] is True
    assert validate(item, aws=False).login is True


def test_add_with_a_username_but_no_password_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^--username: logging in needs a password"):
        new_item("mx1", "mx.example.com", None, {"username": "u"}, password_given=False)


def test_add_with_a_username_and_a_password_to_store_logs_in() -> None:
    item = new_item("mx1", "mx.example.com", None, {"username": "u"}, password_given=True)
    assert item["login"] is True


def test_add_with_no_login_keeps_a_username_without_logging_in() -> None:
    fields = {"username": "u", "login": False}
    item = new_item("mx1", "mx.example.com", None, fields, password_given=False)
    assert validate(item, aws=False).login is False


# -- password ----------------------------------------------------------------------


def test_a_password_to_store_turns_login_on_and_sets_our_reference() -> None:
    item = with_password_ref({"target_id": "mx1", "host": "h", "username": "u"}, {"username"}, _ref)
    assert (item["login"], item["password_ref"]) == (True, "file:mx1")


def test_a_password_and_a_password_ref_are_refused_together() -> None:
    with pytest.raises(UsageError, match=r"^give either --password-ref or --password-prompt"):
        with_password_ref({"target_id": "mx1", "password_ref": "env:P"}, {"password_ref"}, _ref)


@pytest.mark.parametrize("login", [False, "false", None])
def test_a_password_with_login_off_is_refused(login: object) -> None:
    with pytest.raises(UsageError, match=r"^login: a password is given, so login cannot be false$"):
        with_password_ref({"target_id": "mx1", "login": login}, {"login"}, _ref)


# -- enable / disable --------------------------------------------------------------


def test_disable_sets_enabled_false() -> None:
    target, changed = with_enabled(STORED, "mx1", False)
    assert changed and target.enabled is False
    assert target.timeout_s == 30  # the rest as stored


def test_enable_of_an_enabled_target_changes_nothing() -> None:
    target, changed = with_enabled(STORED, "mx1", True)
    assert not changed and target.enabled is True


def test_enable_drops_unknown_stored_attributes() -> None:
    target, changed = with_enabled({**STORED, "enabled": False, "colour": "red"}, "mx1", True)
    assert changed and "colour" not in target.to_item()


def test_enable_of_an_invalid_stored_item_names_it_and_how_to_fix_it() -> None:
    with pytest.raises(UsageError) as caught:
        with_enabled({**STORED, "timeout_s": "soon"}, "mx1", True)
    assert str(caught.value) == (
        "mx1 is stored with an invalid field (timeout_s: 'soon' is not a number); "
        "fix it with `smtpwatch targets update mx1 --set ...`"
    )


# -- validation --------------------------------------------------------------------


def test_validate_applies_the_aws_limits_only_for_aws() -> None:
    item = {"target_id": "mx1", "host": "mx.example.com", "interval_s": 30}
    assert validate(item, aws=False).interval_s == 30
    with pytest.raises(ConfigError, match=r"^interval_s: 30 is too short on AWS"):
        validate(item, aws=True)


def test_validate_refuses_unknown_attributes() -> None:
    with pytest.raises(ConfigError, match=r"unknown attribute 'colour'"):
        validate({"target_id": "mx1", "host": "mx.example.com", "colour": "red"}, aws=False)
