"""What a finished probe run found, as one ``ProbeResult``.

The status follows from the error and the warnings: ``unknown`` for a bug in
smtpwatch, ``critical`` for a failure of the target, ``warning``, else ``ok``.
"""

from __future__ import annotations

import datetime as dt

from smtpwatch.core.kinds import ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.probe.check_limits import critical_threshold
from smtpwatch.core.result import (
    AddressInfo,
    AuthInfo,
    ErrorInfo,
    PhaseResult,
    ProbeResult,
    ServerInfo,
    WarningInfo,
)
from smtpwatch.core.safe_text import one_line

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from smtpwatch.core.errors import ProbeError
    from smtpwatch.core.probe.dialogue import ProbeRun
    from smtpwatch.core.server_text import ServerTextGuard

__all__ = ["crash_info", "error_info", "probe_result"]


def error_info(err: ProbeError, guard: ServerTextGuard) -> ErrorInfo:
    """The result's error for a failure of the target."""
    return ErrorInfo(
        kind=err.error_kind,
        phase=err.phase,
        message=one_line(guard.clean(err.message)),
        smtp_code=err.smtp_code,
        enhanced_code=err.enhanced_code,
    )


def crash_info(err: Exception, phase: Phase | None, guard: ServerTextGuard) -> ErrorInfo:
    """The result's error for a bug in smtpwatch (kind ``internal``) during ``phase``."""
    return ErrorInfo(
        kind=ErrorKind.INTERNAL,
        phase=phase,
        message=one_line(guard.clean(f"probe crashed: {type(err).__name__}: {err}")),
    )


def probe_result(run: ProbeRun, error: ErrorInfo | None, *, crashed: bool) -> ProbeResult:
    """The result of ``run``, ended by ``error`` (None: the dialogue went through);
    a ``slow`` warning is added here, as the total time is known only now, and a
    check's critical thresholds (``run.limits``) may make an error of a passed run."""
    target = run.target
    total_ms = (run.clock() - run.t0) * 1000.0
    warn_ms = target.warn_ms
    # QUIT is detail, never a verdict: a server slow to say goodbye is not a slow server.
    took_ms = total_ms - (run.phases[Phase.QUIT].ms or 0.0)
    if error is None and warn_ms is not None and took_ms > warn_ms:
        run.warnings.append(
            WarningInfo(WarningKind.SLOW, f"probe took {took_ms:.0f} ms (warn_ms {warn_ms})")
        )
    if error is None and not crashed:
        over = critical_threshold(run.limits, took_ms=took_ms, tls=run.tls, warnings=run.warnings)
        if over is not None:
            error = error_info(over, run.guard)
    if crashed:
        status = Status.UNKNOWN
    elif error is not None:
        status = Status.CRITICAL
    elif run.warnings:
        status = Status.WARNING
    else:
        status = Status.OK
    address = run.address
    return ProbeResult(
        target_id=target.target_id,
        started_at=_started_at(run.started),
        status=status,
        host=target.host,
        port=run.port,
        encryption=target.encryption,
        error=error,
        warnings=tuple(run.warnings),
        phases=tuple(
            PhaseResult(p, r.reached, r.ok, r.ms, r.detail) for p, r in run.phases.items()
        ),
        address=AddressInfo(
            ip=None if address is None else address.ip,
            family=None if address is None else address.family,
            port=run.port,
            source=run.source,
            attempts=tuple(run.attempts),
        ),
        tls=run.tls,
        auth=_auth_info(run),
        server=ServerInfo(banner=run.banner, extensions=run.extensions),
        total_ms=total_ms,
        location=run.env.location,
    )


def _started_at(started: dt.datetime) -> str:
    t = started.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _auth_info(run: ProbeRun) -> AuthInfo | None:
    if not run.target.login:
        return None
    return AuthInfo(
        mechanism=run.auth_mechanism,
        tried=tuple(run.auth_tried),
        over_tls=run.tls_active if run.phases[Phase.AUTH].reached else None,
        token_ms=None if run.tokens is None else run.tokens.ms,
    )
