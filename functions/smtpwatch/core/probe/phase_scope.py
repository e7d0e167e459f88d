"""Each phase of a probe timed, and what goes wrong in it mapped onto an error class.

``with run.phase(p):`` marks ``p`` reached, times it and sets ``ok`` on a normal exit;
an smtplib, ssl, socket or DNS exception raised inside becomes the ``ProbeError`` that
``probe_error_for`` picks for that phase (the one exception table of the probe). The
environment's ``phase_hook``, if any, sees each phase start and end (X-Ray, on Lambda).
"""

from __future__ import annotations

import smtplib
import ssl

from smtpwatch.core.errors import (
    AuthFailedError,
    BannerError,
    DnsError,
    EhloError,
    ProbeError,
    ProbeTimeoutError,
    ProtocolError,
    StartTlsError,
    TlsHandshakeError,
    UnreachableError,
)
from smtpwatch.core.kinds import Phase
from smtpwatch.core.smtp_client import as_bytes, enhanced_code, reply_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from smtpwatch.core.deadline import Deadline
    from smtpwatch.core.probe.dialogue import ProbeRun

__all__ = ["DNS_TIMEOUT_SLACK_S", "PHASE_ERROR", "PhaseRecord", "PhaseScope", "probe_error_for"]

# Which failure class a phase's generic trouble (a close, a bad reply, a socket
# error) belongs to.
PHASE_ERROR: dict[Phase, type[ProbeError]] = {
    Phase.DNS: DnsError,
    Phase.CONNECT: UnreachableError,
    Phase.BANNER: BannerError,
    Phase.EHLO: EhloError,
    Phase.STARTTLS: StartTlsError,
    Phase.TLS: TlsHandshakeError,
    Phase.EHLO_TLS: EhloError,
    Phase.AUTH: AuthFailedError,
    Phase.QUIT: ProtocolError,
}

# The resolver may give up a hair before the deadline itself: a DNS timeout with less
# than this left is the probe's timeout, not a DNS failure.
DNS_TIMEOUT_SLACK_S = 0.1


def probe_error_for(err: Exception, phase: Phase, *, deadline: Deadline) -> ProbeError | None:
    """The failure class of an smtplib/ssl/socket/DNS exception raised in ``phase``;
    None for any other exception (a bug in smtpwatch, reported as ``internal``)."""
    if phase is Phase.DNS:
        dns_error = _dns_error(err, deadline)
        if dns_error is not None:
            return dns_error
    cls = PHASE_ERROR[phase]
    if isinstance(err, TimeoutError):
        return ProbeTimeoutError(
            f"no answer within the deadline of {deadline.timeout_s:g} s", phase=phase
        )
    if isinstance(err, smtplib.SMTPResponseException):
        text = reply_text(as_bytes(err.smtp_error))
        return cls(
            f"{err.smtp_code} {text}",
            phase=phase,
            smtp_code=err.smtp_code,
            enhanced_code=enhanced_code(text),
        )
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return cls(f"{err} during {phase.value}", phase=phase)
    if isinstance(err, ssl.SSLError):
        reason = err.reason or err.strerror or str(err)
        if phase is Phase.TLS:
            return TlsHandshakeError(f"TLS handshake failed: {reason}", phase=phase)
        return cls(f"TLS error during {phase.value}: {reason}", phase=phase)
    if isinstance(err, (ConnectionError, EOFError)):
        return cls(f"connection lost during {phase.value}", phase=phase)
    if isinstance(err, OSError):
        # smtplib.SMTPException is an OSError too: any other smtplib error lands here.
        return cls(f"{err.strerror or type(err).__name__} during {phase.value}", phase=phase)
    return None


def _dns_error(err: Exception, deadline: Deadline) -> ProbeError | None:
    # Imported here: only a failed lookup needs the resolver's error classes.
    from smtpwatch.core.resolve import DnsLookupError, DnsTimeoutError

    if isinstance(err, DnsTimeoutError):
        # Out of time → timeout in dns; nameservers silent while time is left → dns.
        if deadline.remaining() < DNS_TIMEOUT_SLACK_S:
            return ProbeTimeoutError(f"DNS: {err}", phase=Phase.DNS)
        return DnsError(str(err), phase=Phase.DNS)
    if isinstance(err, DnsLookupError):
        return DnsError(str(err), phase=Phase.DNS)
    return None


class PhaseRecord:
    """What one phase of a running probe has come to (mutable, so a plain class)."""

    __slots__ = ("reached", "ok", "ms", "detail")  # noqa: RUF023

    def __init__(self) -> None:
        self.reached = False
        self.ok = False
        self.ms: float | None = None
        self.detail: str | None = None


class PhaseScope:
    """``with run.phase(p):`` — marks ``p`` reached, times it, sets ``ok`` on a normal
    exit, and turns any smtplib/ssl/socket/DNS exception into the phase's ProbeError;
    the environment's ``phase_hook`` is told of the start and of the end with that error.
    (A class, not @contextmanager: it runs eight times per probe.)"""

    __slots__ = ("end", "phase", "record", "run", "start")

    def __init__(self, run: ProbeRun, phase: Phase) -> None:
        self.run = run
        self.phase = phase
        self.record = run.phases[phase]
        self.start = 0.0
        self.end: Callable[[BaseException | None], None] | None = None

    def __enter__(self) -> PhaseRecord:
        run, phase, record = self.run, self.phase, self.record
        record.reached = True
        record.ok = False
        run.current = phase
        if run.client is not None:
            run.client.phase = phase
        self.start = run.clock()
        if run.deadline.expired():
            record.ms = 0.0
            run.deadline.check(phase)
        hook = run.env.phase_hook
        if hook is not None:
            self.end = hook(phase.value)
        return record

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        record = self.record
        record.ms = (record.ms or 0.0) + (self.run.clock() - self.start) * 1000.0
        mapped: ProbeError | None = None
        if exc is None:
            record.ok = True
        elif isinstance(exc, ProbeError):
            if exc.phase is None:
                exc.phase = self.phase
        elif isinstance(exc, Exception):
            mapped = probe_error_for(exc, self.phase, deadline=self.run.deadline)
        end = self.end
        if end is not None:
            self.end = None
            end(exc if mapped is None else mapped)
        if mapped is not None:
            raise mapped from None
