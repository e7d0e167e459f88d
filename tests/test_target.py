"""The target model: every validation rule of the target fields, normalization of the inputs
DynamoDB and the CLI produce, and the item round trip."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.parsing import HostsEntry, Nameserver
from smtpwatch.core.target import STATE_FIELDS, TARGET_FIELDS, Target, check_aws_limits
from smtpwatch.core.target_validators import DEFAULT_AUTH_METHODS

MIN: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}
LOGIN: dict[str, Any] = {"login": True, "username": "monitor", "password_ref": "ssm:/smtp/mx1"}
PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBszCCAVmgAwIBAgIUQk9HVVMgQ0VSVElGSUNBVEUgRk9SIFRFU1RTMAoGCCqG\n"
    "-----END CERTIFICATE-----\n"
)


def make(**fields: Any) -> Target:
    return Target(**{**MIN, **fields})


# (id, extra fields, field named in the error, key phrase of the message)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("target_id missing", {"target_id": None}, "target_id", "required"),
    ("target_id reserved '#'", {"target_id": "#tick"}, "target_id", "start with a letter"),
    ("target_id with space", {"target_id": "mx 1"}, "target_id", "not allowed"),
    ("target_id too long", {"target_id": "a" * 129}, "target_id", "127"),
    ("host missing", {"host": ""}, "host", "required"),
    ("host not a name", {"host": "mx_1..example"}, "host", "not a valid host name"),
    ("host with port", {"host": "mx1.example.com:25"}, "host", "port separately"),
    ("host bad ipv4", {"host": "1.2.3.256"}, "host", "not a valid host name"),
    ("host bad bracketed v6", {"host": "[1.2.3.4]"}, "host", "IPv6"),
    ("name with newline", {"name": "a\nb"}, "name", "line breaks"),
    ("port zero", {"port": 0}, "port", "1-65535"),
    ("port too big", {"port": 65536}, "port", "1-65535"),
    ("port not a number", {"port": "smtp"}, "port", "not a port"),
    ("port fraction", {"port": Decimal("25.5")}, "port", "whole number"),
    ("port bool", {"port": True}, "port", "not true/false"),
    ("encryption unknown", {"encryption": "tls13"}, "encryption", "explicit, implicit"),
    ("timeout_s below 1", {"timeout_s": 0.5}, "timeout_s", "1 to 300"),
    ("timeout_s above 300", {"timeout_s": 301}, "timeout_s", "1 to 300"),
    ("timeout_s not a number", {"timeout_s": "soon"}, "timeout_s", "not a number"),
    ("timeout_s NaN", {"timeout_s": float("nan")}, "timeout_s", "finite"),
    ("timeout_s Decimal inf", {"timeout_s": Decimal("Infinity")}, "timeout_s", "finite"),
    ("login not a bool", {"login": 1}, "login", "true or false"),
    ("login string yes", {"login": "yes"}, "login", "true or false"),
    ("login without username", {"login": True, "password_ref": "env:P"}, "username", "login"),
    ("login without password_ref", {"login": True, "username": "u"}, "password_ref", "login"),
    ("password_ref plain password", {"password_ref": "hunter2"}, "password_ref", "reference"),
    ("password_ref unknown scheme", {"password_ref": "vault:x"}, "password_ref", "reference"),
    ("password_ref bad env name", {"password_ref": "env:1X"}, "password_ref", "env:VARIABLE"),
    ("password_ref empty ssm", {"password_ref": "ssm:"}, "password_ref", "ssm:/path"),
    ("auth_methods unknown", {"auth_methods": ["NTLM"]}, "auth_methods", "not supported"),
    ("auth_methods only SSL/TLS", {"auth_methods": "SSL/TLS"}, "auth_methods", "no usable"),
    ("auth_methods not a list", {"auth_methods": 5}, "auth_methods", "list"),
    (
        "none + login without allow_plaintext_auth",
        {"encryption": "none", **LOGIN},
        "allow_plaintext_auth",
        "unencrypted",
    ),
    ("dns_mode unknown", {"dns_mode": "cached"}, "dns_mode", "device_cached"),
    ("external without nameservers", {"dns_mode": "external"}, "nameservers", "at least one"),
    (
        "nameservers without dns_mode external",
        {"nameservers": ["192.0.2.53"], "dns_mode": "non_cached"},
        "nameservers",
        "only used with dns_mode external",
    ),
    (
        "nameservers with the default dns_mode",
        {"nameservers": ["192.0.2.53"]},
        "nameservers",
        "only used with dns_mode external",
    ),
    ("nameserver host name", {"nameservers": ["dns.google"]}, "nameservers", "IP address"),
    ("nameserver bad port", {"nameservers": ["[::1]:0"]}, "nameservers", "1-65535"),
    (
        "nameservers too many",
        {"nameservers": [f"10.0.0.{i}" for i in range(11)]},
        "nameservers",
        "at most 10",
    ),
    ("dns_hosts no name", {"dns_hosts": ["192.0.2.1"]}, "dns_hosts", "no host name"),
    ("dns_hosts bad ip", {"dns_hosts": "mail.example 192.0.2.1"}, "dns_hosts", "not an IP"),
    ("dns_hosts bad name", {"dns_hosts": "192.0.2.1 bad..name"}, "dns_hosts", "not a valid host"),
    ("ip_family unknown", {"ip_family": "ipv5"}, "ip_family", "any, ipv4, ipv6"),
    ("ip_family contradicts host", {"host": "192.0.2.1", "ip_family": "ipv6"}, "ip_family", "IPv4"),
    ("tls_verify number", {"tls_verify": Decimal(0)}, "tls_verify", "true or false"),
    ("ca_bundle a path", {"ca_bundle": "/etc/ssl/ca.pem"}, "ca_bundle", "BEGIN CERTIFICATE"),
    (
        "ca_bundle with private key",
        {"ca_bundle": PEM + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
        "ca_bundle",
        "private key",
    ),
    ("cert_warn_days negative", {"cert_warn_days": -1}, "cert_warn_days", "0 to 3650"),
    ("cert_warn_days too big", {"cert_warn_days": 3651}, "cert_warn_days", "0 to 3650"),
    ("warn_ms negative", {"warn_ms": -5}, "warn_ms", "1 to 300000"),
    ("warn_ms too big", {"warn_ms": 300_001}, "warn_ms", "1 to 300000"),
    ("ehlo_name bad", {"ehlo_name": "not a name"}, "ehlo_name", "address literal"),
    ("ehlo_name bad literal", {"ehlo_name": "[999.1.1.1]"}, "ehlo_name", "address literal"),
    ("interval_s below 10", {"interval_s": 9}, "interval_s", "10 to"),
    ("interval_s fraction", {"interval_s": 60.5}, "interval_s", "whole number"),
    ("enabled string", {"enabled": "enabled"}, "enabled", "true or false"),
    ("failures_before_alert 0", {"failures_before_alert": 0}, "failures_before_alert", "1 to 100"),
    (
        "failures_before_alert 101",
        {"failures_before_alert": 101},
        "failures_before_alert",
        "1 to 100",
    ),
    ("recheck_delay_s 121", {"recheck_delay_s": 121}, "recheck_delay_s", "0 (off) to 120"),
    ("notify_recovery number", {"notify_recovery": 2}, "notify_recovery", "true or false"),
    ("remind_every_s 30", {"remind_every_s": 30}, "remind_every_s", "0 (never) or 60"),
    ("maintenance not a list", {"maintenance": 5}, "maintenance", "list of windows"),
    (
        "maintenance end before start",
        {"maintenance": [{"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T09:00:00Z"}]},
        "maintenance",
        "end must be after start",
    ),
    (
        "maintenance bad timestamp",
        {"maintenance": [{"start": "yesterday", "end": "2026-11-25T09:00:00Z"}]},
        "maintenance",
        "ISO-8601",
    ),
    (
        "maintenance missing end",
        {"maintenance": [{"start": "10:00"}]},
        "maintenance",
        "start and end",
    ),
    (
        "maintenance unknown key",
        {"maintenance": [{"start": "10:00", "end": "11:00", "until": "x"}]},
        "maintenance",
        "unknown key",
    ),
    (
        "maintenance bad day",
        {"maintenance": [{"days": ["funday"], "start": "10:00", "end": "11:00"}]},
        "maintenance",
        "not a day",
    ),
    (
        "maintenance bad time",
        {"maintenance": [{"days": ["mon"], "start": "25:00", "end": "11:00"}]},
        "maintenance",
        "HH:MM",
    ),
    (
        "maintenance empty weekly window",
        {"maintenance": [{"days": ["mon"], "start": "10:00", "end": "10:00"}]},
        "maintenance",
        "empty window",
    ),
    (
        "maintenance unknown tz",
        {
            "maintenance": [
                {"days": ["mon"], "start": "10:00", "end": "11:00", "tz": "Mars/Olympus"}
            ]
        },
        "maintenance",
        "unknown time zone",
    ),
    (
        "maintenance tz path traversal",
        {"maintenance": [{"start": "10:00", "end": "11:00", "tz": "../../etc/passwd"}]},
        "maintenance",
        "IANA",
    ),
    ("tags not a map", {"tags": ["a"]}, "tags", "map"),
    ("tags too many", {"tags": {f"k{i}": "v" for i in range(7)}}, "tags", "at most 6"),
    ("tags key with space", {"tags": {"cost center": "x"}}, "tags", "not allowed"),
    ("tags key AWS. prefix", {"tags": {"AWS.team": "x"}}, "tags", "'AWS.'"),
    ("tags key double dot", {"tags": {"a..b": "x"}}, "tags", "double '.'"),
    ("tags key reserved", {"tags": {"status": "x"}}, "tags", "reserved"),
    ("tags value empty", {"tags": {"team": ""}}, "tags", "empty"),
    ("tags value not a string", {"tags": {"team": ["a"]}}, "tags", "must be a string"),
]


@pytest.mark.parametrize(
    ("fields", "field", "phrase"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_config_is_refused_naming_the_field(
    fields: dict[str, Any], field: str, phrase: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make(**fields)
    assert info.value.field == field
    assert phrase in str(info.value)
    assert str(info.value).startswith(f"{field}: ")


def test_minimal_item_is_a_valid_target_with_documented_defaults() -> None:
    t = Target(**MIN)
    assert (t.target_id, t.host, t.name) == ("mx1", "mx1.example.com", "mx1.example.com")
    assert t.port is None and t.effective_port == 587
    assert t.encryption == "explicit"
    assert t.timeout_s == 120.0
    assert t.login is False and t.username is None and t.password_ref is None
    assert t.auth_methods == ("CRAM-MD5", "LOGIN", "PLAIN")
    assert t.allow_plaintext_auth is False
    assert (t.dns_mode, t.nameservers, t.dns_hosts, t.ip_family) == ("device_cached", (), (), "any")
    assert t.tls_verify is True and t.ca_bundle is None
    assert (t.cert_warn_days, t.warn_ms, t.ehlo_name) == (14, None, None)
    assert (t.interval_s, t.enabled) == (300, True)
    assert (t.failures_before_alert, t.recheck_delay_s) == (1, 10)
    assert (t.notify_recovery, t.remind_every_s) == (True, 0)
    assert (t.maintenance, t.tags) == ((), {})


@pytest.mark.parametrize(
    ("encryption", "port"), [("explicit", 587), ("implicit", 465), ("none", 25), ("auto", 25)]
)
def test_effective_port_defaults_by_encryption(encryption: str, port: int) -> None:
    assert make(encryption=encryption).effective_port == port
    assert make(encryption=encryption, port=2525).effective_port == 2525


@pytest.mark.parametrize("empty", [None, "", "   ", [], {}])
@pytest.mark.parametrize(
    "field",
    [f for f in TARGET_FIELDS if f not in ("target_id", "host")],
)
def test_null_or_empty_value_means_the_default(field: str, empty: Any) -> None:
    assert getattr(make(**{field: empty}), field) == getattr(Target(**MIN), field)


def test_dynamodb_decimals_and_console_strings_are_normalized() -> None:
    t = make(
        port=Decimal("2525"),
        timeout_s=Decimal("7.5"),
        cert_warn_days=Decimal("30"),
        warn_ms=Decimal("1500.0"),
        interval_s="60",
        failures_before_alert=Decimal(3),
        recheck_delay_s=0,
        remind_every_s=Decimal(3600),
        tls_verify="FALSE",
        enabled=" true ",
        tags={"tier": Decimal(1)},
    )
    assert (t.port, t.timeout_s, t.cert_warn_days, t.warn_ms) == (2525, 7.5, 30, 1500)
    assert isinstance(t.port, int) and isinstance(t.warn_ms, int)
    assert (t.interval_s, t.failures_before_alert, t.recheck_delay_s) == (60, 3, 0)
    assert (t.remind_every_s, t.tls_verify, t.enabled) == (3600, False, True)
    assert t.tags == {"tier": "1"}


def test_warn_ms_zero_means_off() -> None:
    assert make(warn_ms=0).warn_ms is None


def test_auth_methods_accept_spec_spellings_and_drop_ssl_tls() -> None:
    assert make(auth_methods="cram_md5, Login ,PLAIN,SSL/TLS").auth_methods == (
        "CRAM-MD5",
        "LOGIN",
        "PLAIN",
    )
    assert make(auth_methods=["Simple", "plain", "PLAIN"]).auth_methods == ("SIMPLE", "PLAIN")
    assert make(auth_methods={"LOGIN"}).auth_methods == ("LOGIN",)


def test_host_literals_are_normalized_and_brackets_stripped() -> None:
    assert make(host="[2001:DB8::1]").host == "2001:db8::1"
    assert make(host="2001:db8:0:0::1").host == "2001:db8::1"
    assert make(host=" 192.0.2.10 ").host == "192.0.2.10"
    assert make(host="MX1.Example.COM.").host == "mx1.example.com"
    assert make(host="bücher.example").host == "xn--bcher-kva.example"


def test_name_defaults_to_host_and_may_differ() -> None:
    assert make(name="Main MX").name == "Main MX"
    assert make(name=None).name == "mx1.example.com"


def test_ehlo_name_accepts_names_and_address_literals() -> None:
    assert make(ehlo_name="probe.example.net").ehlo_name == "probe.example.net"
    assert make(ehlo_name="[192.0.2.1]").ehlo_name == "[192.0.2.1]"
    assert make(ehlo_name="192.0.2.1").ehlo_name == "[192.0.2.1]"
    assert make(ehlo_name="[ipv6:2001:db8::1]").ehlo_name == "[IPv6:2001:db8::1]"
    assert make(ehlo_name="2001:db8::1").ehlo_name == "[IPv6:2001:db8::1]"


def test_nameservers_and_dns_hosts_accept_lists_and_newline_strings() -> None:
    t = make(
        dns_mode="external",
        nameservers="192.0.2.53\n[2001:db8::53]:5353\n192.0.2.54:1053",
        dns_hosts="192.0.2.1 mail.example.com smtp.example.com # main\n\n# comment\n"
        "2001:db8::1 mail.example.com",
    )
    assert t.nameservers == (
        Nameserver("192.0.2.53", 53),
        Nameserver("2001:db8::53", 5353),
        Nameserver("192.0.2.54", 1053),
    )
    assert t.dns_hosts == (
        HostsEntry("192.0.2.1", ("mail.example.com", "smtp.example.com")),
        HostsEntry("2001:db8::1", ("mail.example.com",)),
    )
    assert make(dns_mode="external", nameservers=["192.0.2.53"], dns_hosts=["192.0.2.1 a"]) == make(
        dns_mode="external", nameservers="192.0.2.53", dns_hosts="192.0.2.1 a"
    )


def test_plaintext_login_is_allowed_only_when_explicitly_allowed() -> None:
    t = make(encryption="none", allow_plaintext_auth=True, **LOGIN)
    assert t.login and t.encryption == "none"
    assert make(encryption="auto", **LOGIN).login  # auto withholds at probe time instead


def test_password_ref_forms_are_accepted() -> None:
    for ref in ("ssm:/smtp/mx1", "secretsmanager:smtp/mx1", "env:SMTP_PASS", "file:mx1"):
        assert make(password_ref=ref).password_ref == ref
    assert make(password_ref="SSM:/a").password_ref == "ssm:/a"


def test_password_ref_error_never_echoes_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        make(password_ref="S3cr3t-P4ss!")
    assert "S3cr3t" not in str(info.value)


def test_ca_bundle_pem_is_accepted() -> None:
    assert make(ca_bundle=PEM).ca_bundle == PEM


def test_maintenance_accepts_both_window_kinds() -> None:
    t = make(
        maintenance=[
            {"start": "2026-11-25T22:00:00Z", "end": "2026-11-26T02:00:00+01:00"},
            {"days": ["sat", "SUN"], "start": "22:00", "end": "02:00", "tz": "Europe/Berlin"},
            {"start": "03:00", "end": "24:00"},
        ]
    )
    assert [w.to_item() for w in t.maintenance] == [
        {"start": "2026-11-25T22:00:00Z", "end": "2026-11-26T01:00:00Z"},
        {"days": ["sat", "sun"], "start": "22:00", "end": "02:00", "tz": "Europe/Berlin"},
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "03:00",
            "end": "24:00",
            "tz": "UTC",
        },
    ]


def test_tags_keep_sns_compatible_keys() -> None:
    tags = {"team": "mail", "cost-center": "42", "env.name": "prod", "A_b": "x"}
    assert make(tags=tags).tags == tags


# ---- from_item / to_item ------------------------------------------------------------


def test_strict_from_item_suggests_the_right_attribute() -> None:
    with pytest.raises(ConfigError) as info:
        Target.from_item({**MIN, "timeout": 30}, strict=True)
    assert info.value.field == "timeout"
    assert "did you mean timeout_s?" in str(info.value)


def test_lenient_from_item_returns_unknown_attributes_and_ignores_state() -> None:
    item = {**MIN, "timout_s": 3, "color": "red", "status": "down", "last_result": {"x": 1}}
    target, unknown = Target.from_item(item, strict=False)
    assert target == Target(**MIN)
    assert unknown == ["color", "timout_s"]


def test_state_attributes_are_ignored_even_when_strict() -> None:
    item = {**MIN, **{name: "x" for name in STATE_FIELDS}}
    assert Target.from_item(item, strict=True) == (Target(**MIN), [])


def test_from_item_refuses_a_non_mapping_and_non_string_keys() -> None:
    with pytest.raises(ConfigError):
        Target.from_item(["mx1"], strict=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Target.from_item({**MIN, 5: "x"}, strict=False)


def test_to_item_of_minimal_target_is_just_id_and_host() -> None:
    assert Target(**MIN).to_item() == MIN


def test_to_item_is_json_safe_with_ints_where_whole() -> None:
    t = make(
        timeout_s=Decimal("30"),
        port="2525",
        **LOGIN,
        nameservers=["[::1]:5353"],
        dns_mode="external",
        dns_hosts=["::1 mx1.example.com"],
        maintenance=[{"days": "mon-fri", "start": "01:00", "end": "02:00"}],
        tags={"team": "mail"},
    )
    item = t.to_item()
    assert item["timeout_s"] == 30 and isinstance(item["timeout_s"], int)
    assert item["port"] == 2525
    assert item["nameservers"] == ["[::1]:5353"]
    assert item["dns_hosts"] == ["::1 mx1.example.com"]
    json.dumps(item)  # no datetime, tuple-of-namedtuple surprises or Decimals
    assert not any(isinstance(v, float) for v in item.values())
    assert Target.from_item(item, strict=True) == (t, [])


def test_to_item_full_lists_every_field() -> None:
    item = Target(**MIN).to_item(full=True)
    assert tuple(item) == TARGET_FIELDS
    assert item["auth_methods"] == list(DEFAULT_AUTH_METHODS)
    json.dumps(item)


def test_target_is_immutable_and_replace_revalidates() -> None:
    t = Target(**MIN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.port = 25
    with pytest.raises(AttributeError):
        del t.host
    assert t.replace(port=Decimal(25)).port == 25
    with pytest.raises(ConfigError):
        t.replace(port=0)
    full = make(
        dns_mode="external",
        nameservers="192.0.2.53",
        maintenance=[{"start": "01:00", "end": "02:00"}],
    )
    assert full.replace() == full
    assert hash(full) == hash(full.replace())


def test_an_unknown_keyword_is_a_config_error_naming_it_with_a_suggestion() -> None:
    # GIVEN a typo in a field name passed as a keyword
    # WHEN the target is built with Target(**fields)
    with pytest.raises(ConfigError) as caught:
        Target(**MIN, prot=25)
    # THEN it is the one validation error, naming the unknown field, with a suggestion
    assert caught.value.field == "prot"
    assert "unknown attribute 'prot' (did you mean port?)" in str(caught.value)
    # AND replace() says the same, and from_item(strict=True) agrees
    with pytest.raises(ConfigError, match=r"did you mean timeout_s\?"):
        Target(**MIN).replace(timeout=5)
    with pytest.raises(ConfigError) as strict:
        Target.from_item({**MIN, "prot": 25}, strict=True)
    assert (strict.value.field, str(strict.value)) == (caught.value.field, str(caught.value))


def test_state_and_target_fields_do_not_overlap() -> None:
    assert not set(STATE_FIELDS) & set(TARGET_FIELDS)


# ---- AWS limits ---------------------------------------------------------------------


def test_aws_requires_interval_of_at_least_a_minute() -> None:
    check_aws_limits(make(interval_s=60))
    with pytest.raises(ConfigError) as info:
        check_aws_limits(make(interval_s=30))
    assert info.value.field == "interval_s"
    assert "once a minute" in str(info.value)


@pytest.mark.parametrize("ref", ["file:mx1", "env:SMTP_PASS"])
def test_aws_refuses_local_only_password_refs(ref: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_aws_limits(make(password_ref=ref))
    assert info.value.field == "password_ref"
    assert "only locally" in str(info.value)


def test_repr_is_short_and_summarizes_the_ca_bundle() -> None:
    t = make(port=2525, ca_bundle=PEM, **LOGIN)
    text = repr(t)
    assert text.startswith("Target(target_id='mx1', host='mx1.example.com', port=2525")
    assert "<PEM, 1 certificate(s)>" in text
    assert "MIIB" not in text
    assert repr(Target(**MIN)) == "Target(target_id='mx1', host='mx1.example.com')"


def test_each_target_gets_its_own_tags_dict() -> None:
    a, b = Target(**MIN), make(tags=None)
    assert a.tags == {} and a.tags is not b.tags


# A regex's `$` also matches before a trailing newline: hypothesis found host "A\n."
# parsing to "a\n". Whitespace around a value is trimmed (console edits add it); a
# newline inside one, or ending a piece the regex checks alone, is refused by field.
INNER_NEWLINE = [
    ("target_id", {"target_id": "mx\n1"}),
    ("host", {"host": "a\n."}),
    ("host", {"host": "mx1\n.example.com"}),
    ("tags", {"tags": {"team\n": "x"}}),
    ("password_ref", {"login": True, "username": "u", "password_ref": "ssm:/smtp\n/pw"}),
    ("password_ref", {"login": True, "username": "u", "password_ref": "env:SMTP\n_PW"}),
    ("maintenance", {"maintenance": [{"days": ["mon"], "start": "10:\n00", "end": "11:00"}]}),
    (
        "maintenance",
        {
            "maintenance": [
                {"days": ["mon"], "start": "10:00", "end": "11:00", "tz": "Europe\n/Berlin"}
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("field", "fields"), INNER_NEWLINE, ids=[repr(next(iter(f.values()))) for _, f in INNER_NEWLINE]
)
def test_a_newline_inside_a_value_is_refused_naming_the_field(
    field: str, fields: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as info:
        make(**fields)
    assert info.value.field == field


def test_whitespace_around_a_value_is_trimmed_never_kept() -> None:
    t = make(target_id="mx1\n", host=" mx1.example.com\n", tags={"team": "mail"})
    assert (t.target_id, t.host) == ("mx1", "mx1.example.com")
