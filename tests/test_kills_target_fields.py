"""The field table as a process builds it when it imports ``core/target_fields.py``:
every field's name, default, kind, required flag and item form, and a normaliser that
accepts the field's spellings and refuses a bad value naming the field, in the words
the CLI prints. Expected values are written out here.

The table is built once, at import; these tests execute the module's source afresh
(into a new module object, leaving the imported one alone) so that what they check is
the table as built, not a copy made before the test ran.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

import smtpwatch.core.target_fields as imported
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.maintenance import parse_window
from smtpwatch.core.parsing import HostsEntry, Nameserver
from smtpwatch.core.target import Target

# name, default, kind, required, has an item form of its own
LAYOUT: list[tuple[str, Any, str, bool, bool]] = [
    ("target_id", "", "text", True, False),
    ("host", "", "text", True, False),
    ("name", "", "text", False, False),
    ("port", None, "int", False, False),
    ("encryption", "explicit", "choice", False, False),
    ("timeout_s", 120.0, "float", False, True),
    ("login", False, "bool", False, False),
    ("username", None, "text", False, False),
    ("password_ref", None, "text", False, False),
    ("token_ref", None, "text", False, False),
    ("auth_methods", ("CRAM-MD5", "LOGIN", "PLAIN"), "list", False, True),
    ("allow_plaintext_auth", False, "bool", False, False),
    ("dns_mode", "device_cached", "choice", False, False),
    ("nameservers", (), "list", False, True),
    ("dns_hosts", (), "list", False, True),
    ("ip_family", "any", "choice", False, False),
    ("tls_verify", True, "bool", False, False),
    ("ca_bundle", None, "text", False, False),
    ("cert_warn_days", 14, "int", False, False),
    ("warn_ms", None, "int", False, False),
    ("ehlo_name", None, "text", False, False),
    ("interval_s", 300, "int", False, False),
    ("enabled", True, "bool", False, False),
    ("failures_before_alert", 1, "int", False, False),
    ("recheck_delay_s", 10, "int", False, False),
    ("locations", (), "list", False, True),
    ("quorum", 0, "int", False, False),
    ("alert_on_partial", False, "bool", False, False),
    ("notify_recovery", True, "bool", False, False),
    ("remind_every_s", 0, "int", False, False),
    ("maintenance", (), "list", False, True),
    ("tags", {}, "map", False, True),
]

# field, accepted spellings → normalised value, a refused value → the message
NORMALIZE: list[tuple[str, list[tuple[Any, Any]], Any, str]] = [
    (
        "name",
        [(" Mail hub ", "Mail hub"), ("n" * 200, "n" * 200)],
        "n" * 201,
        "is too long (at most 200 characters)",
    ),
    (
        "username",
        [("monitor", "monitor"), ("u" * 256, "u" * 256)],
        "u" * 257,
        "is too long (at most 256 characters)",
    ),
    (
        "encryption",
        [("STARTTLS", "explicit"), ("smtps", "implicit"), ("None", "none")],
        "tls13",
        "'tls13' is not allowed; choose one of: explicit, implicit, none, auto",
    ),
    (
        "dns_mode",
        [("non-cached", "non_cached"), ("EXTERNAL", "external")],
        "cached",
        "'cached' is not allowed; choose one of: device_cached, non_cached, ttl_cached, external",
    ),
    (
        "ip_family",
        [("ip6", "ipv6"), ("IPv4", "ipv4")],
        "ipv5",
        "'ipv5' is not allowed; choose one of: any, ipv4, ipv6",
    ),
    ("login", [("TRUE", True), (False, False)], "maybe", "must be true or false"),
    ("allow_plaintext_auth", [("true", True)], "yes please", "must be true or false"),
    ("tls_verify", [("false", False)], 1, "must be true or false"),
    ("enabled", [(" False ", False)], "on", "must be true or false"),
    ("notify_recovery", [("false", False)], "off", "must be true or false"),
    ("alert_on_partial", [("true", True)], "sometimes", "must be true or false"),
    (
        "quorum",
        [(0, 0), ("16", 16)],
        17,
        "17 is out of range; allowed: 0 (a majority) or 1 to 16",
    ),
    (
        "locations",
        [("us-east-1, eu-west-1", ("us-east-1", "eu-west-1")), ([" ap-south-1 "], ("ap-south-1",))],
        ["us-east-1", "us-east-1"],
        "'us-east-1' is named twice",
    ),
    (
        "cert_warn_days",
        [(0, 0), ("3650", 3650)],
        3651,
        "3651 is out of range; allowed: a whole number from 0 to 3650",
    ),
    (
        "interval_s",
        [(10, 10), (604_800, 604_800)],
        9,
        "9 is out of range; allowed: a whole number from 10 to 604800",
    ),
    (
        "failures_before_alert",
        [(1, 1), (100, 100)],
        0,
        "0 is out of range; allowed: a whole number from 1 to 100",
    ),
    ("recheck_delay_s", [(0, 0), (120, 120)], 121, "121 is out of range; allowed: 0 (off) to 120"),
    ("timeout_s", [(1, 1.0), ("2.5", 2.5)], 301, "301 is out of range; allowed: 1 to 300"),
]


def _fresh_table() -> types.ModuleType:
    """``core/target_fields.py`` executed afresh, as a new process imports it."""
    path = Path(imported.__file__ or "")
    module = types.ModuleType(imported.__name__)
    module.__file__ = str(path)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


def test_a_fresh_import_lays_out_every_field_with_its_default_kind_and_flags() -> None:
    fresh = _fresh_table()
    got = [
        (spec.name, spec.default, spec.kind, spec.required, spec.dump is not None)
        for spec in fresh.FIELDS
    ]
    assert got == LAYOUT
    assert tuple(row[0] for row in LAYOUT) == fresh.FIELD_NAMES
    assert dict(fresh.DEFAULTS) == {row[0]: row[1] for row in LAYOUT}
    for spec in fresh.FIELDS:
        assert isinstance(spec.help, str) and spec.help, spec.name
        assert "\n" not in spec.help and len(spec.help) <= 120, spec.name


@pytest.mark.parametrize(
    ("name", "accepted", "refused", "message"), NORMALIZE, ids=[row[0] for row in NORMALIZE]
)
def test_a_fresh_import_normalizes_each_field_and_refuses_naming_it(
    name: str, accepted: list[tuple[Any, Any]], refused: Any, message: str
) -> None:
    spec = {s.name: s for s in _fresh_table().FIELDS}[name]
    for raw, normalized in accepted:
        value = spec.normalize(raw)
        assert value == normalized and type(value) is type(normalized), raw
    with pytest.raises(ConfigError) as caught:
        spec.normalize(refused)
    assert (caught.value.field, caught.value.reason) == (name, message)


def test_a_fresh_import_stores_each_field_in_its_item_form() -> None:
    dumps = {s.name: s.dump for s in _fresh_table().FIELDS if s.dump is not None}
    window = parse_window({"start": "2026-11-25T15:00:00Z", "end": "2026-11-25T16:00:00Z"})
    samples: dict[str, tuple[Any, Any]] = {
        "timeout_s": (2.5, 2.5),
        "auth_methods": (("LOGIN", "PLAIN"), ["LOGIN", "PLAIN"]),
        "nameservers": ((Nameserver("192.0.2.53", 5353),), ["192.0.2.53:5353"]),
        "dns_hosts": (
            (HostsEntry("192.0.2.25", ("mx1.example.com",)),),
            ["192.0.2.25 mx1.example.com"],
        ),
        "maintenance": (
            (window,),
            [{"start": "2026-11-25T15:00:00Z", "end": "2026-11-25T16:00:00Z"}],
        ),
        "tags": ({"team": "mail"}, {"team": "mail"}),
        "locations": (("us-east-1", "eu-west-1"), ["us-east-1", "eu-west-1"]),
    }
    assert set(dumps) == set(samples)
    for name, (value, item_form) in samples.items():
        stored = dumps[name](value)
        assert stored == item_form and type(stored) is type(item_form), name
    whole = dumps["timeout_s"](120.0)
    assert whole == 120 and type(whole) is int


def test_a_whole_number_of_seconds_is_stored_as_an_int_and_a_fraction_is_kept() -> None:
    base: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}
    assert Target(**base, timeout_s=2.5).to_item()["timeout_s"] == 2.5
    stored = Target(**{**base, "timeout_s": "30"}).to_item()["timeout_s"]
    assert stored == 30 and type(stored) is int


def test_a_port_is_one_to_65535_and_says_so() -> None:
    spec = {s.name: s for s in imported.FIELDS}["port"]
    assert [spec.normalize(p) for p in (1, 65535, "2525")] == [1, 65535, 2525]
    for bad, shown in ((0, "0"), (65536, "65536")):
        with pytest.raises(ConfigError) as caught:
            spec.normalize(bad)
        assert (caught.value.field, caught.value.reason) == (
            "port",
            f"{shown} is out of range; allowed: a port number 1-65535",
        )


def test_a_slow_warning_is_off_at_zero_and_says_its_range() -> None:
    spec = {s.name: s for s in imported.FIELDS}["warn_ms"]
    assert spec.normalize(0) is None
    assert spec.normalize(300_000) == 300_000
    with pytest.raises(ConfigError) as caught:
        spec.normalize(300_001)
    assert (caught.value.field, caught.value.reason) == (
        "warn_ms",
        "300001 is out of range; allowed: off (empty or 0) or 1 to 300000",
    )
