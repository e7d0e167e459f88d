"""A dns_hosts line's address is bare or in one pair of brackets: a stray bracket is
no part of an address, and it must not be dropped to make one (a zone id "0[" became
"0", so a zone outside its allowed form was taken)."""

from __future__ import annotations

import pytest

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.parsing import parse_hosts_line


@pytest.mark.parametrize(
    "line",
    [
        "fe80::1%0[ mx.example.com",  # found by hypothesis: zone "0[" was read as "0"
        "fe80::1%eth0] mx.example.com",
        "127.0.0.1] mx.example.com",
        "[127.0.0.1 mx.example.com",
        "[[::1]] mx.example.com",
        "]::1[ mx.example.com",
    ],
)
def test_an_address_with_a_stray_bracket_is_refused_naming_the_field(line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hosts_line(line)
    # one line naming the field and the address as written
    assert str(caught.value).startswith(f"dns_hosts: {line.split()[0]!r}")


@pytest.mark.parametrize(
    ("line", "ip"),
    [
        ("::1 mx.example.com", "::1"),
        ("[::1] mx.example.com", "::1"),
        ("[fe80::1%eth0] mx.example.com", "fe80::1%eth0"),
        ("127.0.0.1 mx.example.com", "127.0.0.1"),
        ("[127.0.0.1] mx.example.com", "127.0.0.1"),
    ],
)
def test_a_bare_or_bracketed_address_is_read(line: str, ip: str) -> None:
    assert parse_hosts_line(line).ip == ip
