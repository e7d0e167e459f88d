"""The Target of `smtpwatch probe`'s options, built through the one target model.

A ``ConfigError`` naming a Target field becomes one usage line naming the option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from smtpwatch.cli.check_smtp_options import check_smtp_fields
from smtpwatch.cli.main import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.target import Target

__all__ = ["FIELD_OF_DEST", "OPTION_OF_FIELD", "build_target"]

# The options whose value a Target field takes as given: argparse dest → field.
FIELD_OF_DEST: dict[str, str] = {
    "encryption": "encryption",
    "timeout": "timeout_s",
    "auth_methods": "auth_methods",
    "dns_mode": "dns_mode",
    "nameserver": "nameservers",
    "dns_host": "dns_hosts",
    "ip_family": "ip_family",
    "ehlo_name": "ehlo_name",
    "cert_warn_days": "cert_warn_days",
    "warn_ms": "warn_ms",
}

# Target field → the option that sets it (a ConfigError names the field).
OPTION_OF_FIELD: dict[str, str] = {
    **dict.fromkeys(("target_id", "name", "host", "port"), "HOST[:PORT]"),
    **{field: "--" + dest.replace("_", "-") for dest, field in FIELD_OF_DEST.items()},
    "timeout_s": "-t/--timeout",
    "ip_family": "--ip-family/-4/-6",
    "login": "--username",
    "username": "--username",
    "password_ref": "--password-env",
    "token_ref": "--oauth-token-env/--oauth-secret-file",
    "allow_plaintext_auth": "--allow-plaintext-auth",
    "ca_bundle": "--ca-bundle",
    "tls_verify": "--no-tls-verify",
}

_TARGET_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")


def build_target(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Target, str | None]:
    """The Target of the options (through the one model) and the password, if any.

    Raises ``UsageError`` with one line naming the option.
    """
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.parsing import format_host_port
    from smtpwatch.core.target import Target

    host, port = _host_port(args)
    if args.port is not None:
        port = _port_option(args.port, port)
    elif args.hostname is not None and args.encryption is None:
        port = 25  # check_smtp's default port, whatever -S or -D ask for

    fields: dict[str, Any] = {
        "target_id": _target_id(format_host_port(host, port)),
        "host": host,
        "port": port,
    }
    simple = {field: getattr(args, dest) for dest, field in FIELD_OF_DEST.items()}
    if args.nameserver and args.dns_mode is None:
        simple["dns_mode"] = "external"  # the only mode that asks them
    fields.update({k: v for k, v in simple.items() if v is not None})
    fields.update(check_smtp_fields(args))
    if args.allow_plaintext_auth:
        fields["allow_plaintext_auth"] = True
    if args.no_tls_verify:
        fields["tls_verify"] = False
    if args.ca_bundle is not None:
        fields["ca_bundle"] = _read_ca_bundle(args.ca_bundle)

    if args.oauth_token_env or args.oauth_secret_file:
        from smtpwatch.cli.probe_oauth import oauth_token_ref

        token_ref = oauth_token_ref(args)  # the token is read by probe_oauth.token_source
        fields.update(login=True, username=args.user, token_ref=token_ref)
        try:
            return Target(**fields), None
        except ConfigError as exc:
            raise _usage(exc) from None

    password: str | None = None
    if args.password_env is not None and args.user is None:
        raise UsageError("--password-env: needs --username (the login name)")
    if args.user is not None:
        if args.password_env is None:
            raise UsageError(
                "--username: needs --password-env VAR (a password is never given on the "
                "command line)"
            )
        var = args.password_env.strip()
        fields.update(login=True, username=args.user, password_ref=f"env:{var}")
        try:
            target = Target(**fields)  # validates the variable name before it is read
        except ConfigError as exc:
            raise _usage(exc) from None
        password = environ.get(var)
        if not password:
            raise UsageError(f"--password-env: environment variable {var} is not set or empty")
        return target, password

    try:
        return Target(**fields), None
    except ConfigError as exc:
        raise _usage(exc) from None


def _host_port(args: argparse.Namespace) -> tuple[str, int | None]:
    """HOST[:PORT], or -H HOST (a host only, as check_smtp takes it)."""
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.parsing import parse_host_port

    if args.hostname is not None and args.target is not None:
        raise UsageError(f"-H: the host is given twice (-H and {args.target!r}); give one")
    text = args.hostname if args.hostname is not None else args.target
    if text is None:
        raise UsageError(
            "the host is missing: give HOST[:PORT] or -H HOST (see smtpwatch probe --help)"
        )
    try:
        host, port = parse_host_port(text, None, field="host")
    except ConfigError as exc:
        option = "-H" if args.hostname is not None else "HOST[:PORT]"
        raise UsageError(f"{option}: {exc.reason}") from None
    if args.hostname is not None and port is not None:
        raise UsageError(f"-H: {text!r} names a port; give the host and -p PORT")
    return host, port


def _port_option(value: str, given: int | None) -> int:
    """``--port N``, which must agree with a port in HOST:PORT."""
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.parsing import parse_port

    try:
        port = parse_port(value, field="port")
    except ConfigError as exc:
        raise UsageError(f"--port: {exc.reason}") from None
    if given is not None and given != port:
        raise UsageError(f"--port: {port} conflicts with port {given} in HOST:PORT; give one")
    return port


def _usage(exc: ConfigError) -> UsageError:
    option = OPTION_OF_FIELD.get(exc.field, exc.field)
    return UsageError(f"{option}: {exc.reason}")


def _target_id(text: str) -> str:
    # Target ids allow letters, digits and . _ : @ - (they are DynamoDB keys): an IPv6
    # "[::1]:2525" loses its brackets and gets a leading "ip6" so it starts with a letter.
    if _TARGET_ID_OK.match(text):
        return text
    # An IPv6 zone ("fe80::1%eth0") keeps its name with "-" for the "%".
    bare = text.replace("[", "").replace("]", "").replace("%", "-")
    return bare if _TARGET_ID_OK.match(bare) else f"ip6{bare}"[:128]


def _read_ca_bundle(path: str) -> str:
    """A regular file of at most 1 MiB, read with that bound (``/dev/zero`` or a FIFO
    would otherwise be read until memory runs out)."""
    from smtpwatch.cli.file_input import MAX_CA_BUNDLE_BYTES, read_bounded

    data = read_bounded(path, limit=MAX_CA_BUNDLE_BYTES, label="--ca-bundle", regular_only=True)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"--ca-bundle: {path} is not a PEM text file") from None
