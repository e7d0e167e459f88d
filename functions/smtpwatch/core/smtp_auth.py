"""SMTP AUTH for the probe: one mechanism at a time, in the target's order.

``try_mechanisms`` drives smtplib's mechanisms one AUTH command at a time and decides
what each reply means (235 logged in; 504, 534, 538, 454 try the next; anything else
fails the login). ``login_round`` adds the policy around it (``SIMPLE``, credentials
withheld without TLS, the STARTTLS fallback); ``no_login_error`` words the failure.
"""

from __future__ import annotations

import binascii
import smtplib

from smtpwatch.core.errors import (
    AuthFailedError,
    AuthUnsupportedError,
    ProbeConfigError,
    ProbeError,
    ProtocolError,
)
from smtpwatch.core.kinds import Phase
from smtpwatch.core.oauth_sasl import OAUTH_MECHANISMS, oauth_exchange
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.smtp_client import as_bytes, enhanced_code, reply_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from smtpwatch.core.oauth_sasl import ProbeTokens
    from smtpwatch.core.target import Target

__all__ = [
    "ABANDON_CODES",
    "MECHANISMS",
    "SIMPLE",
    "AuthRound",
    "login_round",
    "no_login_error",
    "offered_mechanisms",
    "try_mechanisms",
]

ABANDON_CODES = frozenset({504, 534, 538, 454})
MECHANISMS = ("CRAM-MD5", "LOGIN", "PLAIN")  # what smtplib implements
SIMPLE = "SIMPLE"  # the spec's "Simple": no AUTH offered → the login step passes
# smtplib's implementation of each mechanism (methods of smtplib.SMTP)
_IMPLEMENTATIONS = {"CRAM-MD5": "auth_cram_md5", "LOGIN": "auth_login", "PLAIN": "auth_plain"}


def offered_mechanisms(client: smtplib.SMTP) -> tuple[str, ...] | None:
    """The AUTH mechanisms of the last EHLO, upper case; None if AUTH is not offered."""
    if not client.has_extn("auth"):
        return None
    return tuple(client.esmtp_features.get("auth", "").upper().split())


class AuthRound:
    """The outcome of one pass over the mechanisms on one connection state."""

    # A plain class, not a dataclass: no dataclasses import on the CLI's path.
    def __init__(self) -> None:
        self.mechanism: str | None = None  # the one that logged in
        self.tried: list[str] = []
        self.last_code: int | None = None  # of the last abandoned mechanism
        self.last_text = ""
        self.all_unknown = True  # every abandoned mechanism got 504


def try_mechanisms(
    client: smtplib.SMTP,
    methods: tuple[str, ...],
    offered: tuple[str, ...],
    *,
    username: str,
    password: str,
    guard: ServerTextGuard,
    tried: list[str],
    tokens: ProbeTokens | None = None,
) -> AuthRound:
    """Try each of ``methods`` that the server offers, in order.

    Returns the round (``mechanism`` set on success); raises ``AuthFailedError`` on a clear
    rejection or a hang-up and ``ProtocolError`` on a garbled exchange. Every mechanism sent is
    appended to ``tried`` as it is sent, so the list is complete even after a raise.
    With ``tokens`` only the OAuth mechanisms are tried (the token is no password).
    """
    result = AuthRound()
    for mechanism in methods:
        usable = tokens is not None if mechanism in OAUTH_MECHANISMS else not tokens
        if mechanism not in offered or not usable:
            continue
        # the token before the command: a mechanism is "tried" once it is sent
        token = "" if tokens is None else tokens.get()
        result.tried.append(mechanism)
        tried.append(mechanism)
        client.user, client.password = username, password
        note = ""
        try:
            if tokens is not None:
                code, resp, note = _oauth_login(client, mechanism, username, token, tokens, guard)
            else:
                code, resp = client.auth(mechanism, getattr(client, _IMPLEMENTATIONS[mechanism]))
        except smtplib.SMTPAuthenticationError as err:
            code, resp = err.smtp_code, as_bytes(err.smtp_error)
        except UnicodeEncodeError:
            # smtplib encodes credentials as ASCII. The exception text names the
            # offending character and its position: never shown.
            raise ProbeConfigError(
                f"AUTH {mechanism}: the username or password has non-ASCII characters,"
                " which smtplib cannot send",
                phase=Phase.AUTH,
            ) from None
        except smtplib.SMTPServerDisconnected as err:
            # A hang-up fails the phase it happens in, as everywhere in the dialogue
            # (servers drop the line after a bad login); it is no garbled reply.
            raise AuthFailedError(
                f"AUTH {mechanism}: {guard.clean(str(err))[:200]}", phase=Phase.AUTH
            ) from None
        except (smtplib.SMTPException, binascii.Error, ValueError) as err:
            # a challenge that is not base64, an endless chain of 334 challenges...
            raise ProtocolError(
                f"AUTH {mechanism}: {guard.clean(str(err))[:200]}", phase=Phase.AUTH
            ) from None
        finally:
            client.password = ""
        text = guard.clean(reply_text(resp))
        if code == 235:
            result.mechanism = mechanism
            return result
        if code in ABANDON_CODES:
            result.last_code, result.last_text = code, text
            result.all_unknown = result.all_unknown and code == 504
            continue
        note = f" (the server's challenge: {note})" if note else ""
        raise AuthFailedError(
            f"AUTH {mechanism} rejected: {code} {text}".rstrip() + note,
            phase=Phase.AUTH,
            smtp_code=code,
            enhanced_code=enhanced_code(text),
        )
    return result


