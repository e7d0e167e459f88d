"""``smtpwatch probe``'s OAuth 2.0 login: a ready token (``--oauth-token-env VAR``) or a
token source document (``--oauth-secret-file PATH``, the secret store's JSON).

Imported only when one of the two options is given: the token client stays off the
start path of every other probe.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from smtpwatch.cli.main import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from smtpwatch.core.oauth_sasl import TokenSource
    from smtpwatch.core.target import Target

__all__ = ["oauth_token_ref", "token_source"]

_ID_CHARS = re.compile(r"[^A-Za-z0-9._@-]+")


def oauth_token_ref(args: argparse.Namespace) -> str | None:
    """The ``token_ref`` the options stand for (None: no OAuth option given)."""
    given = [o for o in ("oauth_token_env", "oauth_secret_file") if getattr(args, o)]
    if not given:
        return None
    if len(given) > 1:
        raise UsageError("give either --oauth-token-env or --oauth-secret-file, not both")
    if args.password_env is not None:
        raise UsageError("--password-env: give a password or an OAuth token source, not both")
    if args.user is None:
        raise UsageError(f"--{given[0].replace('_', '-')}: needs --username (the mailbox)")
    if args.oauth_token_env:
        return f"env:{args.oauth_token_env.strip()}"
    name = _ID_CHARS.sub("-", Path(args.oauth_secret_file).name).strip("-.") or "oauth"
    return f"file:{name[:100]}"


def token_source(
    args: argparse.Namespace, environ: Mapping[str, str], target: Target
) -> TokenSource:
    """The token source of the options, bound to ``target``'s host."""
    if args.oauth_token_env:
        from smtpwatch.core.oauth_token import ReadyToken

        var = args.oauth_token_env.strip()
        token = environ.get(var, "").strip()
        if not token:
            raise UsageError(f"--oauth-token-env: environment variable {var} is not set or empty")
        return ReadyToken(token)
    return _from_file(Path(args.oauth_secret_file), target)


def _from_file(path: Path, target: Target) -> TokenSource:
    from smtpwatch.core.errors import SecretError
    from smtpwatch.core.oauth_token import token_source_of_secret
    from smtpwatch.local.secrets import host_allowed, parse_document

    where = f"--oauth-secret-file {path}"
    try:
        st = path.stat()
        if stat.S_IMODE(st.st_mode) & 0o077 or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            raise UsageError(f"{where}: other users may read it (chmod 600 {path})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read ({exc.strerror})") from None
    try:
        document, hosts = parse_document(text, where)
        if not host_allowed(hosts, target.host):
            raise UsageError(
                f"{where}: its token may only be sent to {', '.join(hosts)}, not to "
                f"{target.host}: refusing to log in"
            )
        return token_source_of_secret(document, where)
    except SecretError as exc:
        raise UsageError(str(exc)) from None
