"""Parsers for the small text formats of a target: HOST[:PORT], hosts-file lines and
nameserver entries.

Pure and stdlib-only. Every parser raises ``ConfigError(field, message)`` on bad input and
nothing else — the CLI prints that one line, the target model passes it through.
"""

from __future__ import annotations

import ipaddress
import re
from collections import namedtuple
from collections.abc import Iterable

from smtpwatch.core.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address
    from typing import NamedTuple

__all__ = [
    "HostsEntry",
    "Nameserver",
    "format_host_port",
    "format_nameserver",
    "ip_address",
    "is_ip_literal",
    "is_valid_hostname",
    "normalize_host",
    "parse_host_port",
    "parse_hosts_line",
    "parse_hosts_text",
    "parse_nameserver",
    "parse_port",
]

# Longest text a parser looks at; anything longer is an error, not work.
_MAX_TEXT = 4096
_MAX_HOSTNAME = 253
# Letters, digits, hyphen; underscore too because internal names (and many hosts files)
# use it, and refusing a name the operator's resolver accepts helps nobody.
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_DIGITS = re.compile(r"^[0-9]+\Z")
# An IPv6 zone id (``fe80::1%eth0``): an interface name or number. Anything else (NUL,
# escape sequences, 4,000 characters) would reach socket calls, logs and terminals.
_ZONE = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")


# typing.NamedTuple for mypy, collections.namedtuple at run time (the same class
# without importing typing, which `smtpwatch probe` would pay at every start).
if TYPE_CHECKING:

    class _HostsEntry(NamedTuple):
        ip: str
        names: tuple[str, ...]

    class _Nameserver(NamedTuple):
        ip: str
        port: int = 53

else:
    _HostsEntry = namedtuple("HostsEntry", ("ip", "names"))
    _Nameserver = namedtuple("Nameserver", ("ip", "port"), defaults=(53,))


class HostsEntry(_HostsEntry):
    """One hosts-file line: an address and the names it answers for (lower case)."""

    __slots__ = ()

    def to_line(self) -> str:
        return " ".join((self.ip, *self.names))


class Nameserver(_Nameserver):
    """A DNS server of ``dns_mode: external``."""

    __slots__ = ()


def is_valid_hostname(name: str) -> bool:
    """True for a DNS host name (ASCII labels, one trailing dot allowed).

    A name whose last label is all digits is refused: it is a mistyped address
    (``1.2.3.256``), never a real top-level domain.
    """
    if not isinstance(name, str) or not name or len(name) > _MAX_HOSTNAME + 1:
        return False
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > _MAX_HOSTNAME:
        return False
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return False
    return not _DIGITS.match(labels[-1])


def is_ip_literal(text: str) -> bool:
    try:
        return ip_address(text) is not None
    except ConfigError:
        return False