def _oauth_login(
    client: smtplib.SMTP,
    mechanism: str,
    user: str,
    token: str,
    tokens: ProbeTokens,
    guard: ServerTextGuard,
) -> tuple[int, bytes, str]:
    """One OAuth login; a token the server rejects is fetched once more, bypassing the
    cache (it may have been revoked), and sent again on the same connection."""
    code, resp, note = oauth_exchange(client, mechanism, user, token, guard)
    if code != 235 and code not in ABANDON_CODES and tokens.may_refetch:
        fresh = tokens.get(refresh=True)
        code, resp, note = oauth_exchange(client, mechanism, user, fresh, guard)
    return code, resp, note


def login_round(
    client: smtplib.SMTP,
    target: Target,
    password: str,
    *,
    guard: ServerTextGuard,
    tls_active: bool,
    tried: list[str],
    tokens: ProbeTokens | None = None,
) -> AuthRound | None:
    """One pass over ``target``'s methods on the connection as it is now.

    None when the login step passes without AUTH (``SIMPLE``); a round with
    ``mechanism`` set when logged in; else the round, whose ``tried`` is empty when
    AUTH may appear after STARTTLS (the fallback). Raises ``AuthUnsupportedError`` when
    no AUTH can be used here, and what ``try_mechanisms`` raises."""
    offered = offered_mechanisms(client)
    real = [m for m in target.auth_methods if m != SIMPLE]
    if offered is None or not any(m in offered for m in real):
        # SIMPLE passes only when the server offers no AUTH at all; AUTH
        # offered with none of the allowed mechanisms is still auth_unsupported.
        if offered is None and SIMPLE in target.auth_methods:
            return None
        if offered is None:
            if not tls_active and client.has_extn("starttls"):
                return AuthRound()  # AUTH may appear after STARTTLS: the fallback
            raise AuthUnsupportedError("server offers no AUTH")
    if not tls_active and not target.allow_plaintext_auth:
        raise AuthUnsupportedError("credentials withheld: no TLS")
    assert target.username  # the probe checks it before the dialogue
    return try_mechanisms(
        client,
        target.auth_methods,
        offered or (),
        username=target.username,
        password=password,
        guard=guard,
        tried=tried,
        tokens=tokens,
    )


def no_login_error(
    last: AuthRound, offered: tuple[str, ...] | None, methods: tuple[str, ...]
) -> ProbeError:
    """The error when the last round logged in with none of ``methods``."""
    if offered is None:
        return AuthUnsupportedError("server offers no AUTH")
    if not last.tried:
        allowed = ", ".join(m for m in methods if m != SIMPLE)
        return AuthUnsupportedError(
            f"server offers AUTH {' '.join(offered) or '(none)'}; allowed: {allowed}"
        )
    cls: type[ProbeError] = AuthUnsupportedError if last.all_unknown else AuthFailedError
    text = last.last_text
    return cls(
        f"no mechanism usable: {last.last_code} {text}".rstrip(),
        smtp_code=last.last_code,
        enhanced_code=enhanced_code(text),
    )
