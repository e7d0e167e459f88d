"""SMTP AUTH with an OAuth 2.0 access token: ``XOAUTH2`` and ``OAUTHBEARER`` (RFC 7628).

``oauth_exchange`` sends the initial response and, on a 334 carrying the server's JSON
error challenge, answers with the dummy response so the dialogue ends with the server's
final reply; the challenge's ``status`` and ``scope`` are kept for the failure message.
``ProbeTokens`` hands a probe its token within the probe's deadline and times it.
"""

from __future__ import annotations

import base64
import binascii

from smtpwatch.core.errors import OAuthTokenError, ProbeTimeoutError
from smtpwatch.core.kinds import Phase

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    import smtplib
    from collections.abc import Callable
    from typing import Protocol

    from smtpwatch.core.deadline import Deadline
    from smtpwatch.core.server_text import ServerTextGuard

    class TokenSource(Protocol):
        """Where a probe's access token comes from (``core/oauth_token.py``)."""

        can_refresh: bool

        def get(self, *, timeout: float, refresh: bool) -> tuple[str, bool]:
            """``(token, fetched from the provider now)``; raises ``OAuthTokenError``."""
            ...

        def secrets(self) -> tuple[str, ...]:
            """What the guard must mask besides the token (the client secret)."""
            ...


__all__ = ["OAUTH_MECHANISMS", "ProbeTokens", "initial_response", "oauth_exchange"]

OAUTH_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
# The client's answer to the error challenge: XOAUTH2 an empty line, OAUTHBEARER %x01.
_DUMMY = {"XOAUTH2": "", "OAUTHBEARER": base64.b64encode(b"\x01").decode("ascii")}
_MAX_CHALLENGE = 4096  # bytes of decoded JSON looked at


def initial_response(mechanism: str, user: str, token: str) -> str:
    """The base64 initial client response of ``mechanism`` for ``user`` and ``token``."""
    if mechanism == "XOAUTH2":
        text = f"user={user}\x01auth=Bearer {token}\x01\x01"
    else:  # OAUTHBEARER: a GS2 header naming the user (RFC 5801 saslname escaping)
        name = user.replace("=", "=3D").replace(",", "=2C")
        text = f"n,a={name},\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def oauth_exchange(
    client: smtplib.SMTP, mechanism: str, user: str, token: str, guard: ServerTextGuard
) -> tuple[int, bytes, str]:
    """``(final code, its reply, note)``: ``note`` is the error challenge's
    ``status``/``scope`` ("" when the server sent none)."""
    code, resp = client.docmd("AUTH", f"{mechanism} {initial_response(mechanism, user, token)}")
    note = ""
    if code == 334:
        note = challenge_note(resp, guard)
        code, resp = client.docmd(_DUMMY[mechanism])
    return code, resp, note


def challenge_note(resp: bytes, guard: ServerTextGuard) -> str:
    """The ``status`` and ``scope`` of an RFC 7628 error challenge, as words."""
    import json  # only a failed OAuth login needs it

    try:
        data = base64.b64decode(resp.strip()[: _MAX_CHALLENGE * 2], validate=True)
        doc = json.loads(data[:_MAX_CHALLENGE].decode("utf-8"))
    except (binascii.Error, ValueError):
        return "(the server's challenge is not base64 JSON)"
    if not isinstance(doc, dict):
        return ""
    parts = [
        f"{key} {guard.clean(str(doc[key]))[:120]}"
        for key in ("status", "scope")
        if isinstance(doc.get(key), str | int)
    ]
    return ", ".join(parts)


class ProbeTokens:
    """A probe's access token: fetched within the deadline, masked from the moment it
    is known; ``ms`` is the time spent at the provider (None: none was asked)."""

    def __init__(
        self,
        source: TokenSource,
        deadline: Deadline,
        guard: ServerTextGuard,
        clock: Callable[[], float],
    ) -> None:
        self.source = source
        self.deadline = deadline
        self.guard = guard
        self.clock = clock
        self.ms: float | None = None
        self.fetched = False  # fetched from the provider during this probe

    def __repr__(self) -> str:
        return "ProbeTokens(***)"

    def get(self, *, refresh: bool = False) -> str:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise ProbeTimeoutError(
                f"no time left to get an access token (deadline {self.deadline.timeout_s:g} s)",
                phase=Phase.AUTH,
            )
        start = self.clock()
        try:
            token, from_provider = self.source.get(timeout=remaining, refresh=refresh)
        except OAuthTokenError:
            self.ms = (self.ms or 0.0) + (self.clock() - start) * 1000.0
            self.guard.add_secrets(self.source.secrets())  # an assertion sent just now
            raise
        if from_provider:
            self.ms = (self.ms or 0.0) + (self.clock() - start) * 1000.0
            self.fetched = True
        self.guard.add_secrets((token, *self.source.secrets()))  # a rotated refresh token
        return token

    @property
    def may_refetch(self) -> bool:
        """A token the server rejected may have been revoked: fetched again once,
        unless this probe already has it fresh from the provider."""
        return self.source.can_refresh and not self.fetched
