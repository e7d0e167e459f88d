"""Probing for a check: the password, the probe call, and the results that stand in
for a probe that cannot run (``config``) or that crashed (``unknown``).

``probe_with_secret`` resolves the password, probes, and after ``auth_failed`` fetches
the secret once more and probes again if it was rotated, masking both passwords.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from smtpwatch.core.errors import SecretError
from smtpwatch.core.kinds import ErrorKind, Status
from smtpwatch.core.result import ErrorInfo, ProbeResult
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.ports import SecretResolver

if TYPE_CHECKING:
    from smtpwatch.core.oauth_sasl import TokenSource
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.core.target import Target

__all__ = [
    "ProbeFn",
    "SecretMaskingProbe",
    "config_result",
    "location_of",
    "probe_once",
    "probe_with_secret",
]

log = logging.getLogger("smtpwatch.check")

ProbeFn = Callable[["Target", str | None], ProbeResult]
"""``probe_fn(target, password) -> ProbeResult``; ``smtpwatch.probe`` bound to an env.
A ``SecretMaskingProbe`` also takes ``mask=`` (older passwords to keep out of the
result); any other probe function is called with the two arguments only."""


class SecretMaskingProbe:
    """``smtpwatch.probe`` bound to ``env`` (None: the process-wide environment), as a
    ``ProbeFn`` that also takes ``mask``: the re-probe after a rotation passes the old
    password, which the probe then masks in server text like the new one."""

    def __init__(self, env: ProbeEnvironment | None = None) -> None:
        self.env = env

    def __call__(
        self,
        target: Target,
        password: str | None,
        *,
        mask: tuple[str, ...] = (),
        tokens: TokenSource | None = None,
    ) -> ProbeResult:
        from smtpwatch.core.probe import probe

        return probe(target, password=password, mask=mask, env=self.env, tokens=tokens)

    @property
    def location(self) -> str:
        """Where its probes run (the environment's location)."""
        from smtpwatch.core.probe import default_environment

        return (self.env or default_environment()).location


def config_result(
    target_id: str,
    host: str,
    message: str,
    *,
    now: datetime,
    port: int | None = None,
    encryption: str = "",
    location: str = "",
) -> ProbeResult:
    """A ``critical`` result of kind ``config`` in no phase, for a target that cannot be
    probed as configured (no password, a broken item); ``message`` is kept as given."""
    return _error_result(
        Status.CRITICAL, ErrorKind.CONFIG, message, target_id, host, now, port, encryption
    ).replace(location=location)


def probe_with_secret(
    target: Target,
    secrets: SecretResolver | None,
    probe_fn: ProbeFn,
    now: Callable[[], datetime],
) -> tuple[str | None, tuple[str, ...], ProbeResult]:
    """``(password, older passwords to mask, result)``: a secret that cannot be resolved
    is a ``config`` result, not a crash."""
    if target.login and target.token_ref:
        return None, (), _probe_with_token(target, target.token_ref, secrets, probe_fn, now)
    password: str | None = None
    if target.login and target.password_ref:
        if secrets is None:
            return None, (), _secret_problem(target, probe_fn, now, "no secret store configured")
        try:
            password = secrets.resolve(target.password_ref, host=target.host)
        except SecretError as exc:
            return None, (), _secret_problem(target, probe_fn, now, one_line(str(exc)))
    result = probe_once(target, password, probe_fn, now)
    if (
        password is not None
        and secrets is not None
        and target.password_ref
        and result.error is not None
        and result.error.kind is ErrorKind.AUTH_FAILED
    ):
        # The password may have been rotated since it was cached: fetch it once more.
        try:
            fresh = secrets.resolve(target.password_ref, host=target.host, refresh=True)
        except SecretError:
            return password, (), result
        if fresh != password:
            old = (password,)
            password = fresh
            result = probe_once(target, password, probe_fn, now, old)
            return password, old, result
    return password, (), result


def _probe_with_token(
    target: Target,
    ref: str,
    secrets: SecretResolver | None,
    probe_fn: ProbeFn,
    now: Callable[[], datetime],
) -> ProbeResult:
    """A login with an OAuth 2.0 token source: the secret names the token endpoint,
    the client and the hosts; the token itself is fetched inside the probe, within its
    deadline (a token the server rejects is fetched once more there)."""
    if secrets is None:
        return _secret_problem(target, probe_fn, now, "no secret store configured", ref)
    if not isinstance(probe_fn, SecretMaskingProbe):
        return _secret_problem(target, probe_fn, now, "this probe cannot log in with a token", ref)
    from smtpwatch.core.oauth_token import token_source_of_secret

    try:
        source = token_source_of_secret(secrets.resolve(ref, host=target.host), ref)
    except SecretError as exc:
        return _secret_problem(target, probe_fn, now, one_line(str(exc)), ref)
    try:
        return probe_fn(target, None, tokens=source)
    except Exception as exc:  # a bug of ours: masked like server text
        guard = ServerTextGuard(source.secrets())
        text = one_line(guard.clean(f"probe crashed: {type(exc).__name__}: {exc}"))
        log.error("probe crashed: %s", text, extra={"target_id": target.target_id})
        return _error_result(
            Status.UNKNOWN,
            ErrorKind.INTERNAL,
            text,
            target.target_id,
            target.host,
            now(),
            target.effective_port,
            target.encryption,
        ).replace(location=location_of(probe_fn))


def probe_once(
    target: Target,
    password: str | None,
    probe_fn: ProbeFn,
    now: Callable[[], datetime],
    old: tuple[str, ...] = (),
) -> ProbeResult:
    """One probe; an exception from it is an ``unknown`` result (the monitor's fault,
    not the target's), its text masked like server text."""
    try:
        if old and isinstance(probe_fn, SecretMaskingProbe):
            return probe_fn(target, password, mask=old)
        return probe_fn(target, password)
    except Exception as exc:  # a bug of ours, not a failure of the target
        # Mask with the probe's own guard before anything reshapes the text (whitespace
        # folding, the length cut would leave a password with spaces, or its first
        # part, readable), and log the traceback as masked text: log.exception would
        # print the raw message.
        guard = ServerTextGuard((password, *old), username=target.username)
        text = one_line(guard.clean(f"probe crashed: {type(exc).__name__}: {exc}"))
        trace = guard.clean("".join(traceback.format_exception(exc)), keep_newlines=True)
        log.error("probe crashed\n%s", trace, extra={"target_id": target.target_id})
        return _error_result(
            Status.UNKNOWN,
            ErrorKind.INTERNAL,
            text,
            target.target_id,
            target.host,
            now(),
            target.effective_port,
            target.encryption,
        ).replace(location=location_of(probe_fn))


def location_of(probe_fn: ProbeFn) -> str:
    """Where ``probe_fn`` probes from, for the results that stand in for its probes
    ("" for a probe function that does not say)."""
    return str(getattr(probe_fn, "location", ""))


def _secret_problem(
    target: Target,
    probe_fn: ProbeFn,
    now: Callable[[], datetime],
    message: str,
    ref: str | None = None,
) -> ProbeResult:
    field = "password_ref" if ref is None else "token_ref"
    return config_result(
        target.target_id,
        target.host,
        f"{field}: {message}",
        now=now(),
        port=target.effective_port,
        encryption=target.encryption,
        location=location_of(probe_fn),
    )


def _error_result(
    status: Status,
    kind: ErrorKind,
    message: str,
    target_id: str,
    host: str,
    now: datetime,
    port: int | None,
    encryption: str,
) -> ProbeResult:
    return ProbeResult(
        target_id=target_id,
        started_at=format_ts(now),
        status=status,
        host=host,
        port=port,
        encryption=encryption,
        error=ErrorInfo(kind, None, message),
    )