def ip_address(text: str, *, field: str = "host") -> IPv4Address | IPv6Address | None:
    """``text`` as an IP address, None when it is not one. The one place addresses are
    parsed: an IPv6 zone id other than 1-15 of letters, digits, ``_ . -`` is a
    ``ConfigError`` (``ipaddress`` takes any text after the ``%``)."""
    address, percent, zone = text.partition("%")
    if percent:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return None
        if not _ZONE.match(zone):
            raise ConfigError(
                field,
                f"{_show(text)}: the zone id after '%' must be an interface name or number "
                "(1-15 of letters, digits, _ . -)",
            )
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _to_ascii_hostname(name: str) -> str | None:
    """An internationalized name as its A-label (xn--) form, or None."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return None


def normalize_host(text: object, *, field: str = "host") -> str:
    """A host name or IP literal, normalized: brackets around IPv6 stripped, addresses in
    canonical form, names in lower case without a trailing dot (names are
    case-insensitive; one spelling keeps caches and comparisons simple)."""
    if not isinstance(text, str):
        raise ConfigError(field, "must be a host name or an IP address")
    host = text.strip()
    if not host:
        raise ConfigError(field, "is required (a host name or an IP address)")
    if len(host) > _MAX_TEXT:
        raise ConfigError(field, "is too long")
    if host.startswith("[") and host.endswith("]"):
        inner = ip_address(host[1:-1], field=field)
        if inner is None or inner.version != 6:
            raise ConfigError(field, f"{_show(host)} is not an IPv6 address in brackets")
        return str(inner)
    address = ip_address(host, field=field)
    if address is not None:
        return str(address)
    ascii_name = _to_ascii_hostname(host)
    if ascii_name is not None and is_valid_hostname(ascii_name):
        return ascii_name.lower().rstrip(".")
    if ":" in host and host.count(":") == 1:
        raise ConfigError(field, f"{_show(host)} is not a host name; give the port separately")
    raise ConfigError(field, f"{_show(host)} is not a valid host name or IP address")


def parse_port(value: object, *, field: str = "port") -> int:
    if isinstance(value, str):
        text = value.strip()
        if not _DIGITS.match(text) or len(text) > 5:
            raise ConfigError(field, f"{_show(value)} is not a port number (1-65535)")
        port = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        port = value
    else:
        raise ConfigError(field, "must be a port number (1-65535)")
    if not 1 <= port <= 65535:
        raise ConfigError(field, f"{port} is out of range (1-65535)")
    return port


def parse_host_port(
    text: object, default_port: int | None = None, *, field: str = "host"
) -> tuple[str, int | None]:
    """Split ``host``, ``host:port``, ``1.2.3.4:25``, ``[v6]:port``, ``[v6]``,
    ``[1.2.3.4]:25`` or a bare IPv6 address (``::1``, never with a port: in
    ``2001:db8::1:25`` the last group is part of the address; a port needs brackets).

    Returns ``(host, port)`` with the host normalized as by ``normalize_host`` and port
    ``default_port`` when none was given.
    """
    if not isinstance(text, str):
        raise ConfigError(field, "must be HOST or HOST:PORT")
    s = text.strip()
    if not s:
        raise ConfigError(field, "is empty; expected HOST or HOST:PORT")
    if len(s) > _MAX_TEXT:
        raise ConfigError(field, "is too long")
    if s.startswith("["):
        close = s.find("]")
        if close < 0:
            raise ConfigError(field, f"{_show(s)}: missing ']' after the address")
        host = _bracketed_address(s[: close + 1], field=field)
        rest = s[close + 1 :]
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise ConfigError(field, f"{_show(s)}: expected ':PORT' after ']'")
        return host, parse_port(rest[1:], field=field)
    if s.count(":") >= 2:
        # Bare IPv6: brackets are the only way to add a port.
        address = ip_address(s, field=field)
        if address is None or address.version != 6:
            raise ConfigError(
                field, f"{_show(s)} is not an IPv6 address; write [ADDRESS]:PORT for a port"
            )
        return str(address), default_port
    if ":" in s:
        host_part, port_part = s.rsplit(":", 1)
        return normalize_host(host_part, field=field), parse_port(port_part, field=field)
    return normalize_host(s, field=field), default_port


def _bracketed_address(text: str, *, field: str) -> str:
    """``[v6]`` or ``[v4]``: a template like ``[$HOSTADDRESS$]:$ARG1$`` (Nagios) must
    work whatever the family of the address it is filled with."""
    try:
        return str(ipaddress.IPv4Address(text[1:-1]))
    except ValueError:
        pass
    try:
        return normalize_host(text, field=field)
    except ConfigError:
        raise ConfigError(field, f"{_show(text)} is not an IP address in brackets") from None


def format_host_port(host: str, port: int | None) -> str:
    """The inverse of ``parse_host_port``: IPv6 in brackets when a port follows."""
    if port is None:
        return host
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def parse_hosts_line(line: object, *, field: str = "dns_hosts") -> HostsEntry:
    """``IP name [name…]`` as in /etc/hosts; ``#`` starts a comment.

    A line without an entry (blank or comment only) is an error here; ``parse_hosts_text``
    skips such lines.
    """
    if not isinstance(line, str):
        raise ConfigError(field, "each entry must be a line 'IP name [name ...]'")
    if len(line) > _MAX_TEXT:
        raise ConfigError(field, "line is too long")
    parts = line.split("#", 1)[0].split()
    if not parts:
        raise ConfigError(field, "empty line; expected 'IP name [name ...]'")
    raw_ip, raw_names = parts[0], parts[1:]
    # bare or in one pair of brackets; a stray bracket is no part of an address
    bracketed = raw_ip.startswith("[") and raw_ip.endswith("]")
    address = ip_address(raw_ip[1:-1] if bracketed else raw_ip, field=field)
    if address is None:
        raise ConfigError(
            field, f"{_show(raw_ip)} is not an IP address; expected 'IP name [name ...]'"
        )
    ip = str(address)
    if not raw_names:
        raise ConfigError(field, f"{_show(line.strip())}: no host name after the address")
    names: list[str] = []
    for raw in raw_names:
        ascii_name = _to_ascii_hostname(raw)
        if ascii_name is None or not is_valid_hostname(ascii_name):
            raise ConfigError(field, f"{_show(raw)} is not a valid host name")
        name = ascii_name.lower().rstrip(".")
        if name not in names:
            names.append(name)
    return HostsEntry(ip, tuple(names))


def parse_hosts_text(text: object, *, field: str = "dns_hosts") -> tuple[HostsEntry, ...]:
    """Hosts-file text (a string of lines) or a list of lines / ``HostsEntry`` values.
    Blank and comment-only lines are skipped."""
    lines: Iterable[object]
    if isinstance(text, str):
        lines = text.splitlines()
    elif isinstance(text, list | tuple | set | frozenset):
        lines = sorted(text) if isinstance(text, set | frozenset) else text
    else:
        raise ConfigError(field, "must be hosts-file lines (a string or a list of strings)")
    entries: list[HostsEntry] = []
    for item in lines:
        if isinstance(item, HostsEntry):
            entries.append(parse_hosts_line(item.to_line(), field=field))
            continue
        if isinstance(item, str):
            if not item.split("#", 1)[0].strip():
                continue
            # A list item may itself hold several lines (a pasted hosts file).
            for sub in item.splitlines():
                if sub.split("#", 1)[0].strip():
                    entries.append(parse_hosts_line(sub, field=field))
            continue
        raise ConfigError(field, "each entry must be a line 'IP name [name ...]'")
    return tuple(entries)


def parse_nameserver(text: object, *, field: str = "nameservers") -> Nameserver:
    """``ip``, ``[ip]:port`` or, for IPv4, ``ip:port``. Port 53 by default."""
    if isinstance(text, Nameserver):
        text = format_nameserver(text)
    if not isinstance(text, str):
        raise ConfigError(field, "each entry must be an IP address, 'IP:PORT' or '[IPv6]:PORT'")
    s = text.strip()
    if not s:
        raise ConfigError(field, "empty entry; expected an IP address")
    if len(s) > _MAX_TEXT:
        raise ConfigError(field, "entry is too long")
    host, port = parse_host_port(s, 53, field=field)
    if not is_ip_literal(host):
        raise ConfigError(field, f"{_show(s)}: a nameserver must be an IP address, not a host name")
    return Nameserver(host, 53 if port is None else port)


def format_nameserver(ns: Nameserver) -> str:
    if ns.port == 53:
        return ns.ip
    return format_host_port(ns.ip, ns.port)


def _show(text: str, limit: int = 60) -> str:
    """A bounded, quoted echo of user input for an error message."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)
